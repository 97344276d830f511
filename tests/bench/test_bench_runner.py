"""The benchmark runner's pure parts: generated specs, statistics, marginal costs, RESULTS.md rendering,
and the per-child rusage. No wall-clock figure is asserted anywhere."""

from __future__ import annotations

import json
import sys

import pytest

from aifactory.spec import load_spec
from bench import plan_cost
from bench.bringup_cost import site_host_tasks
from bench.measure import run_child, spread
from bench.report import render
from bench.specs import LAB_HOST_CIDR, WIDE_VPC, lab_site, scaled_plan_site


@pytest.mark.parametrize("racks", [1, 16, 1024])
def test_scaled_site_validates_with_all_its_nodes(tmp_path, racks):
    f = scaled_plan_site(racks, tmp_path / "site")
    again = load_spec(tmp_path / "site")  # what is on disk, not what the generator returned
    assert again.compute.racks == racks
    assert again.node_count == racks * 18  # GB200 NVL72: 18 compute trays per rack
    assert again.hybrid_link.vpc_cidr == WIDE_VPC
    assert again.power_kw <= again.facility.power_budget_kw
    assert (tmp_path / "site" / "aifactory.yml").is_file()
    assert f.trust_anchor_path.is_file() and f.trust_anchor_path.is_relative_to(tmp_path)


def test_lab_site_has_its_own_name_and_network(tmp_path):
    f = lab_site(8, tmp_path / "lab")
    assert f.node_count == 8 and f.name == "bench-lab8"
    assert f.network.host_cidr == LAB_HOST_CIDR
    assert LAB_HOST_CIDR not in {load_spec(f"inventories/{s}").network.host_cidr for s in ("lab-b200", "lab-gb200")}
    assert all(n.address.startswith("10.79.1.") for n in f.nodes)


def test_spread_is_median_min_max_and_count():
    assert spread([3.0, 1.0, 2.0, 10.0]) == {"median": 2.5, "min": 1.0, "max": 10.0, "runs": 4}
    assert spread([0.12345], 2) == {"median": 0.12, "min": 0.12, "max": 0.12, "runs": 1}
    with pytest.raises(ValueError):
        spread([])


def test_run_child_reads_that_childs_own_peak_memory_and_exit_code():
    big = run_child([sys.executable, "-c", "x = bytearray(1024 * 2**20); x[::4096] = b'1' * len(x[::4096])"])
    small = run_child([sys.executable, "-c", "import sys; print('hi'); sys.exit(3)"])
    assert big.rc == 0 and big.max_rss_mb >= 1024
    # Not the earlier child's peak (RUSAGE_CHILDREN would report 1 GB+ again). A child's reading is
    # at least this test process's size at fork (a few hundred MB late in the suite), so compare the two.
    assert small.rc == 3 and small.stdout == "hi\n" and small.max_rss_mb < big.max_rss_mb - 200


def _row(resources: int, moto_s: float, bare_s: float) -> dict:
    return {mode: {"resources": resources, "plan_s": spread([s])} for mode, s in (("moto", moto_s), ("bare", bare_s))}


def test_marginal_cost_is_seconds_per_added_resource():
    rows = [_row(30, 3.0, 0.5), _row(300, 6.0, 1.0), _row(3000, 60.0, 8.0)]
    assert plan_cost.marginal_costs(rows, "moto") == [
        {"from": 30, "to": 300, "ms_per_resource": 11.11}, {"from": 300, "to": 3000, "ms_per_resource": 20.0}]


def _results(defaults_first: float, tuned_first: float, tuned_again: float) -> dict:
    s = spread

    def run(wall: float, changed: int) -> dict:  # controller CPU half the wall time, nodes as much again
        return {"wall_s": s([wall]), "cpu_s": s([wall / 2]), "nodes_cpu_s": s([wall / 2]), "total_cpu_s": s([wall]),
                "machine_busy_cores": s([1.9]), "cpu_ms_per_host_task": s([80.0]), "node_cpu_ms_per_host_task": s([120.0]),
                "host_tasks": 400, "changed": s([changed], 0)}

    side = lambda first, again: {"first": run(first, 12), "again": run(again, 0),  # noqa: E731
                                 "rerun_over_first": round(again / first, 2)}
    return {
        "date": "2026-11-22T00:00:00+00:00", "bench_seconds": 1,
        "machine": {"cpu": "Test CPU", "cores": 2, "memory_gb": 8.0, "kernel": "6.1", "python": "3.11.7",
                    "load_at_start": [0.5, 0.4, 0.3]},
        "versions": {"moto": "5.2.5"}, "repeats": 3, "large_repeats": 2, "skipped": {},
        "plan_by_racks": [{"racks": 1, "nodes": 18, "moto": {"resources": 75, "plan_s": s([6.5, 6.0, 7.0]),
                           "wall_s": s([7.0]), "cpu_s": s([9.0]), "max_rss_mb": s([480.0])},
                           "bare": {"resources": 75, "plan_s": s([1.6]), "wall_s": s([2.0]), "cpu_s": s([2.0]),
                                    "max_rss_mb": s([190.0])},
                           "moto_over_bare_plan_s": 4.06, "moto_over_bare_wall_s": 3.5, "moto_over_bare_cpu_s": 4.5}],
        "inventory_by_racks": [{"racks": 1024, "hosts": 46080, "wall_s": s([55.0, 56.0]), "max_rss_mb": s([1700.0])}],
        "bringup_by_nodes": [{"nodes": 8, "tuned": side(tuned_first, tuned_again),
                              "defaults": side(defaults_first, defaults_first),
                              "defaults_over_tuned_first_wall_s": round(defaults_first / tuned_first, 2),
                              "defaults_over_tuned_first_total_cpu_s": round(defaults_first / tuned_first, 2)}],
        "module_probe": {"runs": 10, "ssh_exec_ms": 15.0, "sudo_ms": 5.0, "python_start_ms": 12.0, "module_ms": 300.0,
                         "module_with_sudo_ms": 340.0, "module_utils_basic_import_ms": 250.0},
        "moto_breakdown": {"copies": 1000, "setup_s": {"iam": 2.0, "ec2": 1.0},
                           "per_call_ms": {"vpc": {"first_ms": 2.5, "last_ms": 3.7},
                                           "vpc_describes_before": {"first_ms": 10.0, "last_ms": 30.0}}},
    }


def test_results_md_shows_figures_with_spread_and_target_verdicts():
    md = render(_results(defaults_first=50.0, tuned_first=20.0, tuned_again=5.0))
    assert "6.50 s (6.00-7.00, n=3)" in md  # the median with its min and max and run count
    assert "| 1024 | 46080 | 55.50 s (55.00-56.00, n=2) | 1.2 |" in md
    assert "moto layer under 1.5x bare mocks (infra/): worst 4.06x -> MISSED" in md
    assert "defaults/tuned = 2.5 in wall time (2.5 in CPU, controller + nodes) -> met" in md
    assert "idempotent re-run under a third of the first run (8 nodes, tuned): 0.25 -> met" in md
    # the missed moto target is explained from the run's own figures: 4.9 s gap, 3.0 s of set-up, CPU ratio
    assert "moto adds 4.9 s to a 1.6 s bare plan. The worker sets up moto's services (3.0 s in one process" in md
    assert "this run's CPU ratio is 4.5x" in md
    assert "the moto side uses 4.5-4.5x the CPU of bare mocks" in md
    assert "| iam | 2.00 s |" in md


def test_results_md_reports_missed_bringup_targets_and_skips():
    md = render(_results(defaults_first=21.0, tuned_first=20.0, tuned_again=19.0))
    assert "defaults/tuned = 1.05 in wall time" in md and "0.95 -> MISSED" in md
    assert "same 2 cores as the controller, which were 1.9 cores busy" in md  # quotes the measured load
    assert "50% of the CPU is the nodes' own (120 ms per host-task" in md
    assert "400 host-tasks at 120 ms of node CPU and 80 ms of controller CPU each" in md
    # the node-side floor is quoted from the module probe
    assert "A module run alone costs a node 340 ms here, 250 ms of it importing ansible.module_utils.basic" in md
    assert "| of which importing ansible.module_utils.basic from the payload's zip (`python -X importtime`) | 250.0 |" in md
    skipped = _results(50.0, 20.0, 5.0)
    del skipped["bringup_by_nodes"]
    skipped["skipped"]["bringup"] = "the lab needs root"
    md = render(skipped)
    assert "Skipped: the lab needs root." in md
    assert "Needs the controller part, the lab bring-up part (section 3)" in md  # no capacity from nothing


def test_linearity_verdict_and_its_explanation_come_from_the_marginal_costs():
    results = _results(50.0, 20.0, 5.0)
    rows = [_row(30, 3.0, 0.5), _row(300, 6.0, 1.0), _row(3000, 60.0, 8.0)]
    results["plan_by_resources"] = {"rows": [{"copies": k, **row, "moto_over_bare_plan_s": 1.0} for k, row in
                                             zip((10, 100, 1000), rows)],
                                    "moto_marginal": plan_cost.marginal_costs(rows, "moto"),
                                    "bare_marginal": plan_cost.marginal_costs(rows, "bare")}
    for row in results["plan_by_resources"]["rows"]:
        row["moto"]["max_rss_mb"] = spread([300.0])
    md = render(results)
    assert "no faster than linear (moto): marginal cost grew 1.8x from the first to the last step -> MISSED" in md
    assert "no faster than linear (bare): marginal cost grew 1.4x from the first to the last step -> met" in md
    assert "the first and last 100 copies: vpc 2.5 -> 3.7 ms" in md  # quoted from the probe's figures


def _with_mitogen(results: dict, first: float, again: float, node_ms: float, differences: list[str] = ()) -> dict:
    """The results with a Mitogen side: wall times, node CPU per host-task, and its task-by-task comparison."""
    x = results["bringup_by_nodes"][-1]

    def run(wall: float, changed: int) -> dict:
        return {**x["tuned"]["first"], "wall_s": spread([wall]), "cpu_ms_per_host_task": spread([60.0]),
                "node_cpu_ms_per_host_task": spread([node_ms]), "changed": spread([changed], 0)}

    x["mitogen"] = {"first": run(first, 12), "again": run(again, 0), "rerun_over_first": round(again / first, 2)}
    tuned_first, tuned_again = x["tuned"]["first"]["wall_s"]["median"], x["tuned"]["again"]["wall_s"]["median"]
    defaults_first = x["defaults"]["first"]["wall_s"]["median"]
    x.update({"defaults_over_mitogen_first_wall_s": round(defaults_first / first, 2),
              "defaults_over_mitogen_first_total_cpu_s": round(defaults_first / first, 2),
              "tuned_over_mitogen_first_wall_s": round(tuned_first / first, 2),
              "tuned_over_mitogen_again_wall_s": round(tuned_again / again, 2),
              "mitogen_over_tuned_first_node_cpu_per_host_task": round(node_ms / 120.0, 2),
              "mitogen_over_tuned_again_node_cpu_per_host_task": round(node_ms / 120.0, 2),
              "strategy_equality": {"runs_compared": 4, "differences": len(differences), "shown": list(differences)}})
    return results


def test_results_md_gives_the_mitogen_side_its_targets():
    results = _with_mitogen(_results(defaults_first=50.0, tuned_first=20.0, tuned_again=8.0),
                            first=10.0, again=3.0, node_ms=48.0)
    md = render(results)
    assert "| 8 | mitogen | 10.0 s (10.0-10.0, n=1) | 3.0 s (3.0-3.0, n=1) | 0.3 |" in md
    assert "accelerated (Mitogen) at least 2.0x faster than defaults at 8 nodes: defaults/mitogen = 5.0" in md
    assert "idempotent re-run under a third of the first run (8 nodes, mitogen): 0.3 -> met" in md
    assert "mitogen/tuned = 0.4 on the first run, 0.4 on the re-run -> met" in md
    assert "Mitogen's per-task results the same as the standard strategy's: 4 runs compared at 8 nodes, 0 differences -> met" in md
    assert "| 8 | 4 | 0 | 0.5 | 0.38 | 0.4, 0.4 |" in md  # the comparison table: wall ratios, node CPU ratios
    assert "Mitogen against defaults" not in md  # no target missed, nothing to explain


def test_missed_mitogen_targets_and_differences_are_named():
    diff = ["first run: n01: play 'Stage 2', task 'os_baseline : Install chrony': ok, changed in the linear run, ok in the mitogen"]
    md = render(_with_mitogen(_results(defaults_first=22.0, tuned_first=20.0, tuned_again=12.0),
                              first=18.0, again=9.0, node_ms=100.0, differences=diff))
    assert "defaults/mitogen = 1.22 in wall time" in md and "-> MISSED" in md
    assert "Mitogen's per-task results the same as the standard strategy's: 4 runs compared at 8 nodes, 1 differences -> MISSED" in md
    assert f"- {diff[0]}" in md
    assert "Mitogen against defaults at 8 nodes is 1.22x in wall time" in md
    assert "the re-run with Mitogen takes 0.5x its first run (9.0 s against 12.0 s" in md
    assert "node CPU per host-task with Mitogen is 0.83x the standard strategy's on the first run (100 against 120 ms)" in md
    assert "about 262 ms of the 340 ms a module run costs a node" in md  # from the module probe: 12 + 250


def test_site_host_tasks_are_medians_per_compute_node_and_per_bmc(tmp_path):
    events = tmp_path / "artifacts" / "run" / "job_events"
    events.mkdir(parents=True)
    tasks = {"n01": 10, "n02": 12, "n03": 12, "head01": 2, "n01-bmc": 3, "n02-bmc": 3, "localhost": 4}
    counter = 0
    for host, n in tasks.items():
        for _ in range(n):
            counter += 1
            (events / f"{counter}.json").write_text(json.dumps(
                {"counter": counter, "event": "runner_on_ok", "event_data": {"host": host}}))
    (events / "0.json").write_text(json.dumps({"counter": 0, "event": "playbook_on_start"}))
    (tmp_path / "artifacts" / "run" / "command").write_text(json.dumps(
        {"command": ["ansible-playbook", "--tags", "os,storage", "site.yml"]}))
    assert site_host_tasks(tmp_path) == {"per_node": 11.0, "per_bmc": 3.0, "hosts": 6, "stages": "os,storage"}
