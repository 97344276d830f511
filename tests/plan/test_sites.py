"""The example sites plan clean with the project's infra/ program, and the outputs keep secrets out."""

from __future__ import annotations

import json

import pytest

from aifactory.cli import main
from aifactory.plan import MASK, make_plan, masked
from aifactory.plan.engine import MOCK_ONLY, MOTO
from tests.conftest import SITES, site_dir


@pytest.mark.parametrize("site", SITES)
def test_site_plans_clean(site):
    plan = make_plan(site_dir(site), progress=lambda line: None)
    assert plan.errors == [] and [r.error for r in plan.resource_errors] == []
    assert [c.id for c in plan.controls if not c.passed] == []
    assert len(plan.controls) == 10
    by_type = {r.type: r.checked_by for r in plan.resources}
    assert by_type["aws:ec2/vpc:Vpc"] == MOTO
    assert by_type["aws:bedrock/guardrail:Guardrail"] == MOCK_ONLY


def test_json_output_masks_secrets(capsys, monkeypatch):
    from tests.plan.conftest import BASELINE, LAB

    monkeypatch.setenv("PLAN_FAULT", "")
    assert main(["plan", str(LAB), "--program", str(BASELINE), "--format", "json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["clean"] is True and data["summary"]["controls_failed"] == 0
    vpn = next(r for r in data["resources"] if r["name"] == "vpn")
    assert vpn["inputs"]["tunnel1PresharedKey"] == MASK
    assert "do-not-print" not in out


def test_masked_hides_marked_and_named_secrets():
    value = {"activationCode": "abc", "note": "x", "tunnel": [{"bgpAuthKey": "k"}], "opaque": "s"}
    assert masked(value, {"opaque"}) == {"activationCode": MASK, "note": "x", "tunnel": [{"bgpAuthKey": MASK}], "opaque": MASK}


def test_bad_spec_exits_2(tmp_path):
    (tmp_path / "factory.yaml").write_text("name: broken\n")
    assert main(["plan", str(tmp_path)]) == 2


def test_program_without_main_is_an_error(tmp_path, capsys):
    assert main(["plan", str(site_dir("lab-b200")), "--program", str(tmp_path)]) == 1
    assert "no __main__.py" in capsys.readouterr().err
