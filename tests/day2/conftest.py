"""Fixtures for the day-2 procedures: rollout, add a rack, replace a node."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import site_dir


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path, monkeypatch):
    """Runs registered by bring-ups stay in this test's directory."""
    monkeypatch.setenv("AIFACTORY_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def site(tmp_path) -> Callable[..., Path]:
    """Copy an example site; `mutate(data)` edits its parsed YAML."""

    def write(name: str, mutate: Callable[[dict], None] | None = None, as_name: str | None = None) -> Path:
        target = tmp_path / (as_name or name)
        shutil.copytree(site_dir(name), target, ignore=shutil.ignore_patterns("group_vars", "*.json"))
        if mutate:
            spec = target / "factory.yaml"
            data = copy.deepcopy(yaml.safe_load(spec.read_text()))
            mutate(data)
            spec.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        return target

    return write
