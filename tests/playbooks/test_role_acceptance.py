"""The acceptance role for real, through `aifactory bringup`, on the lab site's BMC hosts (local connection):
it collects tool output (fake tools that print the committed fixtures), judges it with the Python verdict,
writes the per-host results, observations and rack summary, hands the verdicts to bringup, and bringup's
exit code says fail (1) or incomplete (3)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from aifactory.node.acceptance_gate import EXIT_ACCEPTANCE_INCOMPLETE
from aifactory.node.bringup import BringupResult, acceptance_verdicts
from aifactory.node.parsers.acceptance import RUNNING_JOBS
from aifactory.spec import load_spec
from tests.conftest import REPO, site_dir

TOOLS = REPO / "tests" / "fixtures" / "tools"
ROLE_PLAY = """
- name: Acceptance on stand-ins of nodes
  hosts: node_bmcs
  gather_facts: true
  roles:
    - role: acceptance
"""
VERDICTS_PLAY = """
- name: Hand over verdicts as the acceptance role does
  hosts: node_bmcs
  gather_facts: false
  tasks:
    - name: Hand the verdict to the bring-up report
      ansible.builtin.set_stats:
        data:
          aifactory_acceptance: "{{ {inventory_hostname: verdicts[inventory_hostname]} }}"
        per_host: false
        aggregate: true
"""


def bringup(tmp_path: Path, playbook: str, overrides: dict, extra: dict) -> subprocess.CompletedProcess:
    book = tmp_path / "play.yml"
    book.write_text(playbook)
    (tmp_path / "overrides.json").write_text(json.dumps(overrides))
    return subprocess.run(
        [sys.executable, "-m", "aifactory.cli", "bringup", str(site_dir("lab-b200")), "--playbook", str(book),
         "--host-overrides", str(tmp_path / "overrides.json"), "--artifacts-dir", str(tmp_path / "artifacts"),
         "--format", "json", "--yes", "-e", json.dumps(extra)],  # its hosts run on this controller
        cwd=REPO, capture_output=True, text=True, timeout=900)


def fake_tools(where: Path) -> dict:
    """Scripts that print the healthy GB200 fixtures, as the real tools would."""
    where.mkdir()
    scripts = {
        "nvidia_smi": f'if [ "$1" = nvlink ]; then cat {TOOLS}/nvidia-smi-nvlink-s.gb200-healthy.txt; '
                      f'else cat {TOOLS}/nvidia-smi-q-x.gb200-healthy.xml; fi',
        "dcgmi": f'[ "$1" = diag ] && echo "$*" >> {where}/dcgmi-diag.log; cat {TOOLS}/dcgmi-diag-r2-j.gb200-healthy.json',
        "ibstat": f"cat {TOOLS}/ibstat.gb200-bf3-ethernet.txt",
        "neuron_ls": "echo 'neuron-ls: no Neuron device' >&2; exit 1",
    }
    for name, body in scripts.items():
        (where / name).write_text(f"#!/bin/sh\n{body}\n")
        (where / name).chmod(0o755)
    return {name: str(where / name) for name in scripts}


def test_role_judges_each_host_writes_results_and_bringup_exits_1_on_a_failure(tmp_path):
    f = load_spec(site_dir("lab-b200"))
    stand_in, healthy, wrong = (f"{n.name}-bmc" for n in f.nodes[:3])
    results = tmp_path / "results"
    # A GB200 tray's profile, without the IMEX checks (this controller runs no IMEX service).
    profile = {"accelerators": 4, "accelerator_name_contains": "GB200", "fabric": "none", "fabric_manager": False,
               "nvlink_domain_gpus": 72, "fabric_state": "completed", "ib_ports": 4, "ib_rate_gbps": 400,
               "dcgm_diag_level": 1}
    # The one expected profile, as aifactory.node.role_vars hands it: no scratch and no Bedrock endpoint to check.
    pinned = profile | {"driver_branch": "580", "network_fabric": "infiniband-xdr", "scratch_mount": ""}
    real = {"acceptance_rack": "rack01", "acceptance_expected": pinned}
    overrides = {
        stand_in: {"acceptance_rack": "rack01", "acceptance_checks_without_kernel": ["shared"], "acceptance_expected": profile | {
            "scratch_mount": "",
            "shared_mounts": [{"name": "root", "type": "nfs", "source": "x:/", "mount": "/"},
                              {"name": "data", "type": "nfs", "source": "x:/d", "mount": "/nowhere"}]}},
        healthy: real,
        wrong: real | {"acceptance_expected": pinned | {"accelerators": 8}},
    }
    # The fake dcgmi answers at once: polled every second, not after the level-1 default's 5 s. Slurm runs
    # jobs on the stand-in host: the diagnostic, which loads every GPU, is not run there.
    done = bringup(tmp_path, ROLE_PLAY, overrides,
                   {"acceptance_results_dir": str(results), "__acceptance_tools": fake_tools(tmp_path / "bin"),
                    "acceptance_dcgm_diag_poll": 1, "acceptance_hosts_running_jobs": [stand_in]})
    assert done.returncode == 1, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert {h: v["result"] for h, v in summary["acceptance"].items()} == {
        stand_in: "incomplete", healthy: "pass", wrong: "fail"}
    assert summary["hosts"][wrong]["failed"] == 1 and summary["hosts"][healthy]["failed"] == 0

    report = {h: json.loads((results / f"{h}.json").read_text()) for h in (stand_in, healthy, wrong)}
    assert {k: report[healthy][k] for k in ("host", "rack", "result")} == {"host": healthy, "rack": "rack01",
                                                                          "result": "pass"}
    checks = {c["name"]: c for c in report[healthy]["checks"]}
    assert "not counted: mlx5_0 port 1 (BlueField-3)" in checks["ib_ports"]["reason"]
    assert {c["name"] for c in report[wrong]["checks"] if c["status"] == "fail"} == {"accelerator_count"}
    skipped = {c["name"]: c["reason"] for c in report[stand_in]["checks"] if c["status"] == "skipped"}
    # A container runs the tools it has (here the fixtures' fake tools, which do not call themselves stand-ins);
    # what needs a kernel it does not have (an NFS mount) is skipped with the reason.
    assert skipped == {"shared:data": "needs a kernel this host does not have: a shared filesystem is mounted by the "
                                      "kernel's client, nfs x:/d at /nowhere not mounted", "dcgm_diag": RUNNING_JOBS}
    assert (tmp_path / "bin" / "dcgmi-diag.log").read_text().splitlines() == ["diag -r 1 -j"] * 2  # the other two hosts'
    assert checks["dcgm_diag"]["status"] == "pass"
    ran = {c["name"]: c for c in report[stand_in]["checks"]}
    assert ran["ecc_enabled"]["status"] == ran["ib_ports"]["status"] == "pass"
    assert not any(c["stand_in"] for c in report[stand_in]["checks"])
    assert [c["status"] for c in report[stand_in]["checks"] if c["name"] == "shared:root"] == ["pass"]

    observed = json.loads((results / "observations" / f"{healthy}.json").read_text())
    assert observed["nvidia_smi"]["rc"] == 0 and observed["nvidia_smi"]["stdout"].startswith("<?xml")
    assert observed["tools"]["nvidia_smi"] is True and observed["checks_without_kernel"] == []
    rack = json.loads((results / "summary-rack01.json").read_text())
    assert (rack["result"], rack["counts"]["incomplete"], rack["counts"]["fail"]) == ("fail", 1, 1)
    assert rack["could_not_run"][stand_in] == sorted(skipped)


def test_acceptance_incomplete_exits_3_with_a_line_naming_hosts_and_checks(tmp_path):
    f = load_spec(site_dir("lab-b200"))
    bmcs = [f"{n.name}-bmc" for n in f.nodes]
    verdicts = {h: {"result": "pass", "counts": {"pass": 3, "fail": 0, "skipped": 0}, "skipped": {}} for h in bmcs}
    verdicts[bmcs[1]] = {"result": "incomplete", "counts": {"pass": 1, "fail": 0, "skipped": 2},
                         "skipped": {"ecc_enabled": "lab stand-in", "ib_ports": "lab stand-in"}}
    done = bringup(tmp_path, VERDICTS_PLAY, {}, {"verdicts": verdicts})
    assert done.returncode == EXIT_ACCEPTANCE_INCOMPLETE == 3, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert summary["acceptance_incomplete"] == [bmcs[1]] and summary["exit_code"] == 3
    line = next(x for x in done.stderr.splitlines() if x.startswith("acceptance incomplete"))
    assert line == (f"acceptance incomplete on 1 host: checks that need hardware could not run (ecc_enabled, ib_ports) "
                    f"on {bmcs[1]}")
    # A diagnostic not run for a node's running jobs: the line says so, and what to do.
    verdicts[bmcs[2]] = {"result": "incomplete", "counts": {"pass": 2, "fail": 0, "skipped": 1},
                         "skipped": {"dcgm_diag": RUNNING_JOBS}}
    done = bringup(tmp_path, VERDICTS_PLAY, {}, {"verdicts": verdicts})
    assert done.returncode == 3, done.stdout + done.stderr
    assert (f"acceptance incomplete on 2 hosts: checks that need hardware could not run (dcgm_diag, ecc_enabled, "
            f"ib_ports) on {bmcs[1]}, {bmcs[2]}; the DCGM diagnostic was not run on 1 host(s) running jobs ({bmcs[2]}): "
            "drain them, or wait until they are idle, and run the acceptance stage on them") in done.stderr


def test_exit_code_failure_wins_over_incomplete():
    def result(acceptance: dict, failed: int = 0) -> BringupResult:
        counts = {"ok": 1, "changed": 0, "failed": failed, "unreachable": 0, "skipped": 0, "rescued": 0, "ignored": 0}
        return BringupResult("s", "site.yml", None, False, "failed" if failed else "successful", 2 if failed else 0,
                             {"n1": counts}, Path("."), [], acceptance)
    incomplete = {"n1": {"result": "incomplete"}}
    assert (result({}).exit_code, result(incomplete).exit_code, result(incomplete, failed=1).exit_code) == (0, 3, 1)
    assert result({"n1": {"result": "pass"}}).exit_code == 0
    stats = {"artifact_data": {"aifactory_acceptance": {"n2": {"result": "fail"}, "n1": {"result": "pass"}}}}
    assert list(acceptance_verdicts(stats)) == ["n1", "n2"] and acceptance_verdicts({}) == {}
