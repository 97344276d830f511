"""Fixtures shared by every test: the repository root and the example sites."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SITES = ("paris-gb200", "ohio-trn3", "lab-b200", "lab-gb200")
# `make test` runs the suite on two pytest-xdist workers (`--dist loadgroup --no-loadscope-reorder`): a lab
# waits on its nodes much of the time, so two labs, or a lab and the other tests, share the two cores. Each
# lab module names its site's group (`xdist_group`; lab-b200 when it names none), since one site's lab can
# be up only once at a time; every other module is a group of its own, so its module fixtures are set up
# once. The labs go first, the longest first, so that no long lab is left for the end.
LAB_GROUPS = ("lab-day2", "lab-gb200", "lab-b200", "lab-bench")
DEFAULT_LAB_GROUP = "lab-b200"


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the test ids
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            group = DEFAULT_LAB_GROUP if item.get_closest_marker("lab") else item.nodeid.split("::", 1)[0]
            item.add_marker(pytest.mark.xdist_group(group))

    def rank(item) -> int:
        group = item.get_closest_marker("xdist_group").args[0]
        return LAB_GROUPS.index(group) if group in LAB_GROUPS else len(LAB_GROUPS)

    items.sort(key=rank)  # stable: each group keeps its tests' order


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
