"""Background processes the lab owns: start detached, identify by pid + start time, stop by id."""

from __future__ import annotations

import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path


START_ATTEMPTS = 4  # tries of a stand-in whose port another process took between pick and listen
PORT_IN_USE = b"Address already in use"
PICK_FROM = 20000  # lowest port free_ports picks; below it live the well-known services' ports


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port on `address` that nothing is bound to right now."""
    return free_ports(1, address)[0]


def free_ports(count: int, address: str = "127.0.0.1") -> list[int]:
    """`count` distinct TCP ports on `address` that nothing is bound to right now, below the kernel's
    ephemeral range where one is left (so no outgoing connection's source port takes one meanwhile).
    Each stays bound until all are picked, so none repeats."""
    low = _ephemeral_low()
    held: list[socket.socket] = []
    try:
        while len(held) < count:
            s = socket.socket()
            held.append(s)
            try:
                s.bind((address, random.randrange(PICK_FROM, low) if low - PICK_FROM > 4 * count else 0))
            except OSError:
                held.pop().close()
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return PICK_FROM


def start_time(pid: int) -> int | None:
    """The kernel's start time of `pid` (clock ticks since boot); None when no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def spawn(argv: list[str], log: Path, env: dict | None = None) -> dict:
    """Start `argv` in its own session, output to `log`; return its identity for the state file."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)
    return {"pid": proc.pid, "start_time": start_time(proc.pid), "argv0": argv[0], "log": str(log)}


def start_service(state, role: str, argv: list[str], log: Path, ready_url: str, env: dict | None = None) -> dict:
    """Spawn a stand-in, record it in the lab's state, and wait until `ready_url` answers.

    Raises RuntimeError naming the stand-in and its log when it exits or never answers."""
    ident = spawn(argv, log, env=env)
    state.record("process", role=role, **ident)
    if not wait_until(lambda: http_ok(ready_url) or not alive(ident), 60):
        raise RuntimeError(f"{role} did not answer on {ready_url}; see {log}")
    if not alive(ident):
        raise RuntimeError(f"{role} exited; see {log}")
    return ident


def start_on_free_ports(state, role: str, count: int, launch: Callable[[list[int]], tuple[list[str], str]],
                        log: Path, env: dict | None = None, address: str = "127.0.0.1") -> list[int]:
    """Start the stand-in `launch(ports)` describes ((argv, ready URL)) on `count` ports picked now; when it
    exits because one was taken before it listened (another lab, another process), pick again, up to
    START_ATTEMPTS times. Return the ports it listens on (on `address`)."""
    attempt = 1
    while True:
        ports = free_ports(count, address)
        argv, ready_url = launch(ports)
        start = log.stat().st_size if log.exists() else 0
        try:
            start_service(state, role, argv, log, ready_url, env=env)
            return ports
        except RuntimeError:
            if attempt == START_ATTEMPTS or PORT_IN_USE not in _read_from(log, start):
                raise
            attempt += 1


def _read_from(log: Path, offset: int) -> bytes:
    with log.open("rb") as f:
        f.seek(offset)
        return f.read()


def serve_directory(state, role: str, served: Path, address: str, log: Path, ready_path: str) -> str:
    """Serve `served` with Python's http.server on `address` (a lab bridge's gateway) as the stand-in `role`;
    return the base URL once `ready_path` under it answers."""
    def launch(ports: list[int]) -> tuple[list[str], str]:
        argv = [sys.executable, "-m", "http.server", str(ports[0]), "--bind", address, "--directory", str(served)]
        return argv, f"http://{address}:{ports[0]}/{ready_path}"

    port, = start_on_free_ports(state, f"{role} (http.server)", 1, launch, log, address=address)
    return f"http://{address}:{port}"


def alive(ident: dict) -> bool:
    """True while the recorded process (same pid AND same start time) runs and is not a zombie."""
    if start_time(ident["pid"]) != ident["start_time"]:
        return False
    try:
        return Path(f"/proc/{ident['pid']}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def terminate(ident: dict) -> None:
    """SIGTERM the recorded process if it still runs, without waiting (stop(..., terminated=True) waits)."""
    if alive(ident):
        os.kill(ident["pid"], signal.SIGTERM)


def stop(ident: dict, grace_s: float = 30.0, terminated: bool = False) -> None:
    """SIGTERM the recorded process (unless `terminated` already did), SIGKILL its process group after `grace_s`;
    no-op if it ended."""
    if not alive(ident):
        _reaped(ident["pid"])
        return
    pgid = ident["pid"]  # spawn() made it a session (and group) leader
    if not terminated:
        os.kill(ident["pid"], signal.SIGTERM)
    if not wait_until(lambda: not alive(ident) or _reaped(ident["pid"]), grace_s):
        os.killpg(pgid, signal.SIGKILL)
        wait_until(lambda: not alive(ident) or _reaped(ident["pid"]), 10)


def _reaped(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return False


def wait_until(ready: Callable[[], bool], timeout_s: float, every_s: float = 0.2) -> bool:
    """Poll `ready` until it is true or `timeout_s` passes; return whether it became true."""
    deadline = time.monotonic() + timeout_s
    while True:
        if ready():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(every_s)


LAB_TLS = ssl._create_unverified_context()  # only ever used for the lab's own stand-ins on 127.0.0.1


def http_ok(url: str) -> bool:
    """True when `url` (on 127.0.0.1) answers with a 2xx status; a lab's own self-signed TLS is accepted."""
    try:
        with urllib.request.urlopen(url, timeout=2, context=LAB_TLS) as resp:
            return 200 <= resp.status < 300
    except OSError:
        return False
