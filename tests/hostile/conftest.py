"""Helpers for the hostile corpus: mutated copies of the example sites and the CLI run in-process or
as a subprocess, with the checks every refusal must pass (exit 2, the field or file named, no traceback)."""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from aifactory import cli
from tests.conftest import REPO, site_dir

AIFACTORY = REPO / ".venv" / "bin" / "aifactory"


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path, monkeypatch):
    """Runs registered by bring-ups (and their scrubbing) stay in this test's directory."""
    monkeypatch.setenv("AIFACTORY_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def site(tmp_path) -> Callable[..., Path]:
    """Copy an example site; `mutate(data)` edits its parsed YAML, `text(str) -> str` its raw text."""

    def write(name: str, mutate: Callable[[dict], None] | None = None,
              text: Callable[[str], str] | None = None) -> Path:
        target = tmp_path / name
        shutil.copytree(site_dir(name), target, ignore=shutil.ignore_patterns("group_vars", "*.json"))
        spec = target / "factory.yaml"
        if mutate:
            data = copy.deepcopy(yaml.safe_load(spec.read_text()))
            mutate(data)
            spec.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        if text:
            spec.write_text(text(spec.read_text()))
        return target

    return write


def run_inprocess(capsys, *args: str) -> tuple[int, str, str]:
    """`aifactory ARGS` in this process (argparse's own usage errors included): (exit, stdout, stderr)."""
    try:
        code = cli.main([str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


def run_subprocess(*args: str, env: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(AIFACTORY), *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=timeout)


def assert_refused(code: int, err: str, *named: str) -> None:
    """Exit 2, every name in `named` in the message, and no traceback."""
    assert code == 2, err
    assert "Traceback" not in err, err
    for name in named:
        assert name in err, (name, err)
