"""`make bench`: measure plan, inventory, bring-up, controller and rehearsal cost as the factory grows, and `make test`'s.

    python bench/run.py                       # everything; writes bench/results.json and bench/RESULTS.md
    python bench/run.py --only plan,inventory # no lab (bring-up is recorded as skipped, with the reason)
    python bench/run.py --render              # rewrite RESULTS.md from results.json only
    python bench/run.py --only plan-sites --update  # one part again, the others' figures kept
    python bench/run.py --only rehearsal --rehearsal-sites lab-b200 --update  # one site's rehearsal again
    python bench/run.py --only make-test --make-test-junit test-results --update  # after `make test`: its parts' times
    python bench/run.py --only controller --update  # the controller at 1, 10 and 100 racks (no-op tasks, no lab)
    python bench/run.py --only install --update  # cold installs of what `make demo` needs: pip against uv (PyPI)

Every figure is the median of --repeats runs (--plan-repeats for plans, --large-repeats for the
largest size of each sweep)
with its min and max; ratios are of medians taken in the same run.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a fresh clone

from bench import (bringup_cost, controller_cost, install_cost, inventory_cost, make_test_cost, plan_cost,  # noqa: E402
                   rehearsal_cost)
from bench.report import render  # noqa: E402

HERE = Path(__file__).resolve().parent
PARTS = ("plan", "plan-sites", "inventory", "bringup", "controller", "rehearsal", "make-test", "install")  # make-test reads --make-test-junit
# what describes a whole run rather than a part's figures
RUN_KEYS = ("date", "machine", "versions", "repeats", "plan_repeats", "large_repeats", "skipped", "bench_seconds")
PACKAGES = ("pulumi", "pulumi-aws", "moto", "boto3", "ansible-core", "ansible-runner", "pydantic")


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")))
    import os
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 2**20, 1), "kernel": platform.release(),
            "python": platform.python_version(), "load_at_start": list(os.getloadavg())}


def sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def sampled_sizes(text: str) -> dict[int, list[float]]:
    """'10=0.05+0.1,100=0.01+0.02' -> {10: [0.05, 0.1], 100: [0.01, 0.02]}: racks and their sample fractions."""
    out = {}
    for item in filter(None, text.split(",")):
        racks, _, fractions = item.partition("=")
        values = [float(x) for x in fractions.split("+")]
        if len(set(values)) < 2 or not all(0 < x <= 1 for x in values):
            raise argparse.ArgumentTypeError(f"{item!r}: give racks=F1+F2, two different fractions in (0, 1]")
        out[int(racks)] = values
    return out


def _kept(out: Path) -> dict:
    """The results.json in `out`, or nothing."""
    path = out / "results.json"
    return json.loads(path.read_text()) if path.exists() else {}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", help=f"comma-separated parts: {','.join(PARTS)} (default: all of them)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--plan-repeats", type=int, default=5, help="runs of each plan size (plans are short and noisy)")
    p.add_argument("--large-repeats", type=int, default=2, help="runs of the largest size of each sweep")
    p.add_argument("--racks", type=sizes, default=[1, 16, 128, 1024])
    p.add_argument("--copies", type=sizes, default=[10, 100, 1000], help="copies in the scaled program (3 resources each)")
    p.add_argument("--lab-nodes", type=sizes, default=[1, 3, 8])
    p.add_argument("--controller-racks", type=sizes, default=[1], help="controller: sizes run with every task")
    # The two fractions far apart: the slope between them is the cost of a host-task at that size, and two runs
    # of 1 and 2 tasks per node (1,800 host-tasks apart at 100 racks) left it to the noise of shared cores.
    p.add_argument("--controller-sampled", type=sampled_sizes, default=sampled_sizes("10=0.05+0.2,100=0.01+0.05"),
                   help="controller: sizes run with a sample of the tasks at two fractions each and extrapolated,"
                        " as RACKS=F1+F2,... (default 10=0.05+0.2,100=0.01+0.05)")
    p.add_argument("--out", type=Path, default=HERE)
    p.add_argument("--sites", type=int, default=3, help="sites planned in one run (plan-sites)")
    p.add_argument("--site-run", type=Path, metavar="RUN_DIR",
                   help="a bring-up run directory of the whole site.yml (a rehearsal's first bring-up): its host-tasks"
                        " per node and per BMC go into the capacity note")
    p.add_argument("--rehearsal-sites", default=",".join(rehearsal_cost.SITES),
                   help="comma-separated sites rehearsed once each (rehearsal)")
    p.add_argument("--make-test-junit", type=Path, metavar="DIR",
                   help="the folder where `make test` wrote its JUnit reports (test-results): unit.xml and scenarios.xml,"
                        " its unit and lab parts' times (the make-test part)")
    p.add_argument("--render", action="store_true", help="only rewrite RESULTS.md from results.json")
    p.add_argument("--update", action="store_true",
                   help="keep the figures of the parts not measured now from results.json (the header is this run's)")
    args = p.parse_args(argv)
    if args.render:
        (args.out / "RESULTS.md").write_text(render(json.loads((args.out / "results.json").read_text())))
        return 0
    only = set((args.only or ",".join(PARTS)).split(","))
    if only - set(PARTS):
        p.error(f"unknown part(s) {', '.join(sorted(only - set(PARTS)))}; parts are {', '.join(PARTS)}")
    if args.only and "make-test" in only and not args.make_test_junit:
        p.error("--only make-test reads `make test`'s JUnit reports: give their folder with --make-test-junit DIR")
    try:  # read before any part runs: a missing report fails in a second, not after the labs
        make_test = make_test_cost.make_test(args.make_test_junit) if args.make_test_junit else None
    except ValueError as e:
        p.error(f"--make-test-junit: {e}")

    def repeats_of(series: list[int], repeats: int | None = None):
        return lambda n: args.large_repeats if n == max(series) and len(series) > 1 else (repeats or args.repeats)

    def progress(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    started = time.monotonic()
    results = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
               "versions": {name: version(name) for name in PACKAGES}, "repeats": args.repeats,
               "plan_repeats": args.plan_repeats, "large_repeats": args.large_repeats, "skipped": {}}
    with tempfile.TemporaryDirectory(prefix="aifactory-bench-") as tmp:
        work = Path(tmp)
        if "plan" in only:
            # every rack count plans the same 75 resources, so the largest is as cheap: no fewer runs for it
            results["plan_by_racks"] = plan_cost.by_racks(args.racks, lambda n: args.plan_repeats, work, progress)
            rows = plan_cost.by_resources(args.copies, repeats_of(args.copies, args.plan_repeats), work, progress)
            results["plan_by_resources"] = {"rows": rows, "moto_marginal": plan_cost.marginal_costs(rows, "moto"),
                                            "bare_marginal": plan_cost.marginal_costs(rows, "bare")}
            progress(f"plan: where moto's time goes ({max(args.copies)} copies, one diagnostic run)")
            results["moto_breakdown"] = plan_cost.moto_breakdown(max(args.copies))
        if "plan-sites" in only:
            results["plan_many_sites"] = plan_cost.many_sites(args.sites, args.plan_repeats, work, progress)
        if "inventory" in only:
            results["inventory_by_racks"] = inventory_cost.by_racks(args.racks, repeats_of(args.racks), work, progress)
        if "bringup" in only:
            reason = bringup_cost.skip_reason()
            if reason:
                results["skipped"]["bringup"] = reason
            else:
                results["bringup_by_nodes"] = bringup_cost.by_nodes(args.lab_nodes, repeats_of(args.lab_nodes), work, progress)
                results["module_probe"] = bringup_cost.module_floor(work, progress)
        else:
            results["skipped"]["bringup"] = "not asked for (--only)"
        if "controller" in only:
            site_tasks = results.get("site_host_tasks") or _kept(args.out).get("site_host_tasks")
            if site_tasks:
                results["controller_cost"] = controller_cost.by_racks(args.controller_racks, args.controller_sampled,
                                                                      site_tasks, work, progress)
            else:
                results["skipped"]["controller"] = ("no host-task counts of site.yml: run with --site-run DIR once"
                                                    " (its site_host_tasks are kept in results.json)")
        if "rehearsal" in only:
            reason = bringup_cost.skip_reason()
            if reason:
                results["skipped"]["rehearsal"] = reason
            else:
                results["rehearsal"] = rehearsal_cost.by_site(args.rehearsal_sites.split(","), bringup_cost.AIFACTORY,
                                                              progress)
        if make_test:
            results["make_test"] = make_test
        if "install" in only:
            results["install"] = install_cost.measure(repeats=args.repeats, progress=progress)
        if args.site_run:
            results["site_host_tasks"] = {**bringup_cost.site_host_tasks(args.site_run),
                                          "source": f"the bring-up run {args.site_run.name} of {args.site_run.parent.name}"}
    results["bench_seconds"] = round(time.monotonic() - started)
    if args.update and (args.out / "results.json").exists():
        # this run's figures join the earlier run's, each with the date and machine load it was measured at
        kept = json.loads((args.out / "results.json").read_text())
        if "make_test" in results:
            kept.pop("lab_suite", None)  # an older bench's lab part alone, which make_test replaces
        if "rehearsal" in results and "rehearsal" in kept:  # the sites not rehearsed now keep their figures
            results["rehearsal"]["sites"] = {**kept["rehearsal"]["sites"], **results["rehearsal"]["sites"]}
        when = {"date": results["date"], "load_at_start": results["machine"]["load_at_start"]}
        kept.update({key: {**value, "measured": when} if isinstance(value, dict) else value
                     for key, value in results.items() if key not in RUN_KEYS})
        results = kept
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "RESULTS.md").write_text(render(results))
    progress(f"wrote {args.out / 'results.json'} and {args.out / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
