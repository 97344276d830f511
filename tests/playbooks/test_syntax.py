"""Every playbook parses with each example site's inventory (the aifactory inventory plugin); the
validation play that site.yml runs first has its own tests (test_validate_play.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aifactory.day2.rollout import ROLLOUT_STAGES
from aifactory.node.bringup import PLAYBOOKS
from aifactory.node.bringup import STAGES as BRINGUP_STAGES
from aifactory.node.stage_tally import play_stages
from tests.conftest import SITES

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
STAGES = ("racks", "os", "drivers", "fabric", "storage", "awslink", "acceptance", "scheduler", "monitoring")


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


def listed_plays(done: subprocess.CompletedProcess) -> set[str]:
    """Play names in `--list-tasks` output (`  play #2 (nodes): Name\tTAGS: [...]`)."""
    return {line.split("): ", 1)[1].split("\t")[0].strip() for line in done.stdout.splitlines() if "play #" in line}


@pytest.mark.parametrize("stage", ROLLOUT_STAGES)
def test_rollout_playbook_imports_the_named_stage_and_no_other(stage):
    done = run_playbook("lab-gb200", "--list-tasks", "playbooks/rollout.yml", "-e", f"aifactory_rollout_stage={stage}")
    assert done.returncode == 0, done.stdout + done.stderr
    stage_of = play_stages(PLAYBOOKS, BRINGUP_STAGES)
    assert {play for play in listed_plays(done) if play in stage_of} == {
        play for play, s in stage_of.items() if s in (stage, "validate", "acceptance")}  # acceptance: the gate


def test_rollout_playbook_without_a_stage_is_refused():
    done = run_playbook("lab-gb200", "--syntax-check", "playbooks/rollout.yml")
    assert done.returncode != 0 and "aifactory_rollout_stage" in done.stdout + done.stderr
