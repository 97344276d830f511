"""`aifactory rehearse lab-b200 --fault NODE:nvlink-down`: the drivers and fabric stages install from the
lab's stand-in vendor repositories, acceptance runs every check of the HGX B200 profile against the
stand-in tools on every node, and the rehearsal fails naming exactly the faulty node and its check;
the healthy nodes pass every check. One rehearsal (three nodes cost minutes on two cores)."""

from __future__ import annotations

import json
import re

import pytest

from aifactory.cli import main
from aifactory.lab.hardware import FAULTS
from aifactory.lab.rehearsal import AWS_LINK_CHECKS
from aifactory.lab.state import LabState
from aifactory.spec import load_spec
from tests.conftest import site_dir
from tests.scenarios.test_rehearse import lab_leftovers

# A long lab scenario (AIFACTORY_LAB_LONG=1, tests/scenarios/conftest.py): a lab-b200 lab and two bring-ups of its own.
pytestmark = [pytest.mark.lab, pytest.mark.lab_long]


def test_rehearsal_with_a_fault_fails_exactly_that_node_and_check(lab_dir, capsys):
    f = load_spec(site_dir("lab-b200"))
    faulty, healthy = f.nodes[1].name, [n.name for n in f.nodes if n.name != f.nodes[1].name]
    rc = main(["rehearse", str(site_dir("lab-b200")), "--fault", f"{faulty}:nvlink-down", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    stages = {s["name"]: s for s in report["stages"]}
    assert rc == 1 and not report["passed"]
    # Both bring-ups ran on every host (acceptance judges in its own stage), the second changed nothing.
    assert stages["bringup"]["outcome"] == "passed", stages["bringup"]
    assert stages["bringup again (must change nothing)"]["outcome"] == "passed", stages["bringup again (must change nothing)"]
    # The drivers and fabric stages installed for real, from the stand-in repositories.
    for stage in ("drivers", "fabric"):
        assert report["bringup_stages"][stage]["changed"] > 0, report["bringup_stages"][stage]
    # Acceptance: exactly the faulty node's NVLink check failed; every other check of the profile passed on
    # every node, against the stand-in tools (the AWS link's checks aside: another stage's).
    acceptance = stages["acceptance"]
    assert acceptance["outcome"] == "failed"
    assert f"{faulty}: nvlink_links (GPU 0: 1 of 18 links inactive)" in acceptance["detail"]
    assert re.search(rf"{faulty} fail \(\d+ passed, 1 failed", acceptance["detail"])
    for host in healthy:  # no failed check (the AWS link's may not have run: another stage's)
        assert re.search(rf"{host} (pass|incomplete) \(\d+ passed, 0 failed", acceptance["detail"]), acceptance["detail"]
    checks = report["acceptance_checks"]
    assert FAULTS["nvlink-down"].fails({}) == {"nvlink_links"}
    assert checks["nvlink_links"] == {"pass": 2, "fail": 1, "skipped": 0, "stand_in": 3}
    hardware_checks = {name: row for name, row in checks.items() if name not in AWS_LINK_CHECKS}
    assert {"accelerator_count", "ecc_enabled", "memory_health", "driver_version", "fabric_state",
            "fabric_manager_service", "fabric_manager_version", "dcgm_diag", "ib_ports", "scratch"} <= set(hardware_checks)
    for name, row in hardware_checks.items():
        if name != "nvlink_links":
            assert (row["pass"], row["fail"], row["skipped"]) == (3, 0, 0), (name, row)
            assert row["stand_in"] == (0 if name == "scratch" else 3), (name, row)
    assert stages["lab down"]["outcome"] == "passed"
    assert LabState.load("lab-b200") is None and lab_leftovers(lab_dir) == []
