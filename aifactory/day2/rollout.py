"""Rollout: a disruptive stage (drivers, fabric, OS, rack firmware) applied batch by batch, with Slurm
drained before and acceptance as the gate after.

`plan_batches` cuts the factory's present nodes into batches: a canary node first, then the rest of
its rack, then one rack per batch (an NVL72 rack is one NVLink domain, so it is never split further);
on other platforms `--batch-size N` makes batches of N nodes after the canary. Hosts marked absent
(`aifactory_absent` host overrides) are skipped.

`run_rollout` runs, per batch, `playbooks/rollout.yml` through `aifactory.node.bringup.run_bringup` (so
secrets, progress and artifacts behave as in bringup): drain the batch in Slurm and wait for its jobs
(or requeue them with --force), apply the stage, give the Slurm node health check the new expected
profile, restart through the BMC the nodes whose change needs it and wait for them, run acceptance. The gate is this module's: the run ended with exit 0 and every
node of the batch has the acceptance verdict `pass` (on a lab stand-in, whose kernel-bound checks cannot
run, `incomplete` and exit 3 count too). Then `playbooks/rollout_resume.yml` resumes the
nodes. The first batch that fails its gate stops the rollout: its nodes stay drained with the reason,
later batches are not touched. Every step is written to a JSON record per site before and after it
runs, so a rollout stopped by a failed gate, by Ctrl-C or by a lost controller is continued with
`--resume` from the batch where it stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from aifactory.node.bringup import (EXIT_ACCEPTANCE_INCOMPLETE, PLAYBOOKS, REPO, BringupOptions, BringupResult,
                               run_bringup)
from aifactory.spec import Factory

# Stages whose change disrupts a node and is therefore rolled out in batches.
ROLLOUT_STAGES = ("racks", "os", "drivers", "fabric")
ROLLOUT_PLAYBOOK = PLAYBOOKS / "rollout.yml"
RESUME_PLAYBOOK = PLAYBOOKS / "rollout_resume.yml"
RECORD_ROOT = REPO / ".aifactory" / "rollout"
# The fact a stage's role sets on a node whose change takes effect only after a restart.
REBOOT_FACT = {"drivers": "nvidia_gpu_reboot_required"}
DEFAULT_DRAIN_TIMEOUT = 3600  # seconds a batch waits for its running jobs
DEFAULT_BOOT_TIMEOUT = 1800  # seconds a node restarted through its BMC has to answer again
DRAIN_POLL_SECONDS = 10
GATE_VERDICT = "pass"
STAND_IN_INCOMPLETE = "incomplete (lab stand-in)"
GATE_PASSES = (GATE_VERDICT, STAND_IN_INCOMPLETE)
EXIT_STOPPED = 1
EXIT_SIGNALS = {"SIGINT": 130, "SIGTERM": 143}


class RolloutError(Exception):
    """The rollout cannot start or resume: bad options, no record to resume, a record of another stage."""


@dataclass(frozen=True)
class Batch:
    label: str
    nodes: tuple[str, ...]


def plan_batches(nodes: Sequence, rack_domain: bool, batch_size: int | None = None,
                 absent: Iterable[str] = ()) -> list[Batch]:
    """The batches of a rollout, in order. `nodes` carry name, rack and slot; `rack_domain` is True where
    a rack is one NVLink domain (NVL72), which refuses a batch size (a batch is a rack). Without a batch
    size the other platforms also go rack by rack."""
    if batch_size is not None and batch_size < 1:
        raise RolloutError(f"--batch-size must be at least 1, not {batch_size}")
    if rack_domain and batch_size is not None:
        raise RolloutError("--batch-size: on this platform a rack is one NVLink domain, so a batch is a rack")
    skip = set(absent)
    present = sorted((n for n in nodes if n.name not in skip), key=lambda n: (n.rack, n.slot))
    if not present:
        return []
    canary, rest = present[0], present[1:]
    batches = [Batch(f"canary {canary.name}", (canary.name,))]
    if batch_size is not None:
        for start in range(0, len(rest), batch_size):
            chunk = rest[start:start + batch_size]
            batches.append(Batch(f"nodes {chunk[0].name}..{chunk[-1].name}" if len(chunk) > 1 else chunk[0].name,
                                 tuple(n.name for n in chunk)))
        return batches
    for rack in sorted({n.rack for n in rest}):
        members = tuple(n.name for n in rest if n.rack == rack)
        batches.append(Batch(f"rack{rack:02d}" + (" (after the canary)" if rack == canary.rack else ""), members))
    return batches


def absent_hosts(host_overrides: dict | None) -> list[str]:
    """The hosts the overrides mark absent (not booted, out for repair): a rollout skips them."""
    return sorted(h for h, o in (host_overrides or {}).items() if isinstance(o, dict) and o.get("aifactory_absent") is True)


def uses_slurm(f: Factory) -> bool:
    return f.scheduler.kind == "slurm" and bool(f.head_nodes)


def drain_reason(stage: str) -> str:
    return f"aifactory rollout {stage}"


def batch_vars(f: Factory, stage: str, batch: Batch, force: bool, drain_timeout: int,
               boot_timeout: int = DEFAULT_BOOT_TIMEOUT) -> dict:
    """The extra variables of one batch's rollout.yml run (no secret among them: they are kept in the artifacts)."""
    delay = max(1, min(DRAIN_POLL_SECONDS, drain_timeout))
    return {
        "aifactory_rollout_stage": stage,
        "aifactory_rollout_batch": list(batch.nodes),
        "aifactory_rollout_bmc_node": {bmc_host(n): n for n in batch.nodes},
        "aifactory_rollout_slurm": uses_slurm(f),
        "aifactory_rollout_drain_reason": drain_reason(stage),
        "aifactory_rollout_force": force,
        "aifactory_rollout_drain_polls": math.ceil(drain_timeout / delay),
        "aifactory_rollout_drain_poll_delay": delay,
        "aifactory_rollout_reboot_fact": REBOOT_FACT.get(stage, ""),
        "aifactory_rollout_boot_timeout": boot_timeout,
    }


def bmc_host(node: str) -> str:
    """The inventory host of a node's BMC (aifactory.node.inventory)."""
    return f"{node}-bmc"


def batch_limit(batch: Batch) -> str:
    """The --limit of a batch's run: its nodes and their BMCs (the restart goes through them)."""
    return ",".join([*batch.nodes, *(bmc_host(n) for n in batch.nodes)])


def node_verdict(node: str, result: BringupResult, stand_ins: Iterable[str] = ()) -> str:
    """A node's outcome in a run: its acceptance verdict, `failed` or `unreachable` (a task failed on it
    before acceptance), or `not judged`. A lab stand-in's `incomplete` (checks that need a kernel module
    or a device file could not run there) is `incomplete (lab stand-in)`, which passes a gate."""
    counts = result.hosts.get(node) or {}
    verdict = (result.acceptance.get(node) or {}).get("result")
    if counts.get("unreachable"):
        return "unreachable"
    if verdict == "incomplete" and node in set(stand_ins):
        return STAND_IN_INCOMPLETE
    if verdict:
        return verdict
    return "failed" if counts.get("failed") else "not judged"


def gate(batch: Batch, result: BringupResult, stand_ins: Iterable[str] = ()) -> tuple[bool, dict[str, str]]:
    """The batch's gate: the run ended well (exit 0, or 3 for acceptance incomplete on lab stand-ins
    only) and every node's outcome (node_verdict) is `pass` or a lab stand-in's incomplete.
    Returns (passed, {node: outcome})."""
    outcomes = {node: node_verdict(node, result, stand_ins) for node in batch.nodes}
    ended_well = result.exit_code in (0, EXIT_ACCEPTANCE_INCOMPLETE)
    return ended_well and all(o in GATE_PASSES for o in outcomes.values()), outcomes


def stand_in_hosts(host_overrides: dict | None) -> list[str]:
    """The hosts the overrides mark as lab stand-ins."""
    return sorted(h for h, o in (host_overrides or {}).items() if isinstance(o, dict) and o.get("aifactory_stand_in") is True)


# --- the record --------------------------------------------------------------------------------------
def record_path(site: str, root: Path = RECORD_ROOT) -> Path:
    return Path(root) / f"{site}.json"


def new_record(f: Factory, stage: str, batches: list[Batch], skipped: list[str], force: bool,
               drain_timeout: int, batch_size: int | None) -> dict:
    return {"site": f.name, "stage": stage, "status": "running", "started": _now(), "updated": _now(),
            "slurm": uses_slurm(f), "drain_reason": drain_reason(stage) if uses_slurm(f) else None,
            "batch_size": batch_size, "force": force, "drain_timeout": drain_timeout,
            "skipped_absent": skipped, "stopped_at": None,
            "batches": [{"index": i, "label": b.label, "nodes": list(b.nodes), "outcome": "pending",
                         "drained": [], "nodes_outcome": {}, "runs": []} for i, b in enumerate(batches, 1)]}


@contextlib.contextmanager
def record_lock(path: Path) -> Iterator[None]:
    """Held while a rollout runs from this record: a second rollout of the site is refused."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path.with_name(f".{path.name}.lock"), "w")  # noqa: SIM115 - closed below
    except OSError as err:
        raise RolloutError(f"--record {path}: {err.strerror or err}") from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RolloutError(f"another rollout runs from {path}: wait for it, or stop it (Ctrl-C)") from None
        yield


def load_record(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise RolloutError(f"{path}: not a rollout record ({err})") from None
    if not isinstance(record, dict) or not isinstance(record.get("batches"), list):
        raise RolloutError(f"{path}: not a rollout record")
    return record


def save_record(path: Path, record: dict) -> None:
    """Write the record whole or not at all (a rename), so Ctrl-C or a crash never leaves half of one."""
    record["updated"] = _now()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(record, indent=2) + "\n")
    partial.replace(path)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def drained_nodes(record: dict) -> list[str]:
    return [n for b in record["batches"] for n in b["drained"]]


def state_lines(record: dict, command: str) -> list[str]:
    """Where a rollout stands, for the user: which batch stopped it and why, which nodes are drained."""
    done = sum(b["outcome"] == "passed" for b in record["batches"])
    lines = [f"rollout of {record['stage']} on {record['site']}: {record['status']}, "
             f"{done} of {len(record['batches'])} batches passed"]
    stopped = next((b for b in record["batches"] if b["outcome"] not in ("passed", "pending")), None)
    if stopped:
        bad = {n: o for n, o in stopped["nodes_outcome"].items() if o not in GATE_PASSES}
        lines.append(f"  stopped at batch {stopped['index']} ({stopped['label']}): {stopped['outcome']}"
                     + (f"; nodes: {', '.join(f'{n} {o}' for n, o in bad.items())}" if bad else ""))
    drained = drained_nodes(record)
    if drained:
        lines.append(f"  drained in Slurm with reason {record['drain_reason']!r}: {', '.join(drained)}")
    pending = [b for b in record["batches"] if b["outcome"] == "pending"]
    if pending:
        lines.append(f"  not touched: batches {', '.join(str(b['index']) for b in pending)}")
    if record["status"] != "done":
        lines.append(f"  continue with: {command} --resume")
    return lines


# --- the driver --------------------------------------------------------------------------------------
@dataclass
class RolloutOptions:
    stage: str
    batch_size: int | None = None
    force: bool = False
    drain_timeout: int | None = None  # None: the record's on --resume, else DEFAULT_DRAIN_TIMEOUT
    resume: bool = False
    max_batches: int | None = None  # stop (status `paused`) after this many batches ran
    bringup: BringupOptions = field(default_factory=BringupOptions)  # inventory inputs, forks, strategy, artifacts
    host_overrides: dict | None = None  # as read from bringup.host_overrides (absent hosts)
    record: Path | None = None


Runner = Callable[[Factory, BringupOptions], BringupResult]


def prepare(f: Factory, options: RolloutOptions) -> tuple[Path, dict]:
    """The record to run from: a new one, or the stopped one with --resume; a RolloutError otherwise."""
    if options.stage not in ROLLOUT_STAGES:
        raise RolloutError(f"--stage {options.stage!r}: the stages rolled out in batches are {', '.join(ROLLOUT_STAGES)}")
    path = options.record or record_path(f.name)
    existing = load_record(path)
    if options.resume:
        if existing is None:
            raise RolloutError(f"--resume: no rollout record for {f.name} at {path}")
        if existing.get("stage") != options.stage:
            raise RolloutError(f"--resume: the rollout at {path} is of stage {existing.get('stage')!r}, "
                               f"not {options.stage!r}")
        if existing.get("status") == "done":
            raise RolloutError(f"--resume: the rollout of {options.stage} on {f.name} is done ({path})")
        # A batch that timed out waiting for its jobs can be resumed with --force or a longer timeout.
        existing["force"] = bool(existing.get("force")) or options.force
        if options.drain_timeout is not None:
            existing["drain_timeout"] = options.drain_timeout
        return path, existing
    if existing is not None and existing.get("status") != "done":
        raise RolloutError(f"an unfinished rollout of {existing.get('stage')} on {f.name} is recorded at {path} "
                           f"(status {existing.get('status')}): continue it with --resume, or remove the file")
    names = {n.name for n in f.nodes}
    skipped = [h for h in absent_hosts(options.host_overrides) if h in names]
    batches = plan_batches(f.nodes, f.platform.nvlink_domain == "rack", options.batch_size, skipped)
    if not batches:
        raise RolloutError(f"{f.name}: no node to roll out to (every node is absent)")
    timeout = DEFAULT_DRAIN_TIMEOUT if options.drain_timeout is None else options.drain_timeout
    return path, new_record(f, options.stage, batches, skipped, options.force, timeout, options.batch_size)


def run_rollout(f: Factory, options: RolloutOptions, path: Path, record: dict, runner: Runner = run_bringup,
                progress: TextIO = sys.stderr) -> dict:
    """Roll the stage out batch by batch from the first batch that has not passed; the record is saved
    before and after each step. Returns the record (status done, paused, stopped or interrupted)."""
    say = lambda text: print(text, file=progress, flush=True)  # noqa: E731
    record["status"], record["stopped_at"] = "running", None
    record.pop("interrupted_by", None)
    if record["skipped_absent"]:
        absent = record["skipped_absent"]
        say(f"rollout: skipping {len(absent)} absent node(s): {', '.join(absent[:6])}{' ...' if len(absent) > 6 else ''}")
    if not record["slurm"]:
        say("rollout: the factory has no scheduler (scheduler: none): nodes are not drained or resumed in Slurm")
    save_record(path, record)
    total, ran = len(record["batches"]), 0
    for entry in record["batches"]:
        if entry["outcome"] == "passed":
            continue
        if options.max_batches is not None and ran >= options.max_batches:
            record["status"] = "paused"
            break
        ran += 1
        batch = Batch(entry["label"], tuple(entry["nodes"]))
        say(f"rollout {record['stage']}: batch {entry['index']}/{total} ({batch.label}): {', '.join(batch.nodes)}")
        entry["outcome"] = "running"
        if record["slurm"]:
            entry["drained"] = list(batch.nodes)  # from here on they may be drained: said so if stopped
        save_record(path, record)
        try:
            outcome = _run_batch(f, options, record, entry, batch, runner, say)
        except (KeyboardInterrupt, SystemExit) as stop:  # between the runs: each run handles its own signals
            outcome = "interrupted"
            record["interrupted_by"] = "SIGTERM" if isinstance(stop, SystemExit) else "SIGINT"
        entry["outcome"] = outcome
        if outcome != "passed":
            record["status"] = "interrupted" if outcome == "interrupted" else "stopped"
            record["stopped_at"] = entry["index"]
            save_record(path, record)
            return record
        save_record(path, record)
    else:
        record["status"] = "done"
    save_record(path, record)
    return record


def _run_batch(f: Factory, options: RolloutOptions, record: dict, entry: dict, batch: Batch, runner: Runner,
               say: Callable[[str], None]) -> str:
    """One batch: the rollout run, the gate, the resume run. Returns the batch's outcome."""
    extra = batch_vars(f, record["stage"], batch, record["force"], record["drain_timeout"])
    base = options.bringup
    run = runner(f, with_changes(base, playbook=ROLLOUT_PLAYBOOK, stages=[record["stage"]], limit=batch_limit(batch),
                          extra_vars={**base.extra_vars, **extra}))
    entry["runs"].append({"playbook": run.playbook, "exit_code": run.exit_code, "artifacts": str(run.run_dir)})
    if run.interrupted_by is not None:
        record["interrupted_by"] = _signal_name(run.interrupted_by)
        return "interrupted"
    passed, outcomes = gate(batch, run, stand_in_hosts(options.host_overrides))
    entry["nodes_outcome"] = outcomes
    for node, outcome in outcomes.items():
        say(f"  {node}: {outcome}")
    if not passed:
        say(f"rollout {record['stage']}: batch {entry['index']} ({batch.label}) failed its gate (exit {run.exit_code}); "
            "later batches are not touched")
        return "failed"
    if not record["slurm"]:
        return "passed"
    resumed = runner(f, with_changes(base, playbook=RESUME_PLAYBOOK, stages=None, limit=",".join(batch.nodes),
                              extra_vars={**base.extra_vars, **extra}))
    entry["runs"].append({"playbook": resumed.playbook, "exit_code": resumed.exit_code,
                          "artifacts": str(resumed.run_dir)})
    if resumed.interrupted_by is not None:
        record["interrupted_by"] = _signal_name(resumed.interrupted_by)
        return "interrupted"
    if resumed.exit_code != 0:
        say(f"rollout {record['stage']}: batch {entry['index']}: resuming its nodes in Slurm failed "
            f"(exit {resumed.exit_code})")
        return "resume failed"
    entry["drained"] = []
    say(f"  resumed in Slurm: {', '.join(batch.nodes)}")
    return "passed"


def with_changes(base: BringupOptions, **changes) -> BringupOptions:
    """A copy of the bring-up options with some changed."""
    values = {name: getattr(base, name) for name in BringupOptions.__dataclass_fields__}
    return BringupOptions(**{**values, **changes})


def _signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def exit_code(record: dict) -> int:
    """0 done or paused, 1 stopped at a failed gate, 130/143 interrupted."""
    if record["status"] == "interrupted":
        return EXIT_SIGNALS.get(record.get("interrupted_by") or "SIGINT", 130)
    return EXIT_STOPPED if record["status"] == "stopped" else 0
