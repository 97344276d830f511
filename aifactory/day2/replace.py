"""Replace: a node whose tray or server was swapped is read, re-installed, brought up and returned to service.

`run_replace` does, for one node:

1. forget what the controller knew of the old machine: its cached facts (aifactory.node.bringup.forget_facts)
   and its SSH host key, by name and address, in the user's known_hosts and in the one its connection
   names (UserKnownHostsFile in the host overrides' ssh arguments, as the lab's do);
2. run `playbooks/replace.yml`: drain the node in Slurm, read the new hardware through the BMC
   (Redfish system inventory and firmware inventory, handed back with set_stats), boot it once from
   the network and power-cycle it, wait for its SSH port;
3. learn the new host key with ssh-keyscan, checked against `--host-key` (the public key read from
   the installer or the console) when given, trusted on first use otherwise and said so with its
   fingerprint, and write it to those known_hosts files;
4. bring only that node up (site.yml limited to it, every stage or --stages) and judge acceptance (the verdict must be `pass`,
   or incomplete of kernel-bound checks its host does not have the kernel for: aifactory.node.acceptance_gate);
5. resume it in Slurm (playbooks/rollout_resume.yml).

With monitoring enabled, the node is silenced in Alertmanager from before the drain until it is resumed or the
replacement stops (aifactory.monitoring.silences).

Every replacement is appended to a JSON record per site with the hardware read (serial, model,
firmware versions), the previous hardware of that node when there was one, the host key fingerprint
and how it was learned, and each step's outcome.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from aifactory.core.userstate import day2_record
from aifactory.day2.records import RecordError, ReplaceRecord, check_site, now, read_record, write_record
from aifactory.day2.rollout import RESUME_PLAYBOOK, uses_slurm
from aifactory.monitoring import silences
from aifactory.node import redfish
from aifactory.node.acceptance_gate import ended_well
from aifactory.node.bringup import PLAYBOOKS, BringupOptions, Runner, forget_facts, run_bringup
from aifactory.spec import Factory
from aifactory.spec.naming import ABSENT, bmc_host, is_marked

REPLACE_PLAYBOOK = PLAYBOOKS / "replace.yml"
HARDWARE_STATS_KEY = "aifactory_replace_hardware"
DRAIN_REASON = "aifactory replace"
DEFAULT_BOOT_TIMEOUT = 1800  # seconds for the network install and first boot
# Beyond the network install, what the node's silence allows for its bring-up and acceptance: an interrupted
# replacement's silence ends by itself at most this long after the install's worst case.
BRINGUP_SECONDS = 7200
KEYSCAN_TYPE = "ed25519"


class ReplaceError(Exception):
    """The replacement cannot start: an unknown or absent node, an unusable --host-key."""


class HostKeyMismatch(Exception):
    """The key the node presents is not the one given with --host-key."""


# --- hardware ------------------------------------------------------------------------------------------
def hardware_record(read: dict) -> dict:
    """Serial, maker, model, BIOS and firmware versions of the node, from what replace.yml hands back:
    {system: the properties of the node's system, firmware: {component: version}}, as the bmc role read
    them (aifactory.node.redfish)."""
    return redfish.hardware_record(read.get("system"), read.get("firmware"))


# --- SSH host keys -------------------------------------------------------------------------------------
def known_hosts_files(host_vars: dict, home: Path | None = None) -> list[Path]:
    """The known_hosts files a connection to the host uses: the one its ansible_ssh_common_args name
    (UserKnownHostsFile, the lab's), else the user's ~/.ssh/known_hosts."""
    named = re.findall(r"UserKnownHostsFile=(\S+)", str(host_vars.get("ansible_ssh_common_args") or ""))
    if named:
        return [Path(p) for p in named]
    return [(home or Path.home()) / ".ssh" / "known_hosts"]


def stale_key_files(files: list[Path], home: Path | None = None) -> list[Path]:
    """Where the old machine's host key is forgotten: the connection's known_hosts files and the user's."""
    return sorted({*files, (home or Path.home()) / ".ssh" / "known_hosts"})


def forget_host_key(files: list[Path], names: list[str]) -> list[str]:
    """Remove every key of these names and addresses (hashed entries too) with `ssh-keygen -R`; return
    the `file: name` entries removed."""
    removed = []
    for path in files:
        if not path.is_file():
            continue
        for name in names:
            done = subprocess.run(["ssh-keygen", "-R", name, "-f", str(path)], capture_output=True, text=True)
            if "updated" in done.stdout + done.stderr:
                removed.append(f"{path}: {name}")
        Path(f"{path}.old").unlink(missing_ok=True)  # ssh-keygen's backup would keep the old key
    return removed


def keyscan(address: str, timeout: int = 10) -> list[str]:
    """The node's public host key line(s) of KEYSCAN_TYPE, as `type base64` (ssh-keyscan)."""
    done = subprocess.run(["ssh-keyscan", "-T", str(timeout), "-t", KEYSCAN_TYPE, address],
                          capture_output=True, text=True, timeout=timeout + 30)
    keys = []
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and not line.startswith("#"):
            keys.append(f"{parts[1]} {parts[2]}")
    return keys


def public_key(text: str) -> str:
    """`type base64` of an OpenSSH public key (a .pub file's content); a ReplaceError otherwise."""
    parts = text.split()
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-")):
        raise ReplaceError("--host-key: not an OpenSSH public key (e.g. /etc/ssh/ssh_host_ed25519_key.pub)")
    return f"{parts[0]} {parts[1]}"


def fingerprint(key: str) -> str:
    done = subprocess.run(["ssh-keygen", "-lf", "-"], input=f"{key}\n", capture_output=True, text=True)
    return done.stdout.split()[1] if done.returncode == 0 and done.stdout.split() else "?"


def learn_host_key(address: str, files: list[Path], expected: str | None,
                   scan: Callable[[str], list[str]] = keyscan) -> dict:
    """Read the node's host key and write it to the known_hosts files. With `expected` (--host-key) the
    key the node presents must be that one (HostKeyMismatch otherwise); without it, the key is trusted
    on first use, as the record says."""
    keys = scan(address)
    if not keys:
        raise HostKeyMismatch(f"{address} presented no {KEYSCAN_TYPE} host key (ssh-keyscan)")
    if expected is not None and expected not in keys:
        raise HostKeyMismatch(f"{address} presents {fingerprint(keys[0])}, not the key given with --host-key "
                              f"({fingerprint(expected)}): nothing was trusted")
    key = expected or keys[0]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with path.open("a") as out:
            out.write(f"{address} {key}\n")
    return {"fingerprint": fingerprint(key), "learned": "checked against --host-key" if expected else
            "trusted on first use (ssh-keyscan); compare the fingerprint with the node's console"}


# --- the record ----------------------------------------------------------------------------------------
def record_path(site: str) -> Path:
    """The site's replace record in the user's state directory (`--record` names another)."""
    return day2_record(site, "replace")


def load_records(path: Path, f: Factory) -> list[dict]:
    """The site's replacements so far ([] when none), read back as strictly as the spec
    (aifactory.day2.records): typed, bounded, of this site and naming only its nodes."""
    try:
        record = read_record(path, ReplaceRecord, "replacement record")
        if record is None:
            return []
        check_site(path, "replacement record", record.site, f,
                   {f"replacements.{i}.node": [r.node] for i, r in enumerate(record.replacements)})
    except RecordError as err:
        raise ReplaceError(str(err)) from None
    return record.model_dump()["replacements"]


def save_records(path: Path, site: str, records: list[dict]) -> None:
    write_record(path, {"site": site, "replacements": records})


# --- the driver ----------------------------------------------------------------------------------------
@dataclass
class ReplaceOptions:
    node: str
    host_key: str | None = None  # `type base64` the node must present
    boot_timeout: int = DEFAULT_BOOT_TIMEOUT
    stages: list[str] | None = None  # of the node's bring-up; None: every stage
    bringup: BringupOptions = field(default_factory=BringupOptions)
    host_overrides: dict | None = None
    record: Path | None = None
    home: Path | None = None  # whose ~/.ssh/known_hosts (tests)


def check_node(f: Factory, options: ReplaceOptions) -> None:
    names = {n.name for n in f.nodes}
    if options.node not in names:
        raise ReplaceError(f"NODE {options.node!r}: no such compute node in {f.name} (e.g. {f.nodes[0].name})")
    if is_marked((options.host_overrides or {}).get(options.node), ABSENT):
        raise ReplaceError(f"NODE {options.node!r} is marked absent in the host overrides: take its "
                           f"{ABSENT} off once the new hardware is in")


def run_replace(f: Factory, options: ReplaceOptions, runner: Runner = run_bringup,
                scan: Callable[[str], list[str]] = keyscan, progress: TextIO = sys.stderr,
                silencer: silences.Silencer | None = None) -> dict:
    """Replace one node (module doc), silenced in Alertmanager while it is held (`silencer`: the site's by
    default); returns its record entry (outcome `in service`, or the step that failed or was interrupted)."""
    check_node(f, options)
    say = lambda text: print(text, file=progress, flush=True)  # noqa: E731
    node = next(n for n in f.nodes if n.name == options.node)
    host_vars = (options.host_overrides or {}).get(node.name) or {}
    address = str(host_vars.get("ansible_host") or node.address)
    path = options.record or record_path(f.name)
    records = load_records(path, f)
    previous = next((r.get("hardware") for r in reversed(records) if r.get("node") == node.name and r.get("hardware")), None)
    entry = {"node": node.name, "address": address, "started": now(), "outcome": "running", "steps": {},
             "hardware": None, "previous_hardware": previous, "host_key": None}
    records.append(entry)

    def step(name: str, outcome: str) -> None:
        entry["steps"][name] = outcome
        save_records(path, f.name, records)
        say(f"replace {node.name}: {name}: {outcome}")

    def stop(outcome: str) -> dict:
        entry["outcome"] = outcome
        save_records(path, f.name, records)
        return entry

    slurm = uses_slurm(f)
    extra = {"aifactory_replace_slurm": slurm, "aifactory_replace_reason": DRAIN_REASON,
             "aifactory_replace_bmc_node": {bmc_host(node.name): node.name},
             "aifactory_replace_boot_timeout": options.boot_timeout,
             # rollout_resume.yml's variables
             "aifactory_rollout_slurm": slurm, "aifactory_rollout_batch": [node.name]}
    base = options.bringup
    silencer = silencer or silences.for_site(f, options.host_overrides, "aifactory replace")
    silence = silencer.hold([node.name], f"replacement of {node.name} on {f.name} started {entry['started']}, "
                            f"record {path}: drained, installed, accepted, resumed",
                            options.boot_timeout + BRINGUP_SECONDS, say)
    try:
        forget_facts([node.name], dict(os.environ))
        files = known_hosts_files(host_vars, options.home)
        removed = forget_host_key(stale_key_files(files, options.home), [node.name, address])
        step("forget the old machine", f"cached facts dropped; host keys removed: {len(removed)}")

        run = runner(f, replace(base, playbook=REPLACE_PLAYBOOK, stages=None, limit=f"{node.name},{bmc_host(node.name)}",
                              extra_vars={**base.extra_vars, **extra}))
        raw = (run.custom_stats.get(HARDWARE_STATS_KEY) or {}).get(node.name)
        if raw:
            entry["hardware"] = hardware_record(raw)
        if run.interrupted_by is not None:
            step("drain, read the hardware, PXE boot and power cycle", "interrupted")
            return stop("interrupted")
        if run.exit_code != 0:
            step("drain, read the hardware, PXE boot and power cycle", f"failed (exit {run.exit_code}, {run.run_dir})")
            return stop("failed")
        hw = entry["hardware"] or {}
        step("drain, read the hardware, PXE boot and power cycle",
             f"serial {hw.get('serial')}, {len(hw.get('firmware') or {})} firmware component(s) recorded")

        try:
            entry["host_key"] = learn_host_key(address, files, options.host_key, scan)
        except HostKeyMismatch as err:
            step("learn the new host key", f"refused: {err}")
            return stop("failed")
        step("learn the new host key", f"{entry['host_key']['fingerprint']}, {entry['host_key']['learned']}")

        up = runner(f, replace(base, playbook=None, stages=options.stages, limit=node.name,
                                    extra_vars=dict(base.extra_vars)))
        gate = up.gate([node.name])
        verdict = gate.outcomes[node.name]
        if up.interrupted_by is not None:
            step("bring the node up and accept it", "interrupted")
            return stop("interrupted")
        if not gate.passed:
            kept = f"; it stays drained with reason {DRAIN_REASON!r}" if slurm else ""
            step("bring the node up and accept it", f"failed (exit {up.exit_code}, acceptance {verdict}, {up.run_dir}){kept}")
            return stop("failed")
        step("bring the node up and accept it", f"acceptance {verdict}")

        if slurm:
            resumed = runner(f, replace(base, playbook=RESUME_PLAYBOOK, stages=None, limit=node.name,
                                      extra_vars={**base.extra_vars, **extra}))
            if resumed.exit_code != 0:
                step("resume it in Slurm", f"failed (exit {resumed.exit_code}, {resumed.run_dir})")
                return stop("interrupted" if resumed.interrupted_by is not None else "failed")
            step("resume it in Slurm", "resumed")
        else:
            step("resume it in Slurm", "skipped: the factory has no scheduler (scheduler: none)")
    except (KeyboardInterrupt, SystemExit):  # between the runs (SIGTERM is SystemExit): each run handles its own
        return stop("interrupted")
    finally:  # resumed, or stopped: the replacement holds it no longer
        silencer.release(silence, say)
    return stop("in service")


def check_replace(f: Factory, options: ReplaceOptions, runner: Runner = run_bringup,
                  progress: TextIO = sys.stderr) -> dict:
    """--check: the replacement's Ansible runs in check mode (replace.yml: no drain, no PXE boot, no power
    cycle, the BMC's read only; then the node's bring-up), each step that changes the controller (facts, host
    keys) or Slurm (resume) only named, and no record written. Returns {node, address, check, steps: {step: what
    it would do}, runs: [{playbook, exit_code, artifacts, would_change}]}."""
    check_node(f, options)
    say = lambda text: print(text, file=progress, flush=True)  # noqa: E731
    node = next(n for n in f.nodes if n.name == options.node)
    host_vars = (options.host_overrides or {}).get(node.name) or {}
    address = str(host_vars.get("ansible_host") or node.address)
    slurm = uses_slurm(f)
    base = replace(options.bringup, check=True)
    extra = {"aifactory_replace_slurm": slurm, "aifactory_replace_reason": DRAIN_REASON,
             "aifactory_replace_bmc_node": {bmc_host(node.name): node.name},
             "aifactory_replace_boot_timeout": options.boot_timeout}
    report = {"node": node.name, "address": address, "check": True, "steps": {}, "runs": []}

    def step(name: str, outcome: str) -> None:
        report["steps"][name] = outcome
        say(f"replace {node.name} (check mode): {name}: {outcome}")

    def checked(run) -> str:
        report["runs"].append({"playbook": run.playbook, "exit_code": run.exit_code, "artifacts": str(run.run_dir),
                               "would_change": run.changed_tasks})
        return "check run ok" if ended_well(run.exit_code) else f"check run FAILED (exit {run.exit_code}, {run.run_dir})"

    step("forget the old machine", f"would drop its cached facts and its host keys ({node.name}, {address}) from "
         f"{', '.join(map(str, stale_key_files(known_hosts_files(host_vars, options.home), options.home)))}")
    drain = f"drain it in Slurm with reason {DRAIN_REASON!r}, " if slurm else ""
    run = runner(f, replace(base, playbook=REPLACE_PLAYBOOK, stages=None, limit=f"{node.name},{bmc_host(node.name)}",
                            extra_vars={**base.extra_vars, **extra}))
    step("drain, read the hardware, PXE boot and power cycle",
         f"would {drain}read the hardware, boot once from the network and power-cycle: {checked(run)}")
    if run.interrupted_by is None:
        step("learn the new host key", "would read it with ssh-keyscan and " + (
            "check it against --host-key" if options.host_key else "trust it on first use"))
        up = runner(f, replace(base, playbook=None, stages=options.stages, limit=node.name,
                               extra_vars=dict(base.extra_vars)))
        step("bring the node up and accept it", f"check of the machine there now: {checked(up)}")
        step("resume it in Slurm", "would resume it" if slurm else "skipped: the factory has no scheduler")
    return report


def check_exit_code(report: dict) -> int:
    """0 every check run ended well, 1 one failed, 130/143 one was interrupted."""
    codes = [r["exit_code"] for r in report["runs"]]
    stopped = next((c for c in codes if c in (130, 143)), None)
    return stopped or (0 if all(ended_well(c) for c in codes) else 1)


def exit_code(entry: dict) -> int:
    return {"in service": 0, "interrupted": 130}.get(entry["outcome"], 1)
