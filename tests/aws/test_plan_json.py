"""What the plan keeps of each registration besides its inputs: the program line that declared it
(the SDK's source position) and the properties it told Pulumi to ignore."""

from __future__ import annotations

import json
from pathlib import Path

from aifactory.aws.plan import make_plan
from aifactory.cli import main
from aifactory.reports.formats.sarif import plan_sarif
from tests.aws.conftest import BASELINE, LAB

PROGRAM = BASELINE / "__main__.py"


def declaring_line(text: str) -> int:
    """The line of the baseline program that holds `text`."""
    return next(n for n, line in enumerate(PROGRAM.read_text().splitlines(), 1) if text in line)


def test_sarif_finding_at_the_declaring_file_and_line(plan_with_fault):
    plan = plan_with_fault("internet_gateway")
    igw = next(r for r in plan.resources if r.name == "hub-igw")
    assert (Path(igw.source[0].removeprefix("file://")), igw.source[1]) == (PROGRAM, declaring_line('InternetGateway("hub-igw"'))
    [result] = plan_sarif(plan)["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"].endswith("tests/aws/programs/baseline/__main__.py")
    assert location["region"] == {"startLine": declaring_line('InternetGateway("hub-igw"')}
    as_json = {r["name"]: r for r in plan.as_dict()["resources"]}
    assert as_json["hub-igw"]["source"] == {"uri": PROGRAM.as_uri(), "line": declaring_line('InternetGateway("hub-igw"')}


def test_diff_ignores_what_the_program_ignores(monkeypatch, capsys, tmp_path):
    """The activation's expiry moves on every plan; its `ignore_changes` makes that no update."""
    monkeypatch.setenv("PLAN_FAULT", "")
    saved = make_plan(LAB, BASELINE, progress=lambda line: None).as_dict()  # the account `diff` plans in
    activation = next(r for r in saved["resources"] if r["name"] == "activation")
    assert activation["ignore_changes"] == ["expirationDate"]
    assert next(r for r in saved["resources"] if r["name"] == "hub")["ignore_changes"] == []
    activation["inputs"]["expirationDate"] = "2001-01-01T00:00:00Z"
    (tmp_path / "plan.json").write_text(json.dumps(saved))
    assert main(["diff", str(LAB), "--against", str(tmp_path / "plan.json"), "--program", str(BASELINE), "--format", "json"]) == 0
    aws = json.loads(capsys.readouterr().out)["aws"]
    assert aws == {"created": [], "updated": [], "replaced": [], "deleted": []}
