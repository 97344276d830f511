"""Helpers to write a mutated copy of an example site and load it."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import site_dir


@pytest.fixture
def write_site(tmp_path) -> Callable[..., Path]:
    """Copy an example site into tmp_path, apply `mutate(data)` to its YAML, return the site dir."""

    def write(site: str, mutate: Callable[[dict], None] | None = None) -> Path:
        source = site_dir(site)
        target = tmp_path / site
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("group_vars", "*.json"))
        data = yaml.safe_load((source / "factory.yaml").read_text())
        data = copy.deepcopy(data)
        if mutate:
            mutate(data)
        (target / "factory.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        return target

    return write
