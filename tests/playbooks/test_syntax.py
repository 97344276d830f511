"""Every playbook parses with each example site's inventory (the aifactory inventory plugin); the
validation play that site.yml runs first has its own tests (test_validate_play.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SITES

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
STAGES = ("racks", "os", "drivers", "fabric", "storage", "awslink", "acceptance", "scheduler")


def run_playbook(site: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(PLAYBOOK), "-i", f"inventories/{site}/aifactory.yml", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", **(env or {})},
    )


def test_site_imports_validation_then_every_stage_in_order():
    text = (REPO / "playbooks" / "site.yml").read_text()
    imports = [line.split(":", 1)[1].strip() for line in text.splitlines() if "import_playbook:" in line]
    assert imports == ["validate.yml"] + [f"{stage}.yml" for stage in STAGES]


@pytest.mark.parametrize("site", SITES)
def test_site_playbook_passes_syntax_check(site):
    done = run_playbook(site, "--syntax-check", "playbooks/site.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Failed to load inventory plugin" not in done.stderr
