"""State and records have one home, the user's state directory, found without the checkout; records an
older aifactory kept in the checkout (`.aifactory/`, `.lab/`) are moved there or refused with what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aifactory import cli
from aifactory.core import project, userstate
from aifactory.core.userstate import LegacyStateError, migrate_legacy
from aifactory.day2 import replace, rollout
from aifactory.lab.state import LabState, lab_root
from tests.conftest import REPO, site_dir


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("AIFACTORY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("AIFACTORY_LAB_DIR", raising=False)
    return tmp_path / "state"


def test_the_state_directory_follows_xdg_and_the_override(tmp_path, monkeypatch):
    monkeypatch.delenv("AIFACTORY_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert userstate.state_dir() == tmp_path / "xdg" / "aifactory"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert userstate.state_dir() == tmp_path / "home" / ".local" / "state" / "aifactory"


def test_records_and_labs_are_keyed_by_site_in_the_state_directory(state, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert rollout.record_path("paris-gb200") == state / "sites" / "paris-gb200" / "day2" / "rollout.json"
    assert replace.record_path("paris-gb200") == state / "sites" / "paris-gb200" / "day2" / "replace.json"
    assert userstate.acceptance_dir("paris-gb200") == state / "sites" / "paris-gb200" / "acceptance"
    assert lab_root() == state / "labs"
    LabState(site="lab-b200").save()
    assert (state / "labs" / "lab-b200" / "state.json").is_file() and LabState.load("lab-b200").root == state / "labs"
    monkeypatch.setenv("AIFACTORY_LAB_DIR", str(tmp_path / "own-labs"))  # the tests' override stays
    assert lab_root() == tmp_path / "own-labs"


def old_checkout(tmp_path: Path, lab_resources: list) -> Path:
    """A checkout as an older aifactory left it: acceptance results, day-2 records and a lab's state."""
    top = tmp_path / "checkout"
    (top / ".aifactory" / "acceptance" / "lab-b200").mkdir(parents=True)
    (top / ".aifactory" / "acceptance" / "lab-b200" / "summary-rack01.json").write_text("{}")
    (top / ".aifactory" / "rollout").mkdir()
    (top / ".aifactory" / "rollout" / "lab-b200.json").write_text('{"site": "lab-b200"}')
    (top / ".aifactory" / "replace").mkdir()
    (top / ".aifactory" / "replace" / "lab-b200.json").write_text('{"site": "lab-b200", "replacements": []}')
    (top / ".lab" / "lab-b200").mkdir(parents=True)
    (top / ".lab" / "lab-b200" / "state.json").write_text(json.dumps({"site": "lab-b200", "resources": lab_resources,
                                                                      "endpoints": {}, "nodes": {}}))
    return top


def test_old_records_are_moved_into_the_state_directory_with_a_line_each(state, tmp_path):
    top = old_checkout(tmp_path, lab_resources=[])
    lines = migrate_legacy(top)
    site = state / "sites" / "lab-b200"
    assert (site / "acceptance" / "summary-rack01.json").is_file()
    assert json.loads((site / "day2" / "rollout.json").read_text()) == {"site": "lab-b200"}
    assert (site / "day2" / "replace.json").is_file() and (state / "labs" / "lab-b200" / "state.json").is_file()
    assert len(lines) == 4 and all(line.startswith("moved ") and str(state) in line for line in lines)
    assert not (top / ".aifactory" / "rollout" / "lab-b200.json").exists() and not (top / ".lab" / "lab-b200").exists()
    assert migrate_legacy(top) == []  # nothing left to move


def test_a_lab_still_up_in_the_old_place_is_refused_and_nothing_moves(state, tmp_path):
    top = old_checkout(tmp_path, lab_resources=[{"kind": "netns", "name": "aif-lab-b200"}])
    with pytest.raises(LegacyStateError, match=r"a lab is up .*AIFACTORY_LAB_DIR=.*lab down lab-b200"):
        migrate_legacy(top)
    assert (top / ".aifactory" / "rollout" / "lab-b200.json").is_file() and not (state / "sites").exists()


def test_a_record_at_both_places_is_refused(state, tmp_path):
    top = old_checkout(tmp_path, lab_resources=[])
    (state / "sites" / "lab-b200" / "day2").mkdir(parents=True)
    (state / "sites" / "lab-b200" / "day2" / "rollout.json").write_text("{}")
    with pytest.raises(LegacyStateError, match="exists too: keep one"):
        migrate_legacy(top)


def test_every_command_moves_old_records_first_or_exits_2(state, tmp_path, monkeypatch, capsys):
    top = old_checkout(tmp_path, lab_resources=[{"kind": "netns", "name": "aif-lab-b200"}])
    monkeypatch.setattr(project, "checkout", lambda: top)
    assert cli.main(["validate", str(site_dir("lab-b200"))]) == 2
    assert "a lab is up with its state in" in capsys.readouterr().err
    (top / ".lab" / "lab-b200" / "state.json").unlink()
    assert cli.main(["validate", str(site_dir("lab-b200"))]) == 0
    assert capsys.readouterr().err.count("note: moved ") == 3


def test_the_checkout_is_the_project_when_running_from_it(monkeypatch, tmp_path):
    assert project.checkout() == REPO and project.root() == REPO and project.program() == REPO / "infra"
    assert project.playbooks() == REPO / "playbooks" and project.ansible_cfg() == REPO / "ansible.cfg"
    installed = tmp_path / "site-packages" / "aifactory"  # no pyproject.toml and playbooks/ above it
    installed.mkdir(parents=True)
    monkeypatch.setattr(project, "package_dir", lambda: installed)
    assert project.checkout() is None and project.root() == installed / "_project"
