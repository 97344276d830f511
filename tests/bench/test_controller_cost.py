"""The controller bench's pure parts: site.yml's shape from the real stage playbooks, sampling, the no-op playbook,
the extrapolation of sampled runs, and its RESULTS.md section with issue 30's targets and the capacity note. No
wall-clock figure is asserted: every figure comes from the made-up runs here."""

from __future__ import annotations

import argparse

import pytest

from bench import controller_cost as cc
from bench.report import render
from bench.run import sampled_sizes
from tests.bench.test_bench_runner import _results, _with_mitogen

STAGES = ["racks", "os", "drivers", "fabric", "storage", "acceptance"]


def test_shape_gives_every_compute_node_and_bmc_its_measured_host_tasks():
    plays = cc.with_tasks(cc.stage_plays(STAGES), 118, 17)
    bmc = [p for p in plays if p["bmc"]]
    assert {p["hosts"] for p in bmc} == {"switch_tray_bmcs", "node_bmcs"} and all(p["tasks"] == 17 for p in bmc)
    # a GB200 node runs one play of each node stage (drivers: gpu_nodes, not trainium_nodes): 118 in all
    per_stage = {p["stage"]: p["tasks"] for p in plays if not p["bmc"]}
    assert sum(per_stage.values()) == 118 and sorted(per_stage.values()) == [23, 23, 24, 24, 24]
    drivers = [p for p in plays if p["stage"] == "drivers"]
    assert {p["hosts"] for p in drivers} == {"gpu_nodes", "trainium_nodes"} and len({p["tasks"] for p in drivers}) == 1
    assert [p["stage"] for p in plays] == sorted((p["stage"] for p in plays), key=STAGES.index)  # stage order


def test_sample_keeps_one_in_n_of_each_kind_and_at_least_one():
    assert (cc.sampled(118, 0.1), cc.sampled(17, 0.1)) == (12, 2)
    assert (cc.sampled(118, 0.01), cc.sampled(17, 0.01)) == (1, 1)
    assert cc.sampled(118, 1.0) == 118


def test_playbook_is_local_factless_and_touches_nothing():
    plays = cc.with_tasks(cc.stage_plays(["racks", "os"]), 3, 2)
    book = cc.playbook(plays)
    assert [p["name"] for p in book] == [p["name"] for p in plays]  # real names: the stage tally attributes them
    for play, shaped in zip(book, plays):
        assert play["connection"] == "local" and play["gather_facts"] is False and "serial" not in play
        assert len(play["tasks"]) == shaped["tasks"]
        assert all(set(t) == {"name", "ansible.builtin.debug"} for t in play["tasks"])


def test_extrapolation_follows_the_line_through_the_sampled_runs():
    runs = [{"host_tasks": 100, "cpu_s": 10.0}, {"host_tasks": 200, "cpu_s": 18.0}]
    assert cc.line_through([(100, 10.0), (200, 18.0)]) == pytest.approx((2.0, 0.08))
    assert cc.extrapolate(runs, "cpu_s", 1000) == pytest.approx(82.0)
    with pytest.raises(ValueError, match="two different host-task counts"):
        cc.line_through([(100, 1.0), (100, 2.0)])


def _run(host_tasks: int, cpu_s: float, nodes: int, bmcs: int, project_s: float = 0.5, rss: int = 120) -> dict:
    return {"host_tasks": host_tasks, "node_hosts": nodes, "bmc_hosts": bmcs, "wall_s": cpu_s / 2, "cpu_s": cpu_s,
            "parent_cpu_s": cpu_s / 10, "project_cpu_s": project_s, "main_loop_cpu_s": cpu_s / 3,
            "max_rss_mb": rss, "parent_max_rss_mb": 90, "machine_busy_cores": 1.5, "stage_tasks": {},
            "project_top": {"node/bringup.py:scrub_tree": 7}}


def _controller(per_100_ms: float) -> dict:
    """1 rack in full (2,583 host-tasks at 40 ms), 100 racks sampled at 1/100 and 1/50 with a marginal cost of
    per_100_ms per host-task."""
    one = cc.row(1, [_run(2583, 103.32, 18, 27)], 118, 17, [1.0])
    runs = [_run(4500, 5 + 4500 * per_100_ms / 1000, 1800, 2700, project_s=2.0),
            _run(6300, 5 + 6300 * per_100_ms / 1000, 1800, 2700, project_s=2.5, rss=121)]
    hundred = cc.row(100, runs, 118, 17, [0.01, 0.02])
    return {"per_node": 118, "per_bmc": 17, "stages": ",".join(STAGES), "source": "the bring-up run X of lab-b200",
            "plays": 8, "rows": [one, hundred]}


def test_sampled_row_is_extrapolated_to_the_sites_full_host_tasks():
    c = _controller(per_100_ms=44.0)
    one, hundred = c["rows"]
    assert one["extrapolated"] is False and one["cpu_ms_per_host_task"] == pytest.approx(40.0)
    assert hundred["extrapolated"] is True and hundred["host_tasks"] == 1800 * 118 + 2700 * 17 == 258_300
    assert hundred["cpu_s"] == pytest.approx(5 + 258_300 * 0.044, abs=0.01)
    # the project's CPU follows its own line: 2.0 s at 4,500 host-tasks, 2.5 at 6,300
    assert hundred["project_cpu_s"] == pytest.approx(2.0 + (258_300 - 4500) * 0.5 / 1800, abs=0.01)
    # peak memory goes on along its line too: 1 MB more over 1,800 more host-tasks
    assert hundred["max_rss_mb"] == round(120 + (258_300 - 4500) / 1800) == 261
    with pytest.raises(RuntimeError, match="not the 2583 of its shape"):
        cc.row(1, [_run(2000, 80.0, 18, 27)], 118, 17, [1.0])


def test_results_md_judges_issue_30s_targets_from_the_rows():
    results = _results(defaults_first=50.0, tuned_first=20.0, tuned_again=5.0)
    results["site_host_tasks"] = {"per_node": 118, "per_bmc": 17, "stages": ",".join(STAGES), "source": "X"}
    results["controller_cost"] = _controller(per_100_ms=44.0)
    md = render(results)
    assert "at most 1.2x that at 1 rack(s): 1.1x (44.0 ms against 40.0 ms) -> met" in md
    assert "| 100 | 1,800 + 2,700 | 258,300 | extrapolated from 1/100 (4,500) and 1/50 (6,300) |" in md
    assert "the controller's peak memory under 2,048 MB at every size (largest process): 261 MB -> met" in md
    results["controller_cost"] = _controller(per_100_ms=60.0)
    md = render(results)
    assert "1.5x (60.0 ms against 40.0 ms) -> MISSED" in md
    assert "controller CPU per host-task grew 1.5x from 1 to 100 racks (extrapolated)" in md


def test_capacity_adds_the_engines_growth_to_the_labs_cost_per_host_task():
    results = _results(defaults_first=50.0, tuned_first=20.0, tuned_again=5.0)
    results["site_host_tasks"] = {"per_node": 118, "per_bmc": 17, "stages": ",".join(STAGES), "source": "X"}
    results["controller_cost"] = _controller(per_100_ms=44.0)
    hundred = results["controller_cost"]["rows"][1]
    md = render(results)
    # tuned: 80 ms (lab) + (44.0 - 40.0) ms of growth per host-task; BMC host-tasks also cost the node's 120 ms
    core_s = 212_400 * 0.084 + 45_900 * (0.084 + 0.120)
    main_loop_s = hundred["main_loop_ms_per_host_task"] / 1000 * 258_300
    assert f"| 100 | tuned | 258,300 | {core_s / 3600:.1f} | {main_loop_s / 60:.0f} min |" in md
    assert f"| {max(core_s / 16, main_loop_s) / 60:.0f} min |" in md
    assert "| 100 | mitogen |" not in md  # not measured, not shown
    md = render(_with_mitogen(results, first=10.0, again=3.0, node_ms=48.0))
    core_s = 212_400 * 0.064 + 45_900 * (0.064 + 0.048)  # Mitogen's 60 ms controller and 48 ms node CPU
    assert f"| 100 | mitogen | 258,300 | {core_s / 3600:.1f} |" in md


def test_sampled_sizes_option_needs_two_fractions_per_size():
    assert sampled_sizes("10=0.05+0.1,100=0.01+0.02") == {10: [0.05, 0.1], 100: [0.01, 0.02]}
    for bad in ("100=0.1", "100=0.1+0.1", "100=0+0.1", "100=0.5+2"):
        with pytest.raises(argparse.ArgumentTypeError):
            sampled_sizes(bad)


def test_the_first_rack_pattern_selects_rack_1s_nodes_bmcs_and_switch_trays(tmp_path):
    import re

    from aifactory.node.inventory import build_inventory
    from bench.specs import scaled_plan_site

    f = scaled_plan_site(2, tmp_path / "site")
    hosts = build_inventory(f).to_ansible_list()["_meta"]["hostvars"]
    pattern = cc.first_rack_pattern(f.name)
    assert pattern.startswith("~")  # Ansible reads a pattern starting with ~ as a regular expression
    chosen = {h for h in hosts if re.match(pattern[1:], h)}
    assert len(chosen) == 18 + 18 + 9 and all("-r001-" in h for h in chosen)
    assert not any(re.match(pattern[1:], h) for h in hosts if "-r002-" in h)


def _limited(cpu_ms: float) -> dict:
    run = {**_run(2583, 2583 * cpu_ms / 1000, 18, 27), "sys_cpu_s": 2583 * cpu_ms / 1000 * 0.6, "minor_faults": 2583 * 3500}
    return cc.limited_row(100, "~^bench-gb200-100r-r001-", run)


def test_results_md_says_whether_the_cost_follows_the_run_or_the_inventory():
    results = _results(defaults_first=50.0, tuned_first=20.0, tuned_again=5.0)
    results["site_host_tasks"] = {"per_node": 118, "per_bmc": 17, "stages": ",".join(STAGES), "source": "X"}
    controller = _controller(per_100_ms=60.0)
    for row_ in controller["rows"]:
        for run in row_["runs"]:
            run.update(sys_cpu_s=run["cpu_s"] * 0.5, minor_faults=run["host_tasks"] * 3000)
    results["controller_cost"] = {**controller, "limited_to_one_rack": _limited(41.0)}
    md = render(results)
    assert ("inventory with the run limited to its first rack (`--limit ~^bench-gb200-100r-r001-`), every task: 2,583"
            " host-tasks at 41.0 ms of controller CPU each") in md
    assert "costs 1.02x the 1-rack inventory per host-task: the growth follows the hosts in one run" in md
    assert ("Kernel time was 50% of the CPU of the 1-rack run, 50% of the CPU of the 100-rack run (6,300 host-tasks),"
            " 60% of the CPU of the limited run") in md
    assert "page faults per host-task (copy-on-write after the fork of each host-task's worker among them): 3,000, 3,000, 3,500" in md
    results["controller_cost"] = {**controller, "limited_to_one_rack": _limited(50.0)}
    assert "still costs 1.25x the 1-rack inventory per host-task: part of the growth follows the inventory's size" in \
        render(results)
