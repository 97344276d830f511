"""Bring-up cost on lab nodes: the os and storage stages, first converge and idempotent re-run,
with the project's Ansible settings, with those settings and Mitogen's strategy (`--strategy mitogen`),
and with Ansible's defaults, in the same run.

Each cycle is `aifactory lab up` (fresh nodes) -> bringup -> bringup again -> `aifactory lab down`,
every step an `aifactory` subprocess. Controller CPU is the bringup process's rusage (ansible-runner,
ansible-playbook, its workers and ssh clients: all its descendants); node CPU is what every process
in the lab nodes' cgroups used during the run (sshd, the modules); host-tasks are the runner_on_*
result events in the run's job_events. Every Mitogen run's per-task results (task, host, status,
changed) are compared with those of the tuned run of the same cycle number (aifactory.node.task_results).
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path

from aifactory.node.bringup import RESULT_EVENTS
from aifactory.lab import cgroups, preflight
from aifactory.spec import Factory
from aifactory.node.task_results import differences, read_job_events
from bench import module_probe
from bench.measure import run_child, spread
from bench.specs import lab_site

AIFACTORY = [sys.executable, "-m", "aifactory.cli"]
STAGES = "os,storage"  # one ansible-playbook run of site.yml with --tags os,storage
SCRATCH_DISKS = 1  # the scratch role formats one device (several need a volume manager)
# Ansible's own defaults for what the repo's ansible.cfg tunes, as environment settings (which beat
# ansible.cfg: bringup pins ANSIBLE_CONFIG to the repo's file, so a second config file cannot be used).
ANSIBLE_DEFAULTS = {
    "ANSIBLE_FORKS": "5",
    "ANSIBLE_PIPELINING": "False",
    "ANSIBLE_GATHERING": "implicit",
    "ANSIBLE_GATHER_SUBSET": "all",
    "ANSIBLE_CACHE_PLUGIN": "memory",
    "ANSIBLE_SSH_ARGS": "-C -o ControlMaster=auto -o ControlPersist=60s",
}
# name: (environment, bringup options). mitogen = tuned + Mitogen for Ansible's strategy.
SETTINGS = {"tuned": ({}, ()), "mitogen": ({}, ("--strategy", "mitogen")), "defaults": (ANSIBLE_DEFAULTS, ())}
STANDARD, ACCELERATED = "tuned", "mitogen"
MAX_DIFFERENCES = 20  # differences kept in the results per lab size


def skip_reason() -> str | None:
    problems = preflight.missing()
    return "; ".join(problems) if problems else None


def _aifactory(*args: str, env: dict) -> None:
    s = run_child([*AIFACTORY, *args], env)
    if s.rc != 0:
        raise RuntimeError(f"aifactory {' '.join(args)} exited {s.rc}: {(s.stderr or s.stdout).strip()[-600:]}")


def _host_tasks(run_dir: Path) -> int:
    count = 0
    for event_file in (run_dir / "artifacts" / "run" / "job_events").glob("*.json"):
        if json.loads(event_file.read_text()).get("event") in RESULT_EVENTS:
            count += 1
    return count


def _nodes_cpu_s(f: Factory) -> float:
    return sum(cgroups.cpu_seconds(cgroups.relative_path(f.name, n.name)) for n in f.nodes)


def _bringup(f: Factory, site: Path, overrides: Path, artifacts: Path, env: dict, options: tuple = ()) -> dict:
    nodes_before = _nodes_cpu_s(f)
    s = run_child([*AIFACTORY, "bringup", str(site), "--stages", STAGES, "--host-overrides", str(overrides),
                   "--artifacts-dir", str(artifacts), "--format", "json", *options], env)
    result = json.loads(s.stdout) if s.stdout.strip().startswith("{") else {}
    if s.rc != 0 or result.get("exit_code") != 0:
        raise RuntimeError(f"bringup of {site} exited {s.rc}: {json.dumps(result.get('totals'))} {s.stderr.strip()[-600:]}")
    nodes_cpu_s = _nodes_cpu_s(f) - nodes_before
    tasks = _host_tasks(Path(result["artifacts"]))
    return {"wall_s": s.wall_s, "cpu_s": s.cpu_s, "nodes_cpu_s": nodes_cpu_s, "total_cpu_s": s.cpu_s + nodes_cpu_s,
            "machine_busy_cores": s.machine_busy_cores, "host_tasks": tasks, "changed": result["totals"]["changed"],
            "cpu_ms_per_host_task": 1000 * s.cpu_s / tasks, "node_cpu_ms_per_host_task": 1000 * nodes_cpu_s / tasks,
            "run_dir": result["artifacts"]}


def _cycle(nodes: int, settings: str, work: Path) -> tuple[dict, dict]:
    """Fresh lab nodes, the first converge, the re-run; the lab is always taken down."""
    factory = lab_site(nodes, work / f"lab-{nodes}")
    site = factory.site_dir
    lab_dir = work / "lab-state"
    facts = work / "facts"
    shutil.rmtree(facts, ignore_errors=True)
    settings_env, options = SETTINGS[settings]
    env = {"AIFACTORY_LAB_DIR": str(lab_dir), "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(facts), **settings_env}
    _aifactory("lab", "up", str(site), "--scratch-disks", str(SCRATCH_DISKS), env=env)
    try:
        overrides = lab_dir / f"bench-lab{nodes}" / "host-overrides.json"
        first = _bringup(factory, site, overrides, work / "artifacts", env, options)
        again = _bringup(factory, site, overrides, work / "artifacts", env, options)
    finally:
        _aifactory("lab", "down", str(site), env=env)
    return first, again


def _summary(runs: list[dict]) -> dict:
    out = {key: spread([r[key] for r in runs]) for key in (
        "wall_s", "cpu_s", "nodes_cpu_s", "total_cpu_s", "machine_busy_cores", "cpu_ms_per_host_task",
        "node_cpu_ms_per_host_task")}
    out["host_tasks"] = runs[0]["host_tasks"]
    out["changed"] = spread([r["changed"] for r in runs], 0)
    return out


def strategy_differences(runs: dict) -> tuple[int, list[str]]:
    """(runs compared, differences): each Mitogen run's per-task results against the tuned run of the
    same cycle and phase; both ran on fresh nodes of the same lab site, so host names match."""
    compared, found = 0, []
    for phase in ("first", "again"):
        for standard, accelerated in zip(runs[STANDARD][phase], runs[ACCELERATED][phase]):
            compared += 1
            found += [f"{phase} run: {line}" for line in differences(
                read_job_events(Path(standard["run_dir"])), read_job_events(Path(accelerated["run_dir"])),
                names=("linear", "mitogen"))]
    return compared, found


def by_nodes(node_counts: list[int], repeats_for, work: Path, progress) -> list[dict]:
    """For each lab size: first run and re-run, tuned, mitogen and defaults alternating cycle by cycle."""
    rows = []
    for n in node_counts:
        repeats = repeats_for(n)
        runs = {s: {"first": [], "again": []} for s in SETTINGS}
        for i in range(repeats):
            for settings in SETTINGS:
                progress(f"bringup: {n} node(s), {settings} settings, cycle {i + 1}/{repeats}")
                first, again = _cycle(n, settings, work)
                runs[settings]["first"].append(first)
                runs[settings]["again"].append(again)
        row = {"nodes": n}
        for settings, pair in runs.items():
            row[settings] = {phase: _summary(samples) for phase, samples in pair.items()}
            row[settings]["rerun_over_first"] = round(
                row[settings]["again"]["wall_s"]["median"] / row[settings]["first"]["wall_s"]["median"], 2)
        for key in ("wall_s", "total_cpu_s"):
            for slower, faster in (("defaults", "tuned"), ("defaults", "mitogen"), ("tuned", "mitogen")):
                row[f"{slower}_over_{faster}_first_{key}"] = round(
                    row[slower]["first"][key]["median"] / row[faster]["first"][key]["median"], 2)
        row["tuned_over_mitogen_again_wall_s"] = round(
            row["tuned"]["again"]["wall_s"]["median"] / row["mitogen"]["again"]["wall_s"]["median"], 2)
        for phase in ("first", "again"):
            row[f"mitogen_over_tuned_{phase}_node_cpu_per_host_task"] = round(
                row["mitogen"][phase]["node_cpu_ms_per_host_task"]["median"]
                / row["tuned"][phase]["node_cpu_ms_per_host_task"]["median"], 2)
        compared, found = strategy_differences(runs)
        row["strategy_equality"] = {"runs_compared": compared, "differences": len(found),
                                    "shown": found[:MAX_DIFFERENCES]}
        rows.append(row)
    return rows


def site_host_tasks(run_dir: Path) -> dict:
    """Host-tasks per compute node and per BMC host of one bring-up of site.yml (a rehearsal's first
    bring-up), counted from its job events: what the capacity note scales the per-host-task figures by.
    Medians over the hosts, so a head node (a few tasks) does not pull the compute nodes' count down."""
    counts: dict[str, int] = {}
    for event in read_job_events(run_dir):
        if event.get("event") in RESULT_EVENTS:
            host = (event.get("event_data") or {}).get("host", "")
            counts[host] = counts.get(host, 0) + 1
    bmcs = [n for h, n in counts.items() if h.endswith("-bmc")]
    nodes = [n for h, n in counts.items() if not h.endswith("-bmc") and h != "localhost"]
    if not nodes:
        raise ValueError(f"{run_dir}: no node ran a task (not a bring-up run directory of site.yml?)")
    try:
        command = json.loads((Path(run_dir) / "artifacts" / "run" / "command").read_text())["command"]
        tags = command[command.index("--tags") + 1] if "--tags" in command else "all"
    except (OSError, ValueError, KeyError):
        tags = "unknown"
    return {"per_node": statistics.median(nodes), "per_bmc": statistics.median(bmcs) if bmcs else 0,
            "hosts": len(nodes) + len(bmcs), "stages": tags}


def module_floor(work: Path, progress) -> dict:
    """bench/module_probe.py on a fresh one-node lab: what a single module run costs on a node."""
    factory = lab_site(1, work / "lab-1")
    lab_dir = work / "lab-state"
    env = {"AIFACTORY_LAB_DIR": str(lab_dir)}
    progress("bringup: what one module run costs on a lab node (one node, diagnostic)")
    _aifactory("lab", "up", str(factory.site_dir), "--scratch-disks", "0", env=env)
    try:
        return module_probe.measure(lab_dir / factory.name / "host-overrides.json")
    finally:
        _aifactory("lab", "down", str(factory.site_dir), env=env)
