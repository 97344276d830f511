"""What the alert receiver acts through: Slurm on the head node it runs on (scontrol, sinfo) and the nodes' BMCs
(Redfish). Each is an interface, so tests use recording fakes; the BMC password is never put in a message."""

from __future__ import annotations

import base64
import json
import os
import ssl
import stat
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aifactory.node import redfish

# Slurm node states (sinfo %T, scontrol State=) of a node that runs no new job; a state may carry flags
# (`idle+drain`) and a suffix (`down*`: not responding).
OUT_STATES = frozenset({"down", "drain", "drained", "draining", "fail", "failing", "maint", "reboot_issued",
                        "reboot_requested", "future", "unknown"})
STATE_SUFFIXES = "*~#!%$@^-"
# Drained with no job left (a down node has none either): the node may be power-cycled.
IDLE_STATES = frozenset({"drained", "down"})
# community.general.redfish_command's command (aifactory.node.redfish.power_command) as a Redfish ResetType.
RESET_TYPES = {"PowerForceRestart": "ForceRestart"}
BMC_TIMEOUT = 30


class ActuatorError(Exception):
    """Slurm or a BMC refused or could not be reached; the message holds no secret."""


class Slurm(Protocol):
    def drain(self, node: str, reason: str) -> None: ...

    def states(self) -> dict[str, str]: ...


class Power(Protocol):
    def cycle(self, node: str) -> None: ...


def state_words(state: str) -> set[str]:
    """The words of a Slurm node state: `IDLE+DRAIN` and `down*` as {"idle", "drain"} and {"down"}."""
    return {word.strip(STATE_SUFFIXES) for word in state.lower().split("+") if word.strip(STATE_SUFFIXES)}


def is_out(state: str) -> bool:
    return bool(state_words(state) & OUT_STATES)


def is_idle_out(state: str) -> bool:
    """Drained with no job left, or down: nothing runs on the node."""
    words = state_words(state)
    return bool(words & IDLE_STATES) or words == {"idle", "drain"}


def parse_sinfo(text: str) -> dict[str, str]:
    """{node: state} of `sinfo --Node --noheader --format=%N|%T` (a node in two partitions is listed twice)."""
    states = {}
    for line in text.splitlines():
        name, sep, state = line.strip().partition("|")
        if sep and name:
            states[name] = state.strip()
    return states


Run = Callable[[list[str]], str]


def run_command(argv: list[str]) -> str:
    """argv's standard output; an ActuatorError with the first line of its error output when it fails."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ActuatorError(f"{argv[0]}: {err}") from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no error output"])[0]
        raise ActuatorError(f"{argv[0]} exited {done.returncode}: {first[:300]}")
    return done.stdout


@dataclass
class ScontrolSlurm:
    """Slurm through its commands on this head node."""

    run: Run = run_command

    def drain(self, node: str, reason: str) -> None:
        self.run(["scontrol", "update", f"nodename={node}", "state=drain", f"reason={reason}"])

    def states(self) -> dict[str, str]:
        return parse_sinfo(self.run(["sinfo", "--Node", "--noheader", "--format=%N|%T"]))


@dataclass(frozen=True)
class BmcCredentials:
    username: str
    password: str = field(repr=False)


def load_bmc_credentials(path: Path) -> BmcCredentials:
    """{"username", "password"} from a root-only file (a systemd credential is one); a ValueError naming the
    file, never its content, when it is readable by others or not of that shape."""
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot be read ({getattr(err, 'strerror', None) or type(err).__name__})") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"{path}: readable by others (mode {stat.S_IMODE(info.st_mode):o}): make it 0600 or 0400")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if not (isinstance(data, dict) and isinstance(data.get("username"), str) and isinstance(data.get("password"), str)
            and data["username"] and data["password"]):
        raise ValueError(f"{path}: not a JSON object with a non-empty username and password")
    return BmcCredentials(data["username"], data["password"])


Send = Callable[[urllib.request.Request, ssl.SSLContext], dict]


def https_json(request: urllib.request.Request, context: ssl.SSLContext) -> dict:
    with urllib.request.urlopen(request, context=context, timeout=BMC_TIMEOUT) as response:  # noqa: S310 - https only
        body = response.read(1 << 20)
    return json.loads(body) if body.strip() else {}


@dataclass
class RedfishPower:
    """A node's power cycle through its BMC's Redfish service: the BMC's only system (or `system_id`) is reset."""

    bmc_addresses: dict[str, str]
    credentials: BmcCredentials
    context: ssl.SSLContext
    system_id: str = ""
    send: Send = https_json

    def _request(self, url: str, body: dict | None = None) -> dict:
        token = base64.b64encode(f"{self.credentials.username}:{self.credentials.password}".encode()).decode()
        request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
                                         method="POST" if body is not None else "GET")
        try:
            return self.send(request, self.context)
        except urllib.error.HTTPError as err:
            raise ActuatorError(f"{url}: the BMC answered HTTP {err.code}") from None
        except (OSError, ValueError) as err:
            raise ActuatorError(f"{url}: {getattr(err, 'reason', None) or type(err).__name__}") from None

    def cycle(self, node: str) -> None:
        base = f"https://{self.bmc_addresses[node]}"
        members = self._request(f"{base}/redfish/v1/Systems").get("Members") or []
        uris = [m.get("@odata.id", "") for m in members if isinstance(m, dict)]
        chosen = [u for u in uris if u.endswith(f"/{self.system_id}")] if self.system_id else uris
        if len(chosen) != 1:
            raise ActuatorError(f"{base}: {len(chosen)} systems match (give the system id): nothing was reset")
        reset = RESET_TYPES[redfish.power_command({}, "restart")]
        self._request(f"{base}{chosen[0]}/Actions/ComputerSystem.Reset", {"ResetType": reset})


def bmc_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verifying the BMCs' certificates against `ca_file`, else the system's trust store."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def credentials_file(given: Path | None) -> Path | None:
    """The BMC credentials: the file given, else systemd's credential `bmc` ($CREDENTIALS_DIRECTORY/bmc)."""
    if given:
        return given
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    return Path(directory) / "bmc" if directory and (Path(directory) / "bmc").is_file() else None
