"""Fixtures shared by every test: the repository root and the example sites."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SITES = ("paris-gb200", "ohio-trn3", "lab-b200")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def site_dir(site: str) -> Path:
    return REPO / "inventories" / site
