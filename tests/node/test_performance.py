"""The performance acceptance verdict: parsed tool output against the catalog's thresholds, per check with its
figure, threshold and source."""

from __future__ import annotations

import pytest

from aifactory.node.parsers.dcgm import parse_dcgm_diag
from aifactory.node.parsers.ib_write_bw import parse_ib_write_bw
from aifactory.node.parsers.nccl_tests import parse_nccl_tests
from aifactory.node.parsers.nccom_test import parse_nccom_test
from aifactory.node.performance import judge
from tests.node.test_performance_parsers import GPUDIRECT, NCCOM, POST_LIST, RACK, fixture

GB200 = "nvidia-gb200-nvl72"
MNNVL = "node-a:1:2 [0] NCCL INFO Channel 00/0 : 3[3] -> 4[0] via P2P/MNNVL\n"
P2P = "node-a:1:2 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM/read\n"


def rack_run(channels: str = MNNVL, scale: float = 1.0) -> dict:
    """CoreWeave's NVL72 rack run with NCCL's channel lines, its busbw scaled by `scale`."""
    parsed = parse_nccl_tests(channels + fixture(RACK))
    for row in parsed["rows"]:
        for half in ("out_of_place", "in_place"):
            row[half]["busbw"] = round(row[half]["busbw"] * scale, 2)
    return parsed


def by_name(verdict: dict) -> dict:
    return {c["name"]: c for c in verdict["checks"]}


def test_a_rack_below_the_published_900_fails_with_its_figure_threshold_and_source():
    verdict = judge(GB200, {"rack_all_reduce": rack_run()}, tier="rack")
    check = by_name(verdict)["rack_all_reduce"]
    # the lowest busbw at 8-16 GiB: out-of-place 834.57 at 8 GiB
    assert (verdict["result"], check["status"], check["figure"], check["threshold"]) == ("fail", "fail", 834.57, 900)
    assert check["kind"] == "published" and "cluster-readiness-engine" in check["url"] and check["source"]
    assert "834.57 GB/s < 900 GB/s" in check["reason"]


def test_a_rack_above_the_threshold_passes():
    verdict = judge(GB200, {"rack_all_reduce": rack_run(scale=1.1)}, tier="rack")
    assert verdict["result"] == "pass" and by_name(verdict)["rack_all_reduce"]["figure"] == 918.03


def test_only_the_largest_sizes_count():
    parsed = rack_run(scale=1.1)
    parsed["rows"][0]["out_of_place"]["busbw"] = 1.0  # 512 MiB: outside 8-16 GiB
    assert judge(GB200, {"rack_all_reduce": parsed}, tier="rack")["result"] == "pass"
    parsed["rows"] = parsed["rows"][:-1]  # the run stopped at 4 GiB
    check = by_name(judge(GB200, {"rack_all_reduce": parsed}, tier="rack"))["rack_all_reduce"]
    assert check["status"] == "fail" and "largest size: 4294967296" in check["reason"]


def test_any_wrong_value_fails_whatever_the_bandwidth():
    parsed = rack_run(scale=1.1)
    parsed["rows"][2]["in_place"]["wrong"] = 2
    check = by_name(judge(GB200, {"rack_all_reduce": parsed}, tier="rack"))["rack_all_reduce"]
    assert check["status"] == "fail" and "2 wrong values" in check["reason"] and check["figure"] == 918.03
    parsed["rows"][2]["in_place"]["wrong"] = 0
    parsed["out_of_bounds"] = 248
    assert "248 wrong values" in by_name(judge(GB200, {"rack_all_reduce": parsed}))["rack_all_reduce"]["reason"]
    parsed["out_of_bounds"] = None
    assert "did not finish" in by_name(judge(GB200, {"rack_all_reduce": parsed}))["rack_all_reduce"]["reason"]


def test_the_transport_must_be_the_one_the_tier_tests():
    tray_path = by_name(judge(GB200, {"rack_all_reduce": rack_run(P2P, scale=1.1)}, tier="rack"))["rack_all_reduce"]
    assert tray_path["status"] == "fail" and "mnnvl not confirmed: NCCL used p2p (1 channels)" in tray_path["reason"]
    silent = by_name(judge(GB200, {"rack_all_reduce": rack_run("", scale=1.1)}, tier="rack"))["rack_all_reduce"]
    assert "NCCL_DEBUG=INFO" in silent["reason"]


def test_checks_of_the_tier_that_did_not_run_are_skipped_and_the_tier_is_incomplete():
    verdict = judge(GB200, {"tray_all_reduce": rack_run(P2P)}, tier="tray")
    checks = by_name(verdict)
    assert set(checks) == {"tray_all_reduce", "tray_all_gather", "dcgm_diag"}
    assert checks["tray_all_reduce"]["status"] == "pass"  # 834.57 >= 680
    assert checks["dcgm_diag"]["status"] == "skipped" and checks["dcgm_diag"]["reason"] == "not run"
    assert verdict["result"] == "incomplete"


def test_a_site_baseline_not_recorded_never_passes_and_a_recorded_one_decides():
    run = {"tray_all_gather": rack_run(P2P)}
    unrecorded = by_name(judge(GB200, run))["tray_all_gather"]
    assert (unrecorded["status"], unrecorded["kind"], unrecorded["threshold"]) == ("skipped", "site baseline", None)
    assert "measured 834.57 GB/s" in unrecorded["reason"] and "not yet recorded" in unrecorded["reason"]
    assert by_name(judge(GB200, run, baselines={"tray_all_gather": 800}))["tray_all_gather"]["status"] == "pass"
    assert by_name(judge(GB200, run, baselines={"tray_all_gather": 850}))["tray_all_gather"]["status"] == "fail"


def test_a_published_floor_fails_below_it_even_without_a_baseline():
    slow = by_name(judge("nvidia-hgx-b200", {"tray_all_reduce": rack_run(P2P, scale=0.7)}))["tray_all_reduce"]
    assert slow["status"] == "fail" and slow["floor"] == 600 and "below the published floor" in slow["reason"]
    above = by_name(judge("nvidia-hgx-b200", {"tray_all_reduce": rack_run(P2P)}))["tray_all_reduce"]
    assert above["status"] == "skipped"


def test_ib_write_bw_per_port_with_gpudirect_in_gbits():
    good = parse_ib_write_bw(fixture(GPUDIRECT))
    verdict = judge(GB200, {"ib_write_bw_port:mlx5_0": good}, tier="cross-rack")
    port = by_name(verdict)["ib_write_bw_port:mlx5_0"]
    assert (port["status"], port["figure"], port["threshold"], port["unit"]) == ("pass", 390.87, 380, "Gb/s")
    slow = {**good, "rows": [{**good["rows"][0], "bw_average": 371.2}]}
    assert by_name(judge(GB200, {"ib_write_bw_port:mlx5_1": slow}))["ib_write_bw_port:mlx5_1"]["status"] == "fail"
    host = by_name(judge(GB200, {"ib_write_bw_port:mlx5_0": parse_ib_write_bw(fixture(POST_LIST))}))
    assert "--use_cuda" in host["ib_write_bw_port:mlx5_0"]["reason"]
    megabytes = by_name(judge(GB200, {"ib_write_bw_port:mlx5_0": {**good, "unit": "MB/sec"}}))
    assert "--report_gbits" in megabytes["ib_write_bw_port:mlx5_0"]["reason"]


def test_dcgm_diag_needs_the_level_and_a_passing_diagnostic():
    healthy = parse_dcgm_diag(fixture("dcgmi-diag-r2-j.gb200-healthy.json"))
    assert by_name(judge(GB200, {"dcgm_diag": {**healthy, "level": 4}}))["dcgm_diag"]["status"] == "pass"
    assert by_name(judge(GB200, {"dcgm_diag": {**healthy, "level": 2}}))["dcgm_diag"]["status"] == "fail"
    assert "run level" in by_name(judge(GB200, {"dcgm_diag": healthy}))["dcgm_diag"]["reason"]
    faulty = parse_dcgm_diag(fixture("dcgmi-diag-r2-j.gb200-faulty.json"))
    failed = by_name(judge(GB200, {"dcgm_diag": {**faulty, "level": 4}}))["dcgm_diag"]
    assert failed["status"] == "fail" and failed["reason"] == "; ".join(faulty["failures"][:5])


def test_trainium_nccom_test_is_a_site_baseline():
    run = {"tray_all_reduce": parse_nccom_test(fixture(NCCOM))}
    assert by_name(judge("aws-trn3-ultraserver", run))["tray_all_reduce"]["status"] == "skipped"
    passed = judge("aws-trn3-ultraserver", run, tier="tray", baselines={"tray_all_reduce": 40})
    assert passed["result"] == "pass"


@pytest.mark.parametrize("platform, results, message", [
    ("nvidia-gb100", {}, "no performance thresholds for platform 'nvidia-gb100'"),
    ("aws-trn3-ultraserver", {"rack_all_reduce": {}}, "no performance threshold for check 'rack_all_reduce'"),
])
def test_an_unknown_platform_or_check_is_refused_by_name(platform, results, message):
    with pytest.raises(ValueError, match=message):
        judge(platform, results)
