"""The rehearsal's performance stage without a lab: srun replaced by a fake that runs the stand-in tools on
this machine with each node's profile (tests/lab/performance_fake.py). The tiers run in order on what passed
the tier below, are written where the certificate reads them, a failing tier names its faulty tray (on its
own run, or isolated by bisection) and never a healthy one, and the certificate signed with the lab's key
verifies, and no longer after a one-byte change."""

from __future__ import annotations

import json
import subprocess

import pytest

from aifactory.lab import nodes, performance
from aifactory.lab.performance import certify, lab_signing, peer_pairs, run_tiers, slurm_srun
from aifactory.lab.state import LabState
from aifactory.reports import certificate, signing
from aifactory.spec import load_spec
from aifactory.spec.model import Acceptance
from tests.conftest import site_dir
from tests.lab.performance_fake import FakeSrun, booted

PASSED = {"result": "pass", "checks": []}


@pytest.fixture(scope="module")
def gb200():
    return load_spec(site_dir("lab-gb200"))


def accepted(f, failed: tuple[str, ...] = ()) -> dict:
    """The booted nodes' hardware acceptance verdicts, as the acceptance stage reads them."""
    return {h: {"result": "fail", "checks": []} if h in failed else PASSED for h in booted(f)}


def written(results) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((results / "performance").glob("*.json"))}


def test_a_healthy_lab_runs_every_tier_through_srun_and_signs_a_certificate_that_verifies(tmp_path, gb200):
    srun = FakeSrun(tmp_path / "nodes", gb200)
    results = tmp_path / "acceptance"
    outcome, detail = run_tiers(gb200, results, accepted(gb200), srun)
    # Every tier passed, the checks left to a site baseline against lab-gb200's recorded ones.
    assert outcome == "passed", detail
    assert detail == ("tray tier: pass on lab-gb200-r001-n01 lab-gb200-r001-n02 lab-gb200-r002-n01 lab-gb200-r002-n02; "
                      "rack tier: pass on rack01 rack02; cross-rack tier: pass on all")
    runs = written(results)
    assert sorted(runs) == [*(f"1-tray-{h}" for h in booted(gb200)), "2-rack-rack01", "2-rack-rack02", "3-cross-rack-all"]
    assert runs["3-cross-rack-all"]["hosts"] == booted(gb200)
    assert all(c["status"] != "fail" for r in runs.values() for c in r["checks"])
    rack = {c["name"]: c for c in runs["2-rack-rack01"]["checks"]}["rack_all_reduce"]
    assert rack["status"] == "pass" and rack["threshold"] == 900 and rack["figure"] > 900
    assert {tuple(h) for h, _ in srun.calls if len(h) == 2 and "ib_write_bw" in _} == {
        ("lab-gb200-r001-n01", "lab-gb200-r002-n01"), ("lab-gb200-r001-n02", "lab-gb200-r002-n02")}  # peers across racks

    path = tmp_path / "certificate.json"
    said = certify(gb200, results, path, tmp_path / "keys")
    assert said.startswith(f"certificate {path} verifies against {tmp_path / 'keys' / 'lab-acceptance.pub.pem'}")
    signed = lab_signing(gb200, tmp_path / "keys")  # a new throwaway key: the certificate's no longer verifies
    assert signed.acceptance.performance_baselines == gb200.acceptance.performance_baselines  # only the key changes
    assert not certificate.verify(path.read_text(), signed, signing.public_key(signed)).ok
    document = json.loads(path.read_text())
    tiers = document["entries"][0]["body"]["performance"]
    assert [t["run"] for t in tiers] == sorted(runs) and {t["tier"] for t in tiers} == {"tray", "rack", "cross-rack"}


def test_a_one_byte_change_to_the_certificate_fails_verification(tmp_path, gb200):
    srun = FakeSrun(tmp_path / "nodes", gb200)
    results = tmp_path / "acceptance"
    run_tiers(gb200, results, accepted(gb200), srun)
    path = tmp_path / "certificate.json"
    certify(gb200, results, path, tmp_path / "keys")
    text = path.read_text()
    config = lab_signing(gb200, tmp_path / "other").acceptance.certificate
    named = gb200.model_copy(update={"acceptance": type(gb200.acceptance)(certificate=config.model_copy(
        update={"public_key_file": str(tmp_path / "keys" / "lab-acceptance.pub.pem")}))})
    key = signing.public_key(named)
    assert certificate.verify(text, named, key).ok
    at = text.index('"result": "pass"') + len('"result": "')
    assert not certificate.verify(text[:at] + "f" + text[at + 1:], named, key).ok


def test_without_recorded_site_baselines_the_stage_is_incomplete_never_passed(tmp_path, gb200):
    unrecorded = gb200.model_copy(update={"acceptance": Acceptance()})
    outcome, detail = run_tiers(unrecorded, tmp_path / "acceptance", accepted(gb200), FakeSrun(tmp_path / "nodes", gb200))
    assert outcome == "incomplete" and "cross-rack tier: incomplete on all" in detail
    assert "incomplete, not failed: cross_rack_all_reduce, tray_all_gather not judged (site baselines not recorded)" in detail


def test_nvlink_bw_low_fails_the_stage_at_the_trays_own_tier_naming_only_it(tmp_path, gb200):
    faulty = "lab-gb200-r001-n02"
    srun = FakeSrun(tmp_path / "nodes", gb200, {faulty: ["nvlink-bw-low"]})
    outcome, detail = run_tiers(gb200, tmp_path / "acceptance", accepted(gb200), srun)
    assert outcome == "failed"
    named = detail.split("named: ", 1)[1]
    assert named.startswith(f"{faulty} (tray tier, its own run: tray_all_gather: 357 GB/s < 678 GB/s (site baseline); "
                            "tray_all_reduce: 357 GB/s < 680 GB/s (published)")
    assert [h for h in booted(gb200) if h in named] == [faulty]
    # Each tier only on what passed the one below: rack 1 is left one tray, the cross-rack tier runs without it.
    assert "rack tier: not run (one tray) on rack01, pass on rack02" in detail
    assert written(tmp_path / "acceptance")["3-cross-rack-all"]["hosts"] == [h for h in booted(gb200) if h != faulty]


def test_ib_bw_low_fails_the_cross_rack_tier_and_isolation_names_the_tray(tmp_path, gb200):
    faulty = "lab-gb200-r002-n01"
    srun = FakeSrun(tmp_path / "nodes", gb200, {faulty: ["ib-bw-low"]})
    outcome, detail = run_tiers(gb200, tmp_path / "acceptance", accepted(gb200), srun)
    assert outcome == "failed" and "tray tier: pass on" in detail and "rack tier: pass on rack01 rack02" in detail
    named = detail.split("named: ", 1)[1]
    assert named.startswith(f"{faulty} (cross-rack tier, isolated by ")
    assert [h for h in booted(gb200) if h in named] == [faulty]
    assert written(tmp_path / "acceptance")["3-cross-rack-all"]["result"] == "fail"  # the tier's own run, as run


def test_a_node_that_failed_hardware_acceptance_runs_no_tier(tmp_path, gb200):
    srun = FakeSrun(tmp_path / "nodes", gb200)
    dropped = "lab-gb200-r002-n02"
    outcome, detail = run_tiers(gb200, tmp_path / "acceptance", accepted(gb200, (dropped,)), srun)
    assert outcome == "incomplete"
    assert f"not run on {dropped} (hardware acceptance failed)" in detail
    assert all(dropped not in hosts for hosts, _ in srun.calls)
    assert run_tiers(gb200, tmp_path / "a2", accepted(gb200, tuple(booted(gb200))), srun)[0] == "failed"


def test_a_run_that_gives_no_report_fails_its_check_with_the_reason(tmp_path, gb200):
    def broken(hosts, command):
        return subprocess.CompletedProcess(["srun"], 1, "", "srun: error: Unable to allocate resources")
    outcome, detail = run_tiers(gb200, tmp_path / "acceptance", {booted(gb200)[0]: PASSED}, broken)
    assert outcome == "failed" and "srun exited 1: srun: error: Unable to allocate resources" in detail


def test_peers_are_in_another_rack_where_the_hosts_have_one(gb200):
    r1, r2 = [n.name for n in gb200.nodes if n.rack == 1][:3], [n.name for n in gb200.nodes if n.rack == 2][:2]
    assert peer_pairs(gb200, r1[:2] + r2) == [(r1[0], r2[0]), (r1[1], r2[1])]
    assert peer_pairs(gb200, r1 + r2[:1]) == [(r1[0], r2[0]), (r1[1], r1[2])]
    assert peer_pairs(gb200, r1[:1] + r2) == [(r1[0], r2[0]), (r1[0], r2[1])]  # odd: the last with another rack
    assert peer_pairs(gb200, r1[:1]) == []


def test_the_lab_srun_asks_for_segments_across_nvl72_racks_and_a_node_list_within_one(tmp_path, gb200, monkeypatch):
    asked = []
    monkeypatch.setattr(nodes, "ssh", lambda state, address, command, timeout: asked.append((address, command)))
    state = LabState(site=gb200.name, root=tmp_path)
    hosts = booted(gb200)
    srun = slurm_srun(gb200, state, hosts + ["lab-gb200-r001-n03"])
    srun(hosts, "all_reduce_perf -g 4")
    srun(hosts[:2], "echo 'x'")
    assert asked[0] == (gb200.head_nodes[0].address, "srun --nodes=4 --ntasks-per-node=1 --segment=2 "
                        "--exclude=lab-gb200-r001-n03 bash -c 'all_reduce_perf -g 4'")
    assert asked[1][1] == ("srun --nodes=2 --ntasks-per-node=1 --nodelist=lab-gb200-r001-n[01-02] "
                           "bash -c 'echo '\"'\"'x'\"'\"''")


def test_the_spec_s_own_local_key_signs_where_it_names_one(tmp_path, gb200):
    throwaway = lab_signing(gb200, tmp_path / "keys")
    assert lab_signing(throwaway, tmp_path / "other") is throwaway and not (tmp_path / "other").exists()
    assert (tmp_path / "keys" / "lab-acceptance.key").stat().st_mode & 0o077 == 0
    # lab down removes the lab's private keys (*.key under its folders): the throwaway key is one of them.
    assert throwaway.acceptance.certificate.private_key_file == str(tmp_path / "keys" / "lab-acceptance.key")
    assert performance.KEY_DIR != "." and "/" not in performance.KEY_DIR
