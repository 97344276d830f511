"""Plan cost: `aifactory plan` (make_plan: moto in its worker process) and the same program under
bare Pulumi mocks.

Each sample is `bench/plan_child.py` in its own process; moto and bare runs alternate, so the
ratio of their medians is taken in the same run on the same machine state.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.measure import REPO, run_child, spread
from bench.specs import lab_site, scaled_plan_site

CHILD = REPO / "bench" / "plan_child.py"
SCALED_PROGRAM = REPO / "bench" / "programs" / "scaled"
RESOURCES_PER_COPY = 3  # the scaled program declares a VPC, a security group and a role per copy


def _sample(mode: str, site: Path, program: Path | None, env: dict | None) -> dict:
    cmd = [sys.executable, str(CHILD), mode, str(site)] + (["--program", str(program)] if program else [])
    s = run_child(cmd, env)
    if s.rc != 0:
        raise RuntimeError(f"plan ({mode}) of {site} exited {s.rc}: {s.stderr.strip()[-600:]}")
    out = json.loads(s.stdout)
    if out["errors"]:
        raise RuntimeError(f"plan ({mode}) of {site} had errors: {out['errors']}")
    return {"wall_s": s.wall_s, "plan_s": out["plan_seconds"], "cpu_s": s.cpu_s, "max_rss_mb": out["peak_rss_mb"],
            "resources": out["resources"]}


def _compare(site: Path, repeats: int, program: Path | None = None, env: dict | None = None) -> dict:
    samples = {"moto": [], "bare": []}
    for _ in range(repeats):
        for mode in samples:
            samples[mode].append(_sample(mode, site, program, env))
    result = {}
    for mode, runs in samples.items():
        result[mode] = {key: spread([r[key] for r in runs]) for key in ("wall_s", "plan_s", "cpu_s", "max_rss_mb")}
        result[mode]["resources"] = runs[0]["resources"]
    for key in ("wall_s", "plan_s", "cpu_s"):  # cpu_s: the worker's CPU is in the moto side's
        result[f"moto_over_bare_{key}"] = round(result["moto"][key]["median"] / result["bare"][key]["median"], 2)
    return result


def by_racks(racks: list[int], repeats_for, work: Path, progress) -> list[dict]:
    """The project's infra/ on paris-gb200 scaled to each rack count."""
    rows = []
    for n in racks:
        repeats = repeats_for(n)
        factory = scaled_plan_site(n, work / f"plan-{n}r")
        progress(f"plan: {n} racks ({factory.node_count} nodes), {repeats} x (moto, bare)")
        rows.append({"racks": n, "nodes": factory.node_count, **_compare(factory.site_dir, repeats)})
    return rows


def by_resources(copies: list[int], repeats_for, work: Path, progress) -> list[dict]:
    """bench/programs/scaled with K copies (3K resources), planned against the 1-rack site."""
    site = scaled_plan_site(1, work / "plan-1r").site_dir
    rows = []
    for k in copies:
        repeats = repeats_for(k)
        progress(f"plan: scaled program, {k} copies ({k * RESOURCES_PER_COPY} resources), {repeats} x (moto, bare)")
        rows.append({"copies": k, **_compare(site, repeats, SCALED_PROGRAM, {"AIFACTORY_BENCH_COPIES": str(k)})})
    return rows


def marginal_costs(rows: list[dict], mode: str) -> list[dict]:
    """Seconds of plan per added resource between consecutive sizes: flat means linear."""
    out = []
    for small, big in zip(rows, rows[1:]):
        added = big[mode]["resources"] - small[mode]["resources"]
        seconds = big[mode]["plan_s"]["median"] - small[mode]["plan_s"]["median"]
        out.append({"from": small[mode]["resources"], "to": big[mode]["resources"],
                    "ms_per_resource": round(1000 * seconds / added, 2)})
    return out


def moto_breakdown(copies: int) -> dict:
    """One run of bench/moto_probe.py: moto's first-use set-up per service, and per-call handler times
    over the first and last 100 of `copies` copies (a diagnostic: n=1)."""
    s = run_child([sys.executable, str(REPO / "bench" / "moto_probe.py"), str(copies)])
    if s.rc != 0:
        raise RuntimeError(f"moto_probe exited {s.rc}: {s.stderr.strip()[-600:]}")
    return json.loads(s.stdout)


def _cli_plan(sites: list[Path]) -> dict:
    """`aifactory plan SITE...` as a user runs it: one process, its wall time, CPU (workers included) and
    the resources it planned."""
    s = run_child([sys.executable, "-m", "aifactory.cli", "plan", *map(str, sites), "--format", "json"])
    if s.rc not in (0, 1):  # 1: a control failed (SOV-15: the generated stacks have no Pulumi.<stack>.yaml)
        raise RuntimeError(f"plan of {len(sites)} site(s) exited {s.rc}: {s.stderr.strip()[-600:]}")
    report = json.loads(s.stdout)
    plans = report["sites"] if len(sites) > 1 else [report]
    errors = [e for p in plans for e in p["errors"]]
    if errors:
        raise RuntimeError(f"plan of {len(sites)} site(s) had errors: {errors[:5]}")
    return {"wall_s": s.wall_s, "cpu_s": s.cpu_s, "resources": sum(p["summary"]["resources"] for p in plans)}


def many_sites(count: int, repeats: int, work: Path, progress) -> dict:
    """`count` lab sites (lab-b200 copies, each its own name) planned in one run against the first alone;
    the two alternate run by run. An extra site costs (together - lone) / (count - 1)."""
    sites = [lab_site(3 + i, work / f"sites-{i}").site_dir for i in range(count)]
    progress(f"plan: {count} sites in one run against one alone, {repeats} x (lone, together)")
    samples = {"lone": [], "together": []}
    for _ in range(repeats):
        samples["lone"].append(_cli_plan(sites[:1]))
        samples["together"].append(_cli_plan(sites))
    result = {"sites": count, "resources": {mode: runs[0]["resources"] for mode, runs in samples.items()}}
    for mode, runs in samples.items():
        result[mode] = {key: spread([r[key] for r in runs]) for key in ("wall_s", "cpu_s")}
    for key in ("wall_s", "cpu_s"):
        extra = (result["together"][key]["median"] - result["lone"][key]["median"]) / (count - 1)
        result[f"extra_site_{key}"] = round(extra, 3)
        result[f"extra_over_lone_{key}"] = round(extra / result["lone"][key]["median"], 2)
    return result
