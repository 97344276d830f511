"""make test's grouping of the suite for its two xdist workers (tests/conftest.py): one site's lab modules
never run on both workers at once, other modules stay whole, and the labs are collected first."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import LAB_ORDER, REPO, xdist_group_of


def test_one_sites_lab_modules_are_one_group_and_other_modules_their_own():
    assert xdist_group_of("tests/scenarios/test_os_stage.py::test_a") == xdist_group_of("tests/scenarios/test_rehearse.py::t") \
        == "lab-b200"
    assert xdist_group_of("tests/scenarios/test_day2.py::test_a") == "lab-day2"
    assert xdist_group_of("tests/scenarios/test_rehearse_gb200.py::t") == "lab-gb200"
    assert xdist_group_of("tests/aws/test_engine.py::test_a[x]") == "tests/aws/test_engine.py"


def test_the_labs_are_collected_first_the_longest_first():
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                            capture_output=True, text=True, cwd=REPO, check=True).stdout.splitlines()
    groups = [xdist_group_of(line) for line in listed if "::" in line]
    in_a_lab = [g in LAB_ORDER for g in groups]
    assert in_a_lab == sorted(in_a_lab, reverse=True)  # every lab test before every other test
    assert list(dict.fromkeys(g for g in groups if g in LAB_ORDER)) == list(LAB_ORDER)  # each lab whole, in order
