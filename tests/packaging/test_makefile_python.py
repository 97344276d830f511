"""`make` finds a Python the project supports (3.11 to 3.13) on PATH, or says how to name one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO

MAKE = shutil.which("make")
REFUSES = "#!/bin/sh\nexit 1\n"  # a Python outside 3.11-3.13: the Makefile's version probe fails


def fake_python(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(body)
    path.chmod(0o755)


def run_make(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MAKE, "-f", str(REPO / "Makefile"), *args, ".venv/bin/uv"], cwd=tmp_path, text=True,
                          capture_output=True, env={"PATH": str(tmp_path / "bin")}, timeout=60)


def test_the_first_supported_python_on_path_makes_the_venv(tmp_path):
    (tmp_path / "bin").mkdir()
    fake_python(tmp_path / "bin", "python3.11", REFUSES)
    fake_python(tmp_path / "bin", "python3.12", '#!/bin/sh\n[ "$1" = -V ] && echo "Python 3.12.9"\nexit 0\n')
    done = run_make(tmp_path, "-n")
    assert done.returncode == 0, done.stderr
    assert f"{tmp_path}/bin/python3.12 -m venv .venv" in done.stdout
    assert "uv==" in done.stdout


def test_no_supported_python_says_how_to_name_one(tmp_path):
    (tmp_path / "bin").mkdir()
    fake_python(tmp_path / "bin", "python3.11", REFUSES)
    fake_python(tmp_path / "bin", "python3", REFUSES)
    done = run_make(tmp_path)
    assert done.returncode != 0
    assert "no Python 3.11, 3.12 or 3.13 on PATH" in done.stdout and "make PYTHON=/path/to/python3.x" in done.stdout
    assert not (tmp_path / ".venv").exists()
