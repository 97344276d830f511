"""Which nodes Slurm runs jobs on, asked of the site's first Slurm controller before a bring-up plans its
batches (aifactory.node.batch_plan): a node running jobs is in service even where the site's records hold
no acceptance verdict for it (a node accepted by hand, records lost or reset).

The question is one read-only playbook run (playbooks/slurm_in_service.yml, one sinfo of every node's
state) through the same runner path and inventory as the bring-up; which states mean "running jobs" is
decided here. When the controller does not answer (a first bring-up: no head node yet, or no Slurm on it
yet), the answer says so and why, and the records alone decide.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from aifactory import scheduler
from aifactory.node import task_results
from aifactory.node.bringup import PLAYBOOKS, BringupError, BringupOptions, Runner, run_bringup
from aifactory.spec import Factory
from aifactory.spec.validators import shown

PLAYBOOK = PLAYBOOKS / "slurm_in_service.yml"
TASK = "List the nodes running jobs"
# sinfo's compact states (%t) of a node running jobs, and the flags it may append (sinfo(1), NODE STATE CODES).
RUNNING_JOBS = frozenset({"alloc", "mix", "comp", "drng"})
STATE_FLAGS = "*~#!%$@^-+"
RESULT_EVENTS = frozenset(task_results.STATUS_OF_EVENT)  # a task's result on a host: ok, failed, unreachable, skipped


def uses_slurm(f: Factory) -> bool:
    """Whether the factory runs Slurm on head nodes of its own."""
    return f.scheduler.kind == "slurm" and bool(f.head_nodes)


def first_controller(f: Factory) -> str | None:
    """The head node running the primary slurmctld (the slurm role's `slurm_controllers | first`)."""
    return next((h.name for h in scheduler.controller_nodes(f)), None)


@dataclass(frozen=True)
class SlurmAnswer:
    """What the controller said: the spec's nodes running jobs, or why there is no answer."""

    controller: str | None
    answered: bool
    nodes: frozenset[str] = frozenset()
    detail: str = ""
    interrupted_by: int | None = None  # the signal that stopped the query (the bring-up then stops too)

    def summary(self) -> str:
        """One phrase: what Slurm said, or that it did not answer and why."""
        if self.answered:
            return f"Slurm on {self.controller}: {len(self.nodes)} node(s) running jobs"
        return f"Slurm on {self.controller} did not answer ({self.detail})"

    def as_dict(self) -> dict:
        return {"controller": self.controller, "answered": self.answered, "nodes": sorted(self.nodes),
                "detail": self.detail, "summary": self.summary()}


def nodes_running_jobs(lines: list[str], f: Factory) -> frozenset[str]:
    """The spec's compute nodes that sinfo's `%N|%t` lines show running jobs: allocated, mixed, completing
    or draining (drained, jobs still running), whatever flag follows the state (`*` not responding, `~`
    powered off, ...). A node is listed once per partition; a line of another shape, a head node or a node
    the spec no longer has names no node of the plan."""
    names = {n.name for n in f.nodes}
    busy = set()
    for line in lines:
        name, _, state = line.strip().partition("|")
        if name in names and state.rstrip(STATE_FLAGS).lower() in RUNNING_JOBS:
            busy.add(name)
    return frozenset(busy)


def answer_from_events(events: list[dict], f: Factory, controller: str) -> SlurmAnswer:
    """The answer read from the query run's events: the task's output when it ran, why not otherwise."""
    for e in events:
        data = e.get("event_data") or {}
        if data.get("task") != TASK or data.get("host") != controller or e.get("event") not in RESULT_EVENTS:
            continue
        res = data.get("res") if isinstance(data.get("res"), dict) else {}
        if e["event"] == "runner_on_ok":
            lines = res.get("stdout_lines")
            if isinstance(lines, list) and all(isinstance(x, str) for x in lines):
                nodes = nodes_running_jobs(lines, f)
                return SlurmAnswer(controller, True, nodes, f"{len(nodes)} node(s) running jobs")
            return SlurmAnswer(controller, False, detail="sinfo's output could not be read")
        return SlurmAnswer(controller, False, detail=shown(_why(e["event"], res), 200))
    return SlurmAnswer(controller, False, detail="the query ran no task on the controller")


def _why(event: str, res: dict) -> str:
    """The reason a query task gave no answer: sinfo's last error line, its exit status, or Ansible's message."""
    stderr, msg = str(res.get("stderr") or "").strip(), str(res.get("msg") or "").strip()
    if stderr:
        return stderr.splitlines()[-1]
    if msg and msg != "non-zero return code":  # sinfo not installed, ssh refused: Ansible says it
        return msg.splitlines()[-1]
    if isinstance(res.get("rc"), int) and res["rc"] != 0:
        return f"sinfo exited {res['rc']}"
    return msg or task_results.STATUS_OF_EVENT[event]


def ask_slurm(f: Factory, options: BringupOptions, runner: Runner = run_bringup) -> SlurmAnswer:
    """Ask the first controller which nodes run jobs, with the bring-up's own inventory options (host
    overrides, stack outputs, strategy, artifacts root); the run shows its progress as a bring-up does."""
    controller = first_controller(f)
    if not uses_slurm(f) or controller is None:
        return SlurmAnswer(controller, False, detail="the factory runs no Slurm of its own")
    query = replace(options, stages=None, playbook=PLAYBOOK, limit=controller, check=False, extra_vars={})
    try:
        result = runner(f, query)
    except BringupError as err:
        return SlurmAnswer(controller, False, detail=shown(str(err), 200))
    if result.interrupted_by is not None:
        return SlurmAnswer(controller, False, detail="interrupted", interrupted_by=result.interrupted_by)
    return answer_from_events(task_results.read_job_events(result.run_dir), f, controller)
