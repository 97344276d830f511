"""The lab's performance stand-ins (all_reduce_perf, all_gather_perf, ib_write_bw, nccom-test) without a lab:
they name themselves stand-ins, the project's parsers read their output, a healthy profile passes every
published check of every tier, rank 0 reports the lowest figure of the nodes taking part, and each bandwidth
fault fails exactly the tiers FAULTS says, without failing a hardware acceptance check."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from aifactory.lab import hardware, vendor_repos
from aifactory.lab.hardware import FAULTS, FaultError, parse_faults
from aifactory.lab.performance import TIERS, run_tier, tier_checks
from aifactory.node.parsers.ib_write_bw import parse_ib_write_bw
from aifactory.node.parsers.nccl_tests import parse_nccl_tests
from aifactory.node.parsers.nccom_test import parse_nccom_test
from aifactory.spec import load_spec
from aifactory.spec.model import Acceptance
from tests.conftest import site_dir
from tests.lab.performance_fake import FakeSrun, booted

SITES = ("lab-gb200", "lab-b200", "ohio-trn3")
BANDWIDTH_FAULTS = ("nvlink-bw-low", "ib-bw-low")


def spec(site: str):
    return load_spec(site_dir(site))


def tool(tmp_path, name: str, args: list[str], hw: dict) -> subprocess.CompletedProcess:
    """The stand-in under `name`, one task outside Slurm, reading `hw`."""
    (tmp_path / "hw.json").write_text(json.dumps(hw))
    exe = tmp_path / name
    exe.write_bytes(vendor_repos.TOOL_SOURCE.read_bytes())
    return subprocess.run([sys.executable, str(exe), *args], capture_output=True, text=True,
                          env={**os.environ, "AIFACTORY_LAB_HARDWARE": str(tmp_path / "hw.json"), "NCCL_DEBUG": "INFO"})


def profile(site: str, node: int = 0, faults: list[str] | None = None) -> dict:
    f = spec(site)
    n = f.nodes[node]
    return hardware.with_faults(hardware.node_profile(f.platform, f.name, n.name, n.rack), faults or [])


def test_each_performance_stand_in_names_itself_a_stand_in_on_its_first_line(tmp_path):
    gb200, trn = profile("lab-gb200"), profile("ohio-trn3")
    runs = {"all_reduce_perf": (["-b", "8G", "-e", "16G"], gb200), "all_gather_perf": (["-b", "8G", "-e", "8G"], gb200),
            "nccom-test": (["-b", "32M", "-e", "64M", "allr"], trn), "ib_write_bw": (["--version"], gb200)}
    for name, (args, hw) in runs.items():
        out = tool(tmp_path, name, args, hw)
        first = out.stdout.splitlines()[0]
        assert out.returncode == 0 and "aifactory lab stand-in" in first and "not the vendor's program" in first, out


def test_the_parsers_read_the_stand_ins_as_the_real_tools(tmp_path):
    hw = profile("lab-gb200")
    nccl = parse_nccl_tests(tool(tmp_path, "all_reduce_perf", ["-b", "8G", "-e", "16G", "-f", "2", "-g", "4"], hw).stdout)
    assert [r["size"] for r in nccl["rows"]] == [8 * 1024**3, 16 * 1024**3]
    assert {r["in_place"]["busbw"] for r in nccl["rows"]} == {hw["performance"]["busbw"]["p2p"]}
    assert nccl["out_of_bounds"] == 0 and set(nccl["transports"]) == {"p2p"} and nccl["test"] == "all_reduce_perf"
    nccom = parse_nccom_test(tool(tmp_path, "nccom-test", ["-b", "32M", "-e", "128M", "allr"], profile("ohio-trn3")).stdout)
    assert [r["size"] for r in nccom["rows"]] == [32 * 1024**2, 64 * 1024**2, 128 * 1024**2]
    assert nccom["avg_busbw"] == profile("ohio-trn3")["performance"]["busbw"]["neuron"]


def test_ib_write_bw_reports_the_slower_port_of_server_and_client(tmp_path):
    """perftest's shape: a server on one node, a client naming it; the client's report is read."""
    f = spec("lab-gb200")
    srun = FakeSrun(tmp_path, f, {f.nodes[1].name: ["ib-bw-low"]})
    server, client = f.nodes[0].name, f.nodes[1].name
    out = srun([server, client], 'if [ "$SLURM_PROCID" = 0 ]; then ib_write_bw -d mlx5_1 --use_cuda=0 --report_gbits '
                                 f'-s 8388608 -p 18515 >/dev/null; else ib_write_bw -d mlx5_1 --use_cuda=0 --report_gbits '
                                 f'-s 8388608 -p 18515 {server} ; fi')
    report = parse_ib_write_bw(out.stdout)
    slow = profile("lab-gb200", 1, ["ib-bw-low"])["ib_ports"][1]["write_bw_gbits"]
    assert report["device"] == "mlx5_1" and report["unit"] == "Gb/sec" and report["gpu_memory"]
    assert [r["bw_average"] for r in report["rows"]] == [slow] and report["rows"][0]["bytes"] == 8388608


def test_rank_zero_reports_the_lowest_node_and_the_transport_the_nodes_share(tmp_path):
    f = spec("lab-gb200")
    a, b, c = booted(f)[0], booted(f)[1], booted(f)[2]  # b in a's rack, c in the next
    srun = FakeSrun(tmp_path, f, {b: ["nvlink-bw-low"]})
    low = profile("lab-gb200", 1, ["nvlink-bw-low"])["performance"]["busbw"]
    same_rack = parse_nccl_tests(srun([a, b], "NCCL_DEBUG=INFO all_reduce_perf -b 8G -e 8G -g 4").stdout)
    assert set(same_rack["transports"]) == {"mnnvl"} and same_rack["rows"][0]["out_of_place"]["busbw"] == low["mnnvl"]
    across = parse_nccl_tests(srun([a, c], "NCCL_DEBUG=INFO all_reduce_perf -b 8G -e 8G -g 4").stdout)
    assert set(across["transports"]) == {"net-ib-gdr"}
    assert across["rows"][0]["out_of_place"]["busbw"] == profile("lab-gb200")["performance"]["busbw"]["net-ib-gdr"]
    fabric = parse_nccl_tests(srun([a, b], "NCCL_MNNVL_ENABLE=0 NCCL_DEBUG=INFO all_reduce_perf -b 8G -e 8G -g 4").stdout)
    assert set(fabric["transports"]) == {"net-ib-gdr"}


def tier_hosts(f, tier: str, faulty: str) -> list[str]:
    """The hosts a tier runs over that include `faulty`: the tray alone, its rack's booted trays, all booted."""
    rack = next(n.rack for n in f.nodes if n.name == faulty)
    return {"tray": [faulty], "rack": [h for h in booted(f) if next(n.rack for n in f.nodes if n.name == h) == rack],
            "cross-rack": booted(f)}[tier]


@pytest.mark.parametrize("site", SITES)
def test_a_healthy_node_passes_every_check_of_every_tier(tmp_path, site):
    """Published checks against the catalog's figures, the site's own against the spec's recorded baselines (the lab
    specs record every one; ohio-trn3 none); without one, a site-baseline check is measured but not judged."""
    f = spec(site)
    srun = FakeSrun(tmp_path, f)
    for tier in TIERS:
        if not tier_checks(f.platform.name, tier):
            continue
        verdict = run_tier(f, tier, tier_hosts(f, tier, booted(f)[0]), srun)
        judged = [c for c in verdict["checks"] if c["kind"] == "published" or c["name"] in f.acceptance.performance_baselines]
        assert all(c["status"] == "pass" for c in judged), verdict["checks"]
        assert verdict["result"] == ("pass" if len(judged) == len(verdict["checks"]) else "incomplete")
        unrecorded = run_tier(f.model_copy(update={"acceptance": Acceptance()}), tier,
                              tier_hosts(f, tier, booted(f)[0]), srun)
        baselines = [c for c in unrecorded["checks"] if c["kind"] == "site baseline"]
        assert all(c["status"] == "skipped" and c["figure"] for c in baselines), baselines


@pytest.mark.parametrize("site,kind", [(s, k) for s in SITES for k in BANDWIDTH_FAULTS
                                       if FAULTS[k].applies(load_spec(site_dir(s)).platform)])
def test_each_bandwidth_fault_fails_exactly_its_tiers(tmp_path, site, kind):
    f = spec(site)
    faulty = booted(f)[1]
    srun = FakeSrun(tmp_path, f, {faulty: [kind]})
    failed = {tier for tier in TIERS if tier_checks(f.platform.name, tier)
              and run_tier(f, tier, tier_hosts(f, tier, faulty), srun)["result"] == "fail"}
    assert failed == FAULTS[kind].fails_tiers(f.platform) and failed


def test_bandwidth_faults_are_named_per_platform():
    gb200, b200, trn = spec("lab-gb200").platform, spec("lab-b200").platform, spec("ohio-trn3").platform
    assert FAULTS["nvlink-bw-low"].fails_tiers(gb200) == {"tray", "rack"}
    assert FAULTS["nvlink-bw-low"].fails_tiers(b200) == {"tray"}  # AWS's 600 GB/s floor; no rack NVLink domain
    assert FAULTS["ib-bw-low"].fails_tiers(gb200) == FAULTS["ib-bw-low"].fails_tiers(b200) == {"cross-rack"}
    assert not FAULTS["nvlink-bw-low"].applies(trn) and not FAULTS["ib-bw-low"].applies(trn)
    names = [n.name for n in spec("ohio-trn3").nodes]
    with pytest.raises(FaultError, match="does not apply"):
        parse_faults([f"{names[0]}:nvlink-bw-low"], names, trn)
    # Links stay up at full rate: the hardware acceptance's checks see nothing.
    expected = {"dcgm_diag_level": 4, "fabric_manager": False}
    assert FAULTS["nvlink-bw-low"].fails(expected) == FAULTS["ib-bw-low"].fails(expected) == set()
    faulty = profile("lab-gb200", 0, ["ib-bw-low", "nvlink-bw-low"])
    healthy = profile("lab-gb200")
    assert [p["rate"] for p in faulty["ib_ports"]] == [p["rate"] for p in healthy["ib_ports"]]
    assert [g["nvlinks"] for g in faulty["gpus"]] == [g["nvlinks"] for g in healthy["gpus"]]
