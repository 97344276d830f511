"""Bring-up cost on lab nodes: the os and storage stages, first converge and idempotent re-run,
with the project's Ansible settings and with Ansible's defaults, in the same run.

Each cycle is `aifactory lab up` (fresh nodes) -> bringup -> bringup again -> `aifactory lab down`,
every step an `aifactory` subprocess. Controller CPU is the bringup process's rusage (ansible-runner,
ansible-playbook, its workers and ssh clients: all its descendants); node CPU is what every process
in the lab nodes' cgroups used during the run (sshd, the modules); host-tasks are the runner_on_*
result events in the run's job_events.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from aifactory.bringup import RESULT_EVENTS
from aifactory.lab import cgroups, preflight
from aifactory.spec import Factory
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
SETTINGS = {"tuned": {}, "defaults": ANSIBLE_DEFAULTS}


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


def _bringup(f: Factory, site: Path, overrides: Path, artifacts: Path, env: dict) -> dict:
    nodes_before = _nodes_cpu_s(f)
    s = run_child([*AIFACTORY, "bringup", str(site), "--stages", STAGES, "--host-overrides", str(overrides),
                   "--artifacts-dir", str(artifacts), "--format", "json"], env)
    result = json.loads(s.stdout) if s.stdout.strip().startswith("{") else {}
    if s.rc != 0 or result.get("exit_code") != 0:
        raise RuntimeError(f"bringup of {site} exited {s.rc}: {json.dumps(result.get('totals'))} {s.stderr.strip()[-600:]}")
    nodes_cpu_s = _nodes_cpu_s(f) - nodes_before
    tasks = _host_tasks(Path(result["artifacts"]))
    return {"wall_s": s.wall_s, "cpu_s": s.cpu_s, "nodes_cpu_s": nodes_cpu_s, "total_cpu_s": s.cpu_s + nodes_cpu_s,
            "machine_busy_cores": s.machine_busy_cores, "host_tasks": tasks, "changed": result["totals"]["changed"],
            "cpu_ms_per_host_task": 1000 * s.cpu_s / tasks, "node_cpu_ms_per_host_task": 1000 * nodes_cpu_s / tasks}


def _cycle(nodes: int, settings: str, work: Path) -> tuple[dict, dict]:
    """Fresh lab nodes, the first converge, the re-run; the lab is always taken down."""
    factory = lab_site(nodes, work / f"lab-{nodes}")
    site = factory.site_dir
    lab_dir = work / "lab-state"
    facts = work / "facts"
    shutil.rmtree(facts, ignore_errors=True)
    env = {"AIFACTORY_LAB_DIR": str(lab_dir), "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(facts), **SETTINGS[settings]}
    _aifactory("lab", "up", str(site), "--scratch-disks", str(SCRATCH_DISKS), env=env)
    try:
        overrides = lab_dir / f"bench-lab{nodes}" / "host-overrides.json"
        first = _bringup(factory, site, overrides, work / "artifacts", env)
        again = _bringup(factory, site, overrides, work / "artifacts", env)
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


def by_nodes(node_counts: list[int], repeats_for, work: Path, progress) -> list[dict]:
    """For each lab size: first run and re-run, tuned and defaults alternating cycle by cycle."""
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
            row[f"defaults_over_tuned_first_{key}"] = round(
                row["defaults"]["first"][key]["median"] / row["tuned"]["first"][key]["median"], 2)
        rows.append(row)
    return rows


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
