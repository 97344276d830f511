"""`aifactory --version` prints the package's version and exits 0."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_version_is_the_package_version():
    done = subprocess.run([sys.executable, "-m", "aifactory.cli", "--version"], capture_output=True, text=True)
    released = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert (done.returncode, done.stdout, done.stderr) == (0, f"aifactory {released}\n", "")
    assert version("aifactory") == released  # the installed package is the one in this tree
