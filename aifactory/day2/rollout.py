"""Rollout: a disruptive stage (drivers, fabric, OS, rack firmware) applied batch by batch, with Slurm
drained before and acceptance as the gate after.

`aifactory.node.batches.plan_batches` cuts the factory's present nodes into batches: a canary node
first, then the rest of its rack, then one rack per batch (an NVL72 rack is one NVLink domain, so it is
never split further); on other platforms `--batch-size N` makes batches of N nodes after the canary.
Hosts marked absent (`aifactory_absent` host overrides) are skipped. A batch's run hands the drivers
plays its whole batch as one `serial` batch, so a batch is never split again.

`run_rollout` runs, per batch, `playbooks/rollout.yml` through `aifactory.node.bringup.run_bringup` (so
secrets, progress and artifacts behave as in bringup): drain the batch in Slurm and wait for its jobs
(or requeue them with --force), apply the stage, give the Slurm node health check the new expected
profile, restart through the BMC the nodes whose change needs it and wait for them, run acceptance. The gate is aifactory.node.acceptance_gate's: the run ended with exit 0 and
every node of the batch has the acceptance verdict `pass` (or `incomplete` of checks that need a kernel the
inventory says the node does not have, with exit 3). Then `playbooks/rollout_resume.yml` resumes the
nodes. The first batch that fails its gate stops the rollout: its nodes stay drained with the reason,
later batches are not touched. Every step is written to a JSON record per site before and after it
runs, so a rollout stopped by a failed gate, by Ctrl-C or by a lost controller is continued with
`--resume` from the batch where it stopped. With monitoring enabled, each batch's nodes are silenced in
Alertmanager from before the drain until they are resumed or the batch stops (aifactory.monitoring.silences).
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from aifactory.monitoring import silences
from aifactory.node.batches import SERIAL_VAR, Batch, BatchPlanError, plan_batches, serial_sizes
from aifactory.node.acceptance_gate import GATE_PASSES, ended_well
from aifactory.core.userstate import day2_record
from aifactory.day2.records import RecordError, RolloutRecord, check_site, now, read_record, write_record
from aifactory.node.bringup import PLAYBOOKS, BringupOptions, Runner, run_bringup, would_change_lines
from aifactory.node.slurm_situation import uses_slurm
from aifactory.spec import Factory
from aifactory.spec.naming import absent_hosts, bmc_host

# Stages whose change disrupts a node and is therefore rolled out in batches.
ROLLOUT_STAGES = ("racks", "os", "drivers", "fabric")
ROLLOUT_PLAYBOOK = PLAYBOOKS / "rollout.yml"
RESUME_PLAYBOOK = PLAYBOOKS / "rollout_resume.yml"
# The fact a stage's role sets on a node whose change takes effect only after a restart.
REBOOT_FACT = {"drivers": "nvidia_gpu_reboot_required"}
DEFAULT_DRAIN_TIMEOUT = 3600  # seconds a batch waits for its running jobs
DEFAULT_BOOT_TIMEOUT = 1800  # seconds a node restarted through its BMC has to answer again
DRAIN_POLL_SECONDS = 10
# Beyond waiting for jobs and for restarted nodes, what a batch's silence allows for applying the stage and
# acceptance: an interrupted rollout's silence ends by itself at most this long after the batch's worst case.
APPLY_SECONDS = 3600
EXIT_STOPPED = 1
EXIT_SIGNALS = {"SIGINT": 130, "SIGTERM": 143}


class RolloutError(Exception):
    """The rollout cannot start or resume: bad options, no record to resume, a record of another stage."""


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
        SERIAL_VAR: serial_sizes([batch]),  # the batch is one serial batch of the stage's plays
    }


def silence_seconds(drain_timeout: int) -> int:
    """How long a batch's nodes are silenced at most: its jobs' drain, the stage and acceptance, a restart."""
    return drain_timeout + APPLY_SECONDS + DEFAULT_BOOT_TIMEOUT


def batch_limit(batch: Batch) -> str:
    """The --limit of a batch's run: its nodes and their BMCs (the restart goes through them)."""
    return ",".join([*batch.nodes, *(bmc_host(n) for n in batch.nodes)])


# --- the record --------------------------------------------------------------------------------------
def record_path(site: str) -> Path:
    """The site's rollout record in the user's state directory (`--record` names another)."""
    return day2_record(site, "rollout")


def new_record(f: Factory, stage: str, batches: list[Batch], skipped: list[str], force: bool,
               drain_timeout: int, batch_size: int | None) -> dict:
    return {"site": f.name, "stage": stage, "status": "running", "started": now(), "updated": now(),
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


def load_record(path: Path, f: Factory) -> dict | None:
    """The site's rollout record, None when there is none. Read back as strictly as the spec
    (aifactory.day2.records): typed, bounded, of this site, naming only its nodes, each in one batch, with
    the Slurm drain the site has; a RolloutError naming the file and the problem otherwise."""
    try:
        record = read_record(path, RolloutRecord, "rollout record")
        if record is None:
            return None
        check_site(path, "rollout record", record.site, f, {
            **{f"batches.{b.index}.nodes": b.nodes for b in record.batches},
            **{f"batches.{b.index}.drained": b.drained for b in record.batches},
            **{f"batches.{b.index}.nodes_outcome": list(b.nodes_outcome) for b in record.batches},
            "skipped_absent": record.skipped_absent})
    except RecordError as err:
        raise RolloutError(str(err)) from None
    problem = _record_problem(record, f)
    if problem:
        raise RolloutError(f"{path}: {problem}: fix or remove the file")
    return record.model_dump(exclude_unset=True)


def _record_problem(record: RolloutRecord, f: Factory) -> str | None:
    """What in a well-formed record contradicts the site or itself."""
    if record.stage not in ROLLOUT_STAGES:
        return f"stage {record.stage!r} is not one rolled out in batches ({', '.join(ROLLOUT_STAGES)})"
    if record.slurm != uses_slurm(f):
        return (f"the record says Slurm {'drains' if record.slurm else 'does not drain'} the nodes, the spec of "
                f"{f.name} says it {'does' if uses_slurm(f) else 'does not'}")
    expected = drain_reason(record.stage) if record.slurm else None
    if record.drain_reason != expected:
        return f"drain_reason must be {expected!r} for this rollout"
    seen: set[str] = set()
    for position, batch in enumerate(record.batches, 1):
        if batch.index != position:
            return f"batch {position} is numbered {batch.index}"
        twice = seen.intersection(batch.nodes) or (len(set(batch.nodes)) != len(batch.nodes) and batch.nodes)
        if twice:
            return f"batch {position} names a node already in a batch ({sorted(twice)[0]})"
        seen.update(batch.nodes)
        if not set(batch.drained) <= set(batch.nodes) or not set(batch.nodes_outcome) <= set(batch.nodes):
            return f"batch {position} lists a drained node or an outcome of a node not in the batch"
    if record.stopped_at is not None and record.stopped_at > len(record.batches):
        return f"stopped_at {record.stopped_at} is past the last batch"
    return None


def save_record(path: Path, record: dict) -> None:
    record["updated"] = now()
    write_record(path, record)


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


def prepare(f: Factory, options: RolloutOptions) -> tuple[Path, dict]:
    """The record to run from: a new one, or the stopped one with --resume; a RolloutError otherwise."""
    if options.stage not in ROLLOUT_STAGES:
        raise RolloutError(f"--stage {options.stage!r}: the stages rolled out in batches are {', '.join(ROLLOUT_STAGES)}")
    path = options.record or record_path(f.name)
    existing = load_record(path, f)
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
    try:
        batches = plan_batches(f.nodes, f.platform.nvlink_domain == "rack", options.batch_size, skipped)
    except BatchPlanError as err:
        raise RolloutError(str(err)) from None
    if not batches:
        raise RolloutError(f"{f.name}: no node to roll out to (every node is absent)")
    timeout = DEFAULT_DRAIN_TIMEOUT if options.drain_timeout is None else options.drain_timeout
    return path, new_record(f, options.stage, batches, skipped, options.force, timeout, options.batch_size)


def run_rollout(f: Factory, options: RolloutOptions, path: Path, record: dict, runner: Runner = run_bringup,
                progress: TextIO = sys.stderr, silencer: silences.Silencer | None = None) -> dict:
    """Roll the stage out batch by batch from the first batch that has not passed; the record is saved
    before and after each step. Each batch's nodes are silenced in Alertmanager while the batch holds them
    (aifactory.monitoring.silences; `silencer`: the site's by default). Returns the record (status done, paused,
    stopped or interrupted)."""
    say = lambda text: print(text, file=progress, flush=True)  # noqa: E731
    silencer = silencer or silences.for_site(f, options.host_overrides, "aifactory rollout")
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
        silence = silencer.hold(list(batch.nodes), f"{record['stage']} rollout of {record['site']}, batch "
                                f"{entry['index']}/{total} ({batch.label}), record {path}: drained, changed, accepted, resumed",
                                silence_seconds(record["drain_timeout"]), say)
        try:
            outcome = _run_batch(f, options, record, entry, batch, runner, say)
        except (KeyboardInterrupt, SystemExit) as stop:  # between the runs: each run handles its own signals
            outcome = "interrupted"
            record["interrupted_by"] = "SIGTERM" if isinstance(stop, SystemExit) else "SIGINT"
        finally:  # resumed, or stopped: the rollout holds them no longer
            silencer.release(silence, say)
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
    run = runner(f, replace(base, playbook=ROLLOUT_PLAYBOOK, stages=[record["stage"]], limit=batch_limit(batch),
                          extra_vars={**base.extra_vars, **extra}))
    entry["runs"].append({"playbook": run.playbook, "exit_code": run.exit_code, "artifacts": str(run.run_dir)})
    if run.interrupted_by is not None:
        record["interrupted_by"] = _signal_name(run.interrupted_by)
        return "interrupted"
    # The gate (aifactory.node.acceptance_gate) over the batch's nodes.
    gate = run.gate(batch.nodes)
    entry["nodes_outcome"] = gate.outcomes
    for node, outcome in gate.outcomes.items():
        say(f"  {node}: {outcome}")
    if not gate.passed:
        say(f"rollout {record['stage']}: batch {entry['index']} ({batch.label}) failed its gate (exit {run.exit_code}); "
            "later batches are not touched")
        return "failed"
    if not record["slurm"]:
        return "passed"
    resumed = runner(f, replace(base, playbook=RESUME_PLAYBOOK, stages=None, limit=",".join(batch.nodes),
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


def check_rollout(f: Factory, options: RolloutOptions, record: dict, runner: Runner = run_bringup,
                  progress: TextIO = sys.stderr) -> dict:
    """--check: each batch still to run (at most --max-batches), run as run_rollout would run it but in Ansible
    check mode: nothing changes (no drain, no restart through a BMC: the bmc role sends no power command in check
    mode), no resume run, and the record is neither written nor changed. Returns what each batch's check run
    would change: {site, stage, check, slurm, drain_reason, batches: [{index, label, nodes, exit_code, artifacts,
    would_change: {host: [task]}}], interrupted_by}."""
    say = lambda text: print(text, file=progress, flush=True)  # noqa: E731
    base = replace(options.bringup, check=True)
    todo = [b for b in record["batches"] if b["outcome"] != "passed"][:options.max_batches]
    report = {"site": record["site"], "stage": record["stage"], "check": True, "slurm": record["slurm"],
              "drain_reason": record["drain_reason"], "batches": [], "interrupted_by": None}
    for entry in todo:
        batch = Batch(entry["label"], tuple(entry["nodes"]))
        say(f"rollout {record['stage']} (check mode): batch {entry['index']}/{len(record['batches'])} ({batch.label})")
        extra = batch_vars(f, record["stage"], batch, record["force"], record["drain_timeout"])
        try:
            run = runner(f, replace(base, playbook=ROLLOUT_PLAYBOOK, stages=[record["stage"]], limit=batch_limit(batch),
                                    extra_vars={**base.extra_vars, **extra}))
        except (KeyboardInterrupt, SystemExit) as stop:
            report["interrupted_by"] = "SIGTERM" if isinstance(stop, SystemExit) else "SIGINT"
            break
        report["batches"].append({"index": entry["index"], "label": batch.label, "nodes": list(batch.nodes),
                                  "exit_code": run.exit_code, "artifacts": str(run.run_dir),
                                  "would_change": run.changed_tasks})
        if run.interrupted_by is not None:
            report["interrupted_by"] = _signal_name(run.interrupted_by)
            break
    return report


def check_lines(report: dict) -> list[str]:
    """What a --check run found, batch by batch: what the rollout would do and what each host would change."""
    lines = [f"rollout of {report['stage']} on {report['site']} (check mode: nothing changed, no record written)"]
    for b in report["batches"]:
        drain = (f"drain in Slurm with reason {report['drain_reason']!r}, " if report["slurm"] else "")
        verdict = "ok" if ended_well(b["exit_code"]) else f"FAILED (exit {b['exit_code']}, {b['artifacts']})"
        lines.append(f"  batch {b['index']} ({b['label']}): would {drain}apply {report['stage']}, restart through the "
                     f"BMC the nodes that need it, run acceptance{', resume' if report['slurm'] else ''}: "
                     f"{', '.join(b['nodes'])}; check run {verdict}")
        lines += would_change_lines(b["would_change"], "    ")
    if report["interrupted_by"]:
        lines.append(f"  interrupted by {report['interrupted_by']}: later batches were not checked")
    return lines


def check_exit_code(report: dict) -> int:
    """0 every batch's check run ended well, 1 one failed, 130/143 interrupted."""
    if report["interrupted_by"]:
        return EXIT_SIGNALS[report["interrupted_by"]]
    return 0 if all(ended_well(b["exit_code"]) for b in report["batches"]) else EXIT_STOPPED


def _signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def exit_code(record: dict) -> int:
    """0 done or paused, 1 stopped at a failed gate, 130/143 interrupted."""
    if record["status"] == "interrupted":
        return EXIT_SIGNALS.get(record.get("interrupted_by") or "SIGINT", 130)
    return EXIT_STOPPED if record["status"] == "stopped" else 0
