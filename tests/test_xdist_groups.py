"""make test's grouping of the suite for its two xdist workers (tests/conftest.py): one site's lab modules
never run on both workers at once, other modules stay whole, and the labs are collected first."""

from __future__ import annotations

import subprocess
import sys
import types

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


class FakeConfig:
    """What xdist's scheduler reads of pytest's configuration: two workers (-n 2), with make test's
    --no-loadscope-reorder."""

    option = types.SimpleNamespace(loadscopereorder=False)

    def getvalue(self, name):
        return {"tx": ["2*popen"]}[name]


class FakeWorker:
    """A worker as the scheduler sees it: the test indexes it was sent, in order, until it is shut down."""

    def __init__(self, name: str):
        self.gateway = types.SimpleNamespace(id=name)
        self.sent, self.shutting_down = [], False

    def send_runtest_some(self, indexes):
        self.sent += indexes

    def shutdown(self):
        self.shutting_down = True


def test_a_worker_gets_its_next_group_only_once_it_has_one_test_left():
    """xdist gives a worker the next group while it still has two tests to run: the worker about to run lab-b200's
    rehearsal (its quick tests done, the rehearsal and one more left) was given converge too, while the other worker
    was then left with nothing to do. Here a worker is sent a group once the one before it is down to its last test
    (which a worker cannot start before it knows the test after it)."""
    from tests import conftest

    collection = ([f"tests/scenarios/test_day2.py::t{i}" for i in range(4)]
                  + ["tests/scenarios/test_rehearse_gb200.py::t"]
                  + [f"tests/scenarios/test_lab_stand_ins.py::t{i}" for i in range(3)]
                  + ["tests/scenarios/test_rehearse.py::t", "tests/scenarios/test_scratch_role.py::t"]
                  + ["tests/scenarios/test_converge.py::t0", "tests/scenarios/test_converge.py::t1"])
    scheduler = conftest.pytest_xdist_make_scheduler(FakeConfig(), None)
    one, two = FakeWorker("gw0"), FakeWorker("gw1")
    for worker in (one, two):
        scheduler.add_node(worker)
        scheduler.add_node_collection(worker, collection)
    scheduler.schedule()
    groups = lambda worker: [xdist_group_of(collection[i]) for i in worker.sent]  # noqa: E731
    # lab-gb200's group is one test, which its worker cannot start alone: lab-b200's comes with it.
    assert groups(one) == ["lab-day2"] * 4 and groups(two) == ["lab-gb200"] + ["lab-b200"] * 5
    done = {one: 0, two: 0}

    def finish(worker, n):
        for _ in range(n):
            scheduler.mark_test_complete(worker, worker.sent[done[worker]])
            done[worker] += 1
    finish(two, 4)  # lab-gb200 and lab-b200's quick tests: its rehearsal and one more left
    assert len(groups(two)) == 6 and groups(one) == ["lab-day2"] * 4  # nothing more for either yet
    finish(one, 3)  # day 2 down to its last test: converge goes to it
    assert groups(one) == ["lab-day2"] * 4 + ["lab-converge"] * 2 and len(groups(two)) == 6
    finish(two, 1)  # nothing left to give: the worker is told to end after its last test
    assert two.shutting_down and not one.shutting_down
