"""The example sites plan clean with the project's infra/ program, and the outputs keep secrets out."""

from __future__ import annotations

import json
import re

import pytest

from aifactory.cli import main
from aifactory.aws.plan import MASK, make_plan, masked
from aifactory.aws.plan.controls import CONTROLS
from aifactory.aws.plan.engine import API_MODEL, MOCK_ONLY, MOTO, resource_properties
from tests.conftest import SITES, site_dir


@pytest.mark.parametrize("site", SITES)
def test_site_plans_clean(site):
    plan = make_plan(site_dir(site), progress=lambda line: None)
    assert plan.errors == [] and [r.error for r in plan.resource_errors] == []
    assert [c.id for c in plan.controls if not c.passed] == []
    assert [c.id for c in plan.controls] == sorted({c.id for c in CONTROLS})
    by_type = {r.type: r.checked_by for r in plan.resources}
    assert by_type["aws:ec2/vpc:Vpc"] == MOTO
    assert by_type["aws:bedrock/guardrail:Guardrail"] == API_MODEL
    assert by_type["aws:ec2/defaultNetworkAcl:DefaultNetworkAcl"] == MOTO
    # every resource is either in moto or held against the AWS API's model (docs/DESIGN.md names no exception)
    assert [r.name for r in plan.resources if r.checked_by == MOCK_ONLY] == []
    summary = plan.as_dict()["summary"]
    assert summary["moto"] + summary["api_model"] == summary["resources"] and summary["mock_only"] == 0
    # no policy holds a value the program wrote before it was known
    policies = [r for r in plan.resources if "policy" in r.inputs or "assumeRolePolicy" in r.inputs]
    assert policies and not [r.name for r in policies if re.search(r'null|"None|None"|:None|/None', json.dumps(r.inputs))]
    # the provider's default tags reach every taggable resource, as pulumi-aws sends them
    factory = plan.factory.name
    untagged = [r.name for r in plan.resources if "tags" in resource_properties(r.type)[0]
                and (r.outputs.get("tagsAll") or {}).get("aifactory:factory") != factory]
    assert untagged == []


def test_json_output_masks_secrets(capsys, monkeypatch):
    from tests.aws.conftest import BASELINE, LAB

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


def test_program_without_main_is_bad_input(tmp_path, capsys):
    assert main(["plan", str(site_dir("lab-b200")), "--program", str(tmp_path)]) == 2
    assert "no __main__.py" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # argparse refuses it before anything runs
        main(["plan", str(site_dir("lab-b200")), "--program", "/nonexistent"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--program: /nonexistent: no such directory" in err and "Traceback" not in err
