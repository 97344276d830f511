"""The code's structure: the package's import layers hold (the import-linter contract in pyproject.toml), and no
code is duplicated (pylint's duplicate-code check) in the package, the Pulumi program, the policy pack and the
playbooks' plugins and modules."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

BIN = Path(sys.executable).parent
DUPLICATE_CODE = (str(BIN / "pylint"), "--persistent=n", "--disable=all", "--enable=duplicate-code",
                  "--min-similarity-lines=6", "--recursive=y")
# Seven lines of a function body: pylint reports a copy longer than --min-similarity-lines.
COPIED = "def scaled(x):\n" + "".join(f"    x = x * {n} + 1\n" for n in range(6)) + "    return x\n"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the aifactory package under root, with root's pyproject.toml."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(BIN / "lint-imports"), "--no-cache"], cwd=root, env=env, capture_output=True, text=True)


def duplicate_code(root: Path, paths: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([*DUPLICATE_CODE, *paths], cwd=root, capture_output=True, text=True)


def test_the_package_keeps_its_layers():
    result = lint_imports(REPO)
    assert result.returncode == 0 and "Contracts: 1 kept, 0 broken" in result.stdout, result.stdout + result.stderr


def test_an_import_from_a_lower_layer_to_a_higher_one_breaks_the_contract(tmp_path):
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    shutil.copytree(REPO / "aifactory", tmp_path / "aifactory", ignore=shutil.ignore_patterns("__pycache__"))
    with (tmp_path / "aifactory/spec/model.py").open("a") as model:
        model.write("\nfrom aifactory.commands import validate\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "aifactory.spec is not allowed to import aifactory.commands" in result.stdout, result.stdout + result.stderr


def test_no_duplicate_code():
    paths = ["aifactory", "infra", "policies", *(str(p.relative_to(REPO)) for p in
                                                 sorted([*REPO.glob("playbooks/*_plugins"), *REPO.glob("playbooks/library"),
                                                         *REPO.glob("playbooks/roles/*/library")]))]
    assert {"playbooks/filter_plugins", "playbooks/inventory_plugins"} <= set(paths)
    result = duplicate_code(REPO, paths)
    assert result.returncode == 0 and "R0801" not in result.stdout, result.stdout + result.stderr


def test_the_duplicate_code_check_finds_a_function_body_copied_to_another_file(tmp_path):
    for name in ("first.py", "second.py"):
        (tmp_path / name).write_text(COPIED)
    result = duplicate_code(tmp_path, ["."])
    assert result.returncode != 0 and "R0801" in result.stdout and "==first:[1:8]" in result.stdout, result.stdout
