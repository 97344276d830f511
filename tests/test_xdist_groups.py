"""make test's grouping of the suite for its two xdist workers (tests/conftest.py): one site's lab modules
never run on both workers at once, other modules stay whole, and the labs are collected first."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import LAB_ORDER, REPO, UNIT_FIRST, xdist_group_of


def test_one_sites_lab_modules_are_one_group_and_other_modules_their_own():
    assert xdist_group_of("tests/scenarios/test_scratch_role.py::test_a") \
        == xdist_group_of("tests/scenarios/test_rehearse.py::t") == "lab-b200"
    assert xdist_group_of("tests/scenarios/test_os_stage.py::test_a") == "lab-os"
    assert xdist_group_of("tests/scenarios/test_day2.py::test_a") == "lab-day2"
    assert xdist_group_of("tests/scenarios/test_rehearse_gb200.py::t") == "lab-gb200"
    assert xdist_group_of("tests/aws/test_engine.py::test_a[x]") == "tests/aws/test_engine.py"


def test_the_labs_are_collected_first_the_longest_first():
    # Every lab module, named after other modules (the order the hook must undo): collecting the whole unit suite
    # as well would import every test module for no more proof.
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                             "tests/test_version.py", "tests/test_xdist_groups.py", "tests/playbooks/test_lint.py",
                             "tests/scenarios"],
                            capture_output=True, text=True, cwd=REPO, check=True).stdout.splitlines()
    groups = [xdist_group_of(line) for line in listed if "::" in line]
    runs = [g for i, g in enumerate(groups) if i == 0 or groups[i - 1] != g]  # a group split in two shows twice
    # each lab whole, in order, then the long unit modules, then the others
    assert runs == [*LAB_ORDER, "tests/playbooks/test_lint.py", "tests/test_version.py", "tests/test_xdist_groups.py"]


def test_the_long_unit_modules_named_to_go_first_exist():
    assert UNIT_FIRST and all((REPO / module).is_file() for module in UNIT_FIRST)
