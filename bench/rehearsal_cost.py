"""The rehearsal's own cost: `aifactory rehearse inventories/SITE --format json` once per site (one lab up
.. lab down), each rehearsal stage's seconds and outcome from its report, and inside the first bring-up
each playbook stage's wall seconds and host-tasks (`stage_results`, aifactory.node.stage_tally) and its
slowest tasks (from the run's job events, which lab down leaves in place).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from aifactory.node.bringup import PLAYBOOKS, STAGES
from aifactory.node.stage_tally import play_stages
from aifactory.node.task_results import read_job_events
from bench.measure import run_child

SITES = ("lab-b200", "lab-gb200")
FIRST_BRINGUP = "bringup"  # the rehearsal stage whose bring-up `bringup_stages` describes
DETAIL_CHARS = 400  # a stage's detail is kept when it did not pass, this long at most
TIMEOUT_S = 2 * 3600
SLOWEST = 5  # the first bring-up's slowest tasks kept
TASK_STARTS = ("playbook_on_task_start", "playbook_on_handler_task_start")


def rehearse(site: str, aifactory: list[str], progress: Callable[[str], None]) -> dict:
    """One rehearsal of inventories/SITE as a user runs it, summarised (`summary`); its wall time, how busy
    the machine was, and when it ran. A rehearsal without a JSON report is recorded with its exit and tail."""
    progress(f"rehearsal: aifactory rehearse inventories/{site} --format json (lab up .. lab down)")
    when = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "load_at_start": list(os.getloadavg())}
    s = run_child([*aifactory, "rehearse", f"inventories/{site}", "--format", "json"], timeout=TIMEOUT_S)
    measured = {"wall_s": round(s.wall_s, 1), "machine_busy_cores": round(s.machine_busy_cores, 2), "rc": s.rc,
                "measured": when}
    try:
        report = json.loads(s.stdout)
        report["stages"]
    except (json.JSONDecodeError, KeyError, TypeError):
        tail = " | ".join((s.stderr or s.stdout).strip().splitlines()[-3:])
        return {"site": site, **measured, "error": f"rehearse exited {s.rc} without a JSON report: {tail[-DETAIL_CHARS:]}"}
    out = {**summary(report), **measured}
    run_dir = Path(report.get("bringup_artifacts") or "")
    if report.get("bringup_artifacts") and run_dir.is_dir():
        out["slowest_tasks"] = slowest_tasks(read_job_events(run_dir))
    progress(f"rehearsal: {site} {'passed' if out['passed'] else 'FAILED'} in {out['wall_s']:.0f} s")
    return out


def summary(report: dict) -> dict:
    """A rehearsal report (`rehearse --format json`) as the bench keeps it: each stage's name, outcome and
    seconds (its detail when it did not pass), the largest stage, and the first bring-up's playbook stages
    with their wall seconds and host-tasks (seconds None where the report has none), the largest of them,
    and the bring-up's seconds outside every playbook stage (the process, inventory, runner's start)."""
    stages = [{"name": s["name"], "outcome": s["outcome"], "seconds": s["seconds"],
               **({"detail": s["detail"][:DETAIL_CHARS]} if s["outcome"] not in ("passed", "incomplete") else {})}
              for s in report["stages"]]
    inner = {name: {"seconds": r.get("seconds"), "tasks": r["tasks"], "changed": r["changed"],
                    "failed": r["failed"] + r["unreachable"], "skipped": r["skipped"]}
             for name, r in (report.get("bringup_stages") or {}).items()}
    out = {"site": report["site"], "passed": report["passed"], "stages": stages,
           "stages_seconds": round(sum(s["seconds"] for s in stages), 1),
           "largest_stage": max(stages, key=lambda s: s["seconds"])["name"] if stages else None,
           "bringup_stages": inner,
           "again_stages": {name: r.get("seconds") for name, r in (report.get("bringup_again_stages") or {}).items()}}
    timed = {name: r["seconds"] for name, r in inner.items() if r["seconds"] is not None}
    bringup = next((s for s in stages if s["name"] == FIRST_BRINGUP), None)
    if timed:
        out["largest_bringup_stage"] = max(timed, key=timed.get)
        if bringup:
            out["bringup_outside_stages_s"] = round(bringup["seconds"] - sum(timed.values()), 1)
    return out


def slowest_tasks(events: list[dict], n: int = SLOWEST) -> list[dict]:
    """A bring-up's n slowest tasks, each from its start to the next task's or play's start (or the run's end),
    on every host it ran on together, with its playbook stage: [{stage, task, seconds}], slowest first."""
    stages = play_stages(PLAYBOOKS, STAGES)
    spans, current, play = [], None, ""
    for event in events:
        name, data = event.get("event"), event.get("event_data") or {}
        if name not in (*TASK_STARTS, "playbook_on_play_start", "playbook_on_stats"):
            continue
        now = datetime.fromisoformat(event["created"])
        if current:
            started = current.pop("at")
            spans.append({**current, "seconds": round((now - started).total_seconds(), 1)})
        current = None
        if name == "playbook_on_play_start":
            play = data.get("play") or ""
        elif name in TASK_STARTS:
            current = {"stage": stages.get(play, play), "task": data.get("task") or data.get("task_action") or "?",
                       "at": now}
    return sorted(spans, key=lambda t: -t["seconds"])[:n]


def by_site(sites: list[str], aifactory: list[str], progress: Callable[[str], None]) -> dict:
    """{"sites": {site: rehearse(site)}}, in the order given."""
    return {"sites": {site: rehearse(site, aifactory, progress) for site in sites}}

