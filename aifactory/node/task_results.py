"""Per-task results of a bring-up from ansible-runner's job_events, and what differs between two runs.

Used to prove that a strategy changes nothing but speed: the same lab brought up with Ansible's linear
strategy and with Mitogen's must give each host the same tasks with the same status and changed flag,
and the same acceptance verdicts. A task is keyed by play, "role : task" name and how many times that
name ran on the host before (a role applied twice, a task name reused), so one task missing from a run
is reported once instead of shifting every task after it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

STATUS_OF_EVENT = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_unreachable": "unreachable",
                   "runner_on_skipped": "skipped"}

TaskKey = tuple[str, str, int]  # play, "role : task", occurrence on the host (0 = first)


def read_job_events(run_dir: Path) -> list[dict]:
    """The events of a bringup run directory (`artifacts/*/job_events/*.json`), in the order they happened."""
    events = [json.loads(p.read_text()) for p in sorted((Path(run_dir) / "artifacts").glob("*/job_events/*.json"))]
    return sorted(events, key=lambda e: e.get("counter", 0))


# The line Ansible's default output prints for a result that changed its host ("changed: [host]"),
# after the colour code it may start with.
CHANGED_LINE = re.compile(r"^(?:\x1b\[[0-9;]*m)?changed: ", re.MULTILINE)


def changed(event: Mapping) -> bool:
    """Whether a runner_on_ok event changed its host. ansible-runner censors a no_log result down to
    `{"censored": ...}`, its `changed` flag too, so there the line Ansible printed says."""
    res = (event.get("event_data") or {}).get("res") or {}
    if "censored" in res:
        return bool(CHANGED_LINE.search(event.get("stdout") or ""))
    return bool(res.get("changed"))


def task_results(events: Iterable[dict]) -> dict[str, dict[TaskKey, dict]]:
    """{host: {(play, task, occurrence): {"status", "changed"}}} in run order, from the runner_on_* events.
    A failure under ignore_errors has status "ignored"."""
    results: dict[str, dict[TaskKey, dict]] = {}
    seen: dict[tuple[str, str, str], int] = {}
    for event in events:
        status = STATUS_OF_EVENT.get(event.get("event"))
        if status is None:
            continue
        data = event.get("event_data") or {}
        host, play = data.get("host", "?"), data.get("play", "")
        task = data.get("task") or data.get("task_action") or "?"
        if data.get("role"):
            task = f"{data['role']} : {task}"
        if status == "failed" and data.get("ignore_errors"):
            status = "ignored"
        n = seen.get((host, play, task), 0)
        seen[(host, play, task)] = n + 1
        results.setdefault(host, {})[(play, task, n)] = {"status": status, "changed": status == "ok" and changed(event)}
    return results


def differences(first: Iterable[dict], second: Iterable[dict], hosts: Mapping[str, str] | None = None,
                names: tuple[str, str] = ("first", "second")) -> list[str]:
    """What differs between the per-task results of two runs' events, one line per task, naming the host
    and the task. `hosts` maps a host of the first run to the host of the second it is compared with
    (default: every host of either run with itself)."""
    a, b = task_results(first), task_results(second)
    pairs = dict(hosts) if hosts is not None else {h: h for h in sorted(set(a) | set(b))}
    out = []
    for host_a, host_b in pairs.items():
        where = host_a if host_a == host_b else f"{host_a} ({host_b} in the {names[1]} run)"
        ra, rb = a.get(host_a, {}), b.get(host_b, {})
        for key in [*ra, *(k for k in rb if k not in ra)]:
            play, task, n = key
            label = f"{where}: play {play!r}, task {task!r}" + (f" (run {n + 1})" if n else "")
            if key not in rb:
                out.append(f"{label}: ran only in the {names[0]} run ({_shown(ra[key])})")
            elif key not in ra:
                out.append(f"{label}: ran only in the {names[1]} run ({_shown(rb[key])})")
            elif ra[key] != rb[key]:
                out.append(f"{label}: {_shown(ra[key])} in the {names[0]} run, {_shown(rb[key])} in the {names[1]}")
    return out


def verdict_differences(first: Mapping[str, dict], second: Mapping[str, dict],
                        names: tuple[str, str] = ("first", "second")) -> list[str]:
    """What differs between two runs' acceptance verdicts ({host: verdict}, BringupResult.acceptance)."""
    out = []
    for host in sorted(set(first) | set(second)):
        va, vb = first.get(host), second.get(host)
        if va == vb:
            continue
        if va is None or vb is None:
            out.append(f"{host}: an acceptance verdict only in the {names[0] if vb is None else names[1]} run")
            continue
        keys = sorted(k for k in set(va) | set(vb) if va.get(k) != vb.get(k))
        out.append(f"{host}: acceptance " + "; ".join(
            f"{k} {json.dumps(va.get(k), sort_keys=True)} in the {names[0]} run, "
            f"{json.dumps(vb.get(k), sort_keys=True)} in the {names[1]}" for k in keys))
    return out


def _shown(result: dict) -> str:
    return result["status"] + (", changed" if result["changed"] else "")
