"""`aifactory rehearse lab-b200`: the whole deployment against the lab passes, the second bringup
changes nothing, and the lab is gone afterwards. Needs D's `aifactory bringup --format json`."""

from __future__ import annotations

import json

import pytest

from aifactory.cli import main
from aifactory.lab.state import LabState
from tests.conftest import site_dir

pytestmark = pytest.mark.lab


def test_rehearse_lab_b200_passes_and_leaves_no_lab(lab_dir, capsys):
    rc = main(["rehearse", str(site_dir("lab-b200")), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    outcomes = {s["name"]: s["outcome"] for s in report["stages"]}
    assert rc == 0, report
    assert outcomes["bringup again (must change nothing)"] == "passed"
    assert outcomes["GPU / kernel-module steps"] == "skipped"
    assert outcomes["lab down"] == "passed"
    assert LabState.load("lab-b200") is None
