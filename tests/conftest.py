"""Fixtures shared by every test: the repository root and the example sites."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SITES = ("paris-gb200", "ohio-trn3", "lab-b200", "lab-gb200")
# `make test` runs the scenarios on two pytest-xdist workers (a lab waits on its nodes much of the time, so two
# labs share the two cores) and the unit tests on three (Makefile). A worker takes a whole group at a time: all the
# lab modules of one site (its lab can be up only once at a time; lab-b200 unless LAB_SITES names another),
# or one other module (its module fixtures are set up once), and its next group only once it has one test left
# (which it cannot start before it knows the test after it). The labs go first, the longest first (day 2 about 16
# minutes, lab-gb200 13, lab-b200 12, converge 6.5, the strategy equality 4, the os stage 1.5 in the last CI run),
# so that no long lab is left for the end. (xdist's own `xdist_group` marks do not group under pytest 9.2,
# whose node ids xdist can no longer rename, so the grouping is this scheduler's.)
LAB_SITES = {"tests/scenarios/test_day2.py": "lab-day2", "tests/scenarios/test_rehearse_gb200.py": "lab-gb200",
             "tests/scenarios/test_converge.py": "lab-converge", "tests/scenarios/test_strategy_equality.py": "lab-bench",
             "tests/scenarios/test_os_stage.py": "lab-os"}
LAB_ORDER = ("lab-day2", "lab-gb200", "lab-b200", "lab-converge", "lab-bench", "lab-os")
# The unit modules that take longest on a worker (ansible-lint, plans of whole sites, real playbook runs): they
# go first after the labs (`make unit` keeps this order: `--no-loadscope-reorder`), so that no long module is
# left for the end while the other worker idles.
UNIT_FIRST = ("tests/playbooks/test_lint.py", "tests/reports/test_diff.py", "tests/aws/test_stand_in.py",
              "tests/day2/test_rollout_slurm_plays.py", "tests/playbooks/test_role_acceptance.py",
              "tests/day2/test_diff_scheduler.py", "tests/ci/test_templates.py", "tests/aws/test_faults.py",
              "tests/test_structure.py")


def xdist_group_of(nodeid: str) -> str:
    """The group of a test: its lab site for the lab modules, else its module."""
    module = nodeid.split("::", 1)[0]
    if module.startswith("tests/scenarios/"):
        return LAB_SITES.get(module, "lab-b200")
    return module


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    order = LAB_ORDER + UNIT_FIRST

    def rank(item) -> int:
        group = xdist_group_of(item.nodeid)
        return order.index(group) if group in order else len(order)

    items.sort(key=rank)  # stable: each group keeps its tests' order


def pytest_xdist_make_scheduler(config, log):
    """Whole groups to a worker, in the collection's order (with `--no-loadscope-reorder`)."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group_of(nodeid)

        def _reschedule(self, node) -> None:
            """The next group once `node` has one test left, not two as xdist gives it: a worker given a lab group
            while it still had two tests to run kept it from the other worker, which then waited with nothing to
            do (the last CI run: 31.6 minutes of scenarios, of which one worker was idle 5)."""
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            if self._pending_of(self.assigned_work[node]) <= 1:
                self._assign_work_unit(node)

    return GroupScheduling(config, log)


@pytest.fixture(scope="session", autouse=True)
def run_state_dir(tmp_path_factory):
    """aifactory's state directory (records, runs, labs) is the test run's own, never the user's; a test
    may point AIFACTORY_STATE_DIR elsewhere. So is Ansible's fact cache, for the tests that run ansible-playbook
    themselves (ansible.cfg names the user's: facts a lab bring-up cached there for lab-gb200's nodes let them skip
    gathering and changed which hosts a play's first task listed)."""
    with pytest.MonkeyPatch.context() as patch:
        state = tmp_path_factory.mktemp("state")
        patch.setenv("AIFACTORY_STATE_DIR", str(state))
        patch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(state / "ansible-facts"))
        yield


@pytest.fixture(autouse=True)
def no_labs_of_other_runs(request, monkeypatch):
    """A test that boots no lab sees no lab of another run on this machine (a scenario run beside it, or one a
    killed run left up): LabState.load finds only what the test itself recorded. The lab modules and the tests
    marked `machine_traces` read the machine's traces as `aifactory` does."""
    if (request.node.get_closest_marker("lab") or request.node.nodeid.startswith("tests/scenarios/")
            or request.node.get_closest_marker("machine_traces")):
        return
    from aifactory.lab import state
    monkeypatch.setattr(state, "traced_roots", lambda site: [])


@pytest.fixture(scope="session", autouse=True)
def checkout_trusted_by_git():
    """git trusts this checkout when the tests run as another user than its owner (`make unit` without root in a
    root's checkout): `diff --against REF` reads its git history, and git refuses a repository someone else owns."""
    if REPO.stat().st_uid == os.geteuid() or "GIT_CONFIG_COUNT" in os.environ:
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (("GIT_CONFIG_COUNT", "1"), ("GIT_CONFIG_KEY_0", "safe.directory"),
                            ("GIT_CONFIG_VALUE_0", str(REPO))):
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def site_dir(site: str) -> Path:
    return REPO / "inventories" / site


def put(path: str, value):
    """A mutation of a parsed spec that sets a dotted path (list indexes as numbers)."""

    def mutate(data):
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def both(*mutations):
    """One mutation made of several, applied in order."""

    def mutate(data):
        for m in mutations:
            m(data)

    return mutate
