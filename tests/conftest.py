"""Fixtures shared by every test: the repository root and the example sites."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SITES = ("paris-gb200", "ohio-trn3", "lab-b200", "lab-gb200")


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
