"""Lab state is found by site name from any working directory (issue 13, item 5): `lab status` and `lab
down` run elsewhere, even without the AIFACTORY_LAB_DIR the lab was started with, never say "no lab"."""

from __future__ import annotations

import json

from aifactory.lab import lifecycle
from aifactory.lab.state import LabState
from tests.hostile.conftest import REPO, run_inprocess


def test_status_and_down_from_another_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AIFACTORY_LAB_DIR", str(tmp_path / "labs"))
    LabState(site="lab-b200", endpoints={"aws": "http://127.0.0.1:1", "bmc": "https://127.0.0.1:2"}).save()
    monkeypatch.delenv("AIFACTORY_LAB_DIR")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    code, out, err = run_inprocess(capsys, "lab", "status", REPO / "inventories" / "lab-b200", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["state_dir"] == str(tmp_path / "labs" / "lab-b200")

    assert lifecycle.down("lab-b200", progress=lambda line: None) is True
    assert not (tmp_path / "labs" / "lab-b200" / "state.json").exists()
    code, out, _ = run_inprocess(capsys, "lab", "status", REPO / "inventories" / "lab-b200")
    assert code == 1 and "no lab is up for lab-b200" in out


def test_lab_up_gives_each_node_the_scratch_disk_the_storage_stage_needs():
    """`aifactory lab up SITE` with no option: one empty loop device per node (issue 13, item 5)."""
    from aifactory.cli import build_parser

    args = build_parser().parse_args(["lab", "up", str(REPO / "inventories" / "lab-b200")])
    assert args.scratch_disks == lifecycle.SCRATCH_DISKS == 1
