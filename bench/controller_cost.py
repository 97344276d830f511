"""The controller at scale: a playbook of site.yml's shape, with no-op tasks, through `aifactory bringup`'s runner
path, against the inventory of paris-gb200 scaled to N racks (`python bench/run.py --only controller`).

The playbook has the plays of the stages that site.yml's host-task counts cover (results.json's
`site_host_tasks`: measured host-tasks per compute node and per BMC host, and the stages they were counted
over), each play under its real name and host pattern (so the per-stage tally attributes it), with
`connection: local`, no facts, no `serial`, and `ansible.builtin.debug` tasks: an action plugin that runs in
Ansible's worker and touches nothing. A BMC play gets the BMC host's tasks; the node stages share the compute
node's tasks evenly (a GB200 node runs one of the drivers stage's plays). A sampled run keeps 1 in 1/fraction
of each kind. Each run is `bench/controller_child.py` (run_bringup under a CPU sampler) as a child process whose
wall time, CPU and peak RSS are its own wait4 rusage; ansible-playbook's own CPU (its main loop, one process
whatever the cores) comes from a bench-only callback (callback_plugins/main_loop_rusage.py). A sampled size is
run at two fractions and each figure extrapolated along the line through them to the full host-task count.
The largest size's inventory is also run limited (`--limit`) to its first rack with every task: the same
host-tasks as the 1-rack site, in an inventory 100 times its size, which says whether the cost per host-task
follows the inventory or the hosts in the run.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import yaml

from aifactory.node.stage_tally import VALIDATE
from bench.measure import REPO, run_child
from bench.specs import scaled_plan_site

PLAYBOOKS = REPO / "playbooks"
CHILD = Path(__file__).resolve().parent / "controller_child.py"
CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"  # main_loop_rusage: ansible-playbook's own CPU
BMC_GROUPS = frozenset({"bmcs", "node_bmcs", "switch_tray_bmcs"})
NOOP_MESSAGE = "controller bench stand-in task {n}: touches nothing"
# Secrets a real bring-up has in its environment (group_vars/all/secrets.yml), so masking runs as it does there.
STAND_IN_SECRETS = {name: f"bench-stand-in-{name.lower()}" for name in (
    "AIFACTORY_BMC_PASSWORD", "AIFACTORY_SSM_ACTIVATION_CODE", "AIFACTORY_MUNGE_KEY", "AIFACTORY_SLURMDBD_DB_PASSWORD")}
# Extrapolated from sampled runs; wall time is not: on shared cores it follows the machine's other work.
FIGURES = ("cpu_s", "project_cpu_s", "parent_cpu_s", "main_loop_cpu_s")


def stage_plays(stages: list[str]) -> list[dict]:
    """{stage, name, hosts, bmc} of each play in the stages' playbooks, in stage order."""
    plays = []
    for stage in stages:
        for play in yaml.safe_load((PLAYBOOKS / f"{stage}.yml").read_text()) or []:
            if isinstance(play, dict) and play.get("hosts") and stage != VALIDATE:
                plays.append({"stage": stage, "name": play["name"], "hosts": play["hosts"],
                              "bmc": play["hosts"] in BMC_GROUPS})
    return plays


def sampled(count: int, fraction: float) -> int:
    """1 in 1/fraction of `count` tasks, at least one."""
    return max(1, round(count * fraction))


def with_tasks(plays: list[dict], per_node: int, per_bmc: int) -> list[dict]:
    """The plays with their task counts: each BMC play per_bmc; per_node shared evenly by the node stages (the
    first stages take the remainder), every play of a stage getting its stage's share."""
    node_stages = list(dict.fromkeys(p["stage"] for p in plays if not p["bmc"]))
    share, extra = divmod(per_node, len(node_stages)) if node_stages else (0, 0)
    of_stage = {stage: share + (i < extra) for i, stage in enumerate(node_stages)}
    return [{**p, "tasks": per_bmc if p["bmc"] else of_stage[p["stage"]]} for p in plays]


def playbook(plays: list[dict]) -> list[dict]:
    """The no-op playbook: each play its real name and hosts, local connection, no facts, debug tasks."""
    return [{"name": p["name"], "hosts": p["hosts"], "connection": "local", "gather_facts": False,
             "tasks": [{"name": f"No-op {n + 1}", "ansible.builtin.debug": {"msg": NOOP_MESSAGE.format(n=n + 1)}}
                       for n in range(p["tasks"])]} for p in plays]


def line_through(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line through (x, y) points with at least two distinct x."""
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        raise ValueError("extrapolation needs runs at two different host-task counts")
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    return my - slope * mx, slope


def extrapolate(runs: list[dict], key: str, host_tasks: int) -> float:
    """runs[*][key] along the line through (host_tasks, key) of the runs, at `host_tasks`."""
    intercept, slope = line_through([(r["host_tasks"], r[key]) for r in runs])
    return intercept + slope * host_tasks


def _run(site: Path, plays: list[dict], work: Path, label: str, limit: str | None = None) -> dict:
    """One child run of the no-op playbook (limited to `limit`, an Ansible host pattern); its figures, the
    child's own report merged in."""
    book, out, artifacts = work / f"{label}.yml", work / f"{label}.json", work / f"artifacts-{label}"
    main_loop = work / f"{label}-main-loop.json"
    book.write_text(yaml.safe_dump(playbook(plays), sort_keys=False))
    env = {"AIFACTORY_STATE_DIR": str(work / "state"), "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(work / "facts"),
           "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS), "ANSIBLE_CALLBACKS_ENABLED": "main_loop_rusage",
           "AIFACTORY_BENCH_MAIN_LOOP_OUT": str(main_loop), **STAND_IN_SECRETS}
    try:
        s = run_child([sys.executable, str(CHILD), str(site), str(book), str(artifacts), str(out),
                       *([limit] if limit else [])], env)
        if s.rc != 0:
            raise RuntimeError(f"the controller bench's bring-up of {site} exited {s.rc}: {s.stderr.strip()[-600:]}")
        child, ansible = json.loads(out.read_text()), json.loads(main_loop.read_text())
    finally:
        shutil.rmtree(artifacts, ignore_errors=True)  # one job_events file per event: tens of thousands
    project_cpu = child["parent_cpu_s"] * child["project_samples"] / max(child["samples"], 1)
    return {"host_tasks": child["host_tasks"], "node_hosts": child["node_hosts"], "bmc_hosts": child["bmc_hosts"],
            "wall_s": round(s.wall_s, 2), "cpu_s": round(s.cpu_s, 2), "parent_cpu_s": round(child["parent_cpu_s"], 2),
            "sys_cpu_s": round(s.sys_cpu_s, 2), "minor_faults": s.minor_faults,
            "project_cpu_s": round(project_cpu, 3), "main_loop_cpu_s": round(ansible["cpu_s"], 2),
            "main_loop_max_rss_mb": round(ansible["max_rss_mb"]), "max_rss_mb": round(s.max_rss_mb),
            "parent_max_rss_mb": round(child["parent_max_rss_mb"]), "machine_busy_cores": round(s.machine_busy_cores, 2),
            "stage_tasks": child["stage_tasks"], "project_top": child["project_top"]}


def row(racks: int, runs: list[dict], per_node: int, per_bmc: int, fractions: list[float]) -> dict:
    """One size's figures: measured when it ran in full (one run), extrapolated from sampled runs otherwise."""
    first = runs[0]
    full = first["node_hosts"] * per_node + first["bmc_hosts"] * per_bmc
    out = {"racks": racks, "node_hosts": first["node_hosts"], "bmc_hosts": first["bmc_hosts"], "host_tasks": full,
           "sample_fractions": fractions, "runs": runs, "extrapolated": fractions != [1.0]}
    if out["extrapolated"]:
        figures = {key: extrapolate(runs, key, full) for key in FIGURES}
        out["max_rss_mb"] = round(max(extrapolate(runs, "max_rss_mb", full), max(r["max_rss_mb"] for r in runs)))
        out["parent_max_rss_mb"] = round(max(extrapolate(runs, "parent_max_rss_mb", full),
                                             max(r["parent_max_rss_mb"] for r in runs)))
    else:
        if first["host_tasks"] != full:
            raise RuntimeError(f"{racks} racks ran {first['host_tasks']} host-tasks, not the {full} of its shape")
        figures = {key: first[key] for key in FIGURES}
        out["max_rss_mb"], out["parent_max_rss_mb"] = first["max_rss_mb"], first["parent_max_rss_mb"]
        out["wall_s"] = first["wall_s"]
    out.update({key: round(value, 2) for key, value in figures.items()})
    out["cpu_ms_per_host_task"] = round(1000 * figures["cpu_s"] / full, 3)
    out["main_loop_ms_per_host_task"] = round(1000 * figures["main_loop_cpu_s"] / full, 3)
    out["project_share"] = round(figures["project_cpu_s"] / figures["cpu_s"], 4)
    return out


def first_rack_pattern(site: str) -> str:
    """The Ansible host pattern of rack 1's hosts: its nodes, their BMCs and its switch trays' BMCs."""
    return f"~^{site}-r001-"


def limited_row(inventory_racks: int, limit: str, run: dict) -> dict:
    """The run limited to rack 1 of an `inventory_racks`-rack inventory: its cost per host-task."""
    return {"inventory_racks": inventory_racks, "limit": limit, **run,
            "cpu_ms_per_host_task": round(1000 * run["cpu_s"] / run["host_tasks"], 3),
            "main_loop_ms_per_host_task": round(1000 * run["main_loop_cpu_s"] / run["host_tasks"], 3)}


def by_racks(full: list[int], sampled_racks: dict[int, list[float]], site_tasks: dict, work: Path, progress,
             limited: bool = True) -> dict:
    """Each size in `full` run whole once; each size in `sampled_racks` run at its sample fractions and
    extrapolated; with `limited`, the largest size's inventory run once more with every task, limited to its
    first rack. site_tasks: results.json's site_host_tasks (per_node, per_bmc, stages, source)."""
    per_node, per_bmc = round(site_tasks["per_node"]), round(site_tasks["per_bmc"])
    plays = stage_plays(site_tasks["stages"].split(","))
    sizes = [*((n, [1.0]) for n in full), *sampled_racks.items()]
    largest = max(racks for racks, _ in sizes)
    rows, limited_to_one = [], None
    for racks, fractions in sizes:
        f = scaled_plan_site(racks, work / f"controller-{racks}r")
        runs = []
        for fraction in fractions:
            shape = with_tasks(plays, sampled(per_node, fraction), sampled(per_bmc, fraction))
            progress(f"controller: {racks} racks, {fraction:g} of the tasks")
            runs.append(_run(f.site_dir, shape, work, f"controller-{racks}r-{fraction:g}"))
        rows.append(row(racks, runs, per_node, per_bmc, fractions))
        if limited and racks == largest and largest > 1:
            progress(f"controller: {racks} racks' inventory, the run limited to rack 1, every task")
            limit = first_rack_pattern(f.name)
            run = _run(f.site_dir, with_tasks(plays, per_node, per_bmc), work, f"controller-{racks}r-rack1", limit=limit)
            limited_to_one = limited_row(racks, limit, run)
        shutil.rmtree(f.site_dir, ignore_errors=True)
    return {"per_node": per_node, "per_bmc": per_bmc, "stages": site_tasks["stages"], "source": site_tasks["source"],
            "plays": len(plays), "rows": rows, "limited_to_one_rack": limited_to_one}
