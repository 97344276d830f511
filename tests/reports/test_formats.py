"""`--format sarif` and `--format junit` of validate and plan: valid documents, findings where they belong."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from aifactory.reports.formats.sarif import plan_sarif
from aifactory.aws.plan.engine import MOTO, PlannedResource
from aifactory.aws.plan.evaluate import CONTROLS, ControlResult, Violation
from tests.reports.conftest import REPO, run_cli, valid_junit, valid_sarif

LAB = REPO / "inventories" / "lab-b200"
BASELINE = REPO / "tests" / "aws" / "programs" / "baseline"


def line_of(path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def results(document: dict) -> list[dict]:
    return document["runs"][0]["results"]


def failures(root) -> dict[str, str]:
    return {case.get("name"): case.find("failure").text for case in root.iter("testcase") if case.find("failure") is not None}


def test_valid_spec(capsys, lab_copy):
    spec = lab_copy / "factory.yaml"  # lab-b200 as a connected site: packages from the internet, a warning
    text = spec.read_text()
    spec.write_text(text[:text.index("  mirrors:")] + "  mirrors: {}\n" + text[text.index("  nvidia:\n"):])
    status, out = run_cli(capsys, "validate", lab_copy, "--format", "sarif")
    document = valid_sarif(out)
    assert status == 0 and [(r["ruleId"], r["level"]) for r in results(document)] == [("spec/internet_package_sources", "warning")]
    rules = [r["id"] for r in document["runs"][0]["tool"]["driver"]["rules"]]
    assert {"spec/schema", "spec/driver_version_on_branch", "spec/ranges_do_not_overlap"} <= set(rules)
    status, out = run_cli(capsys, "validate", lab_copy, "--format", "junit")
    root = valid_junit(out)
    assert status == 0 and root.get("failures") == "0" and int(root.get("tests")) == len(rules)
    warned = next(c for c in root.iter("testcase") if c.get("name") == "internet_package_sources")
    line = line_of(spec, "mirrors:")
    assert warned.find("system-out").text.startswith(f"warning: {line}:3: software.mirrors: no mirrors")


def test_validator_problem_at_its_line(capsys, lab_copy):
    spec = lab_copy / "factory.yaml"
    spec.write_text(spec.read_text().replace('driver_branch: "580"', 'driver_branch: "580"\n    driver_version: "575.57.08"'))
    status, out = run_cli(capsys, "validate", lab_copy, "--format", "sarif")
    [result] = results(valid_sarif(out))
    assert status == 2 and result["ruleId"] == "spec/driver_version_on_branch" and result["level"] == "error"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"].endswith("lab-b200/factory.yaml")
    assert location["region"]["startLine"] == line_of(spec, "driver_version:")
    assert location["region"]["startColumn"] == 5
    status, out = run_cli(capsys, "validate", lab_copy, "--format", "junit")
    assert status == 2 and list(failures(valid_junit(out))) == ["driver_version_on_branch"]


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_schema_problem_at_its_line(capsys, lab_copy, command):
    spec = lab_copy / "factory.yaml"
    spec.write_text(spec.read_text().replace("  fabric: infiniband-ndr", "  fabric: infiniband-ndr\n  fabirc: typo"))
    status, out = run_cli(capsys, command, lab_copy, "--format", "sarif")
    [result] = results(valid_sarif(out))
    assert status == 2 and result["ruleId"] == "spec/schema" and "network.fabirc" in result["message"]["text"]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == line_of(spec, "fabirc:")
    status, out = run_cli(capsys, command, lab_copy, "--format", "junit")
    root = valid_junit(out)
    assert status == 2 and list(failures(root)) == ["schema"]
    if command == "plan":  # the files CI asked for are written too
        status = run_cli(capsys, "plan", lab_copy, "--format", "sarif", "--junit", lab_copy / "plan.xml")[0]
        assert status == 2 and list(failures(valid_junit((lab_copy / "plan.xml").read_text()))) == ["schema"]
    skipped = [c.get("name") for c in root.iter("testcase") if c.find("skipped") is not None]
    assert skipped == []  # an unknown field leaves every value readable: every validator ran


def test_yaml_syntax_error_at_its_line(capsys, lab_copy):
    spec = lab_copy / "factory.yaml"
    spec.write_text(spec.read_text().replace("  racks: 1", "  racks: [1"))
    status, out = run_cli(capsys, "validate", lab_copy, "--format", "sarif")
    [result] = results(valid_sarif(out))
    assert status == 2 and result["ruleId"] == "spec/yaml"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] >= line_of(spec, "racks: [1")


def test_clean_plan(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PLAN_FAULT", "")
    status, out = run_cli(capsys, "plan", LAB, "--program", BASELINE, "--format", "sarif", "--junit", tmp_path / "plan.xml")
    document = valid_sarif(out)
    assert status == 0 and results(document) == []
    rules = [r["id"] for r in document["runs"][0]["tool"]["driver"]["rules"]]
    assert [c.id for c in CONTROLS if c.id not in rules] == []
    assert document["runs"][0]["automationDetails"]["id"] == "aifactory-plan/lab-b200/"
    root = valid_junit((tmp_path / "plan.xml").read_text())
    assert root.get("failures") == "0"
    controls, resources = root.findall("testsuite")
    assert len(controls.findall("testcase")) == len({c.id for c in CONTROLS}) + 1  # and the program itself
    # the guardrail, which moto cannot create, was checked against the AWS API's model: a case that passed
    guardrail = next(c for c in resources.iter("testcase") if c.get("name") == "guardrail (aws:bedrock/guardrail:Guardrail)")
    assert guardrail.find("skipped") is None and guardrail.find("failure") is None


def test_faulty_program(capsys, monkeypatch, tmp_path):
    """One plan: the table for the log on stdout, both documents as files."""
    monkeypatch.setenv("PLAN_FAULT", "internet_gateway")
    status, out = run_cli(capsys, "plan", LAB, "--program", BASELINE, "--sarif", tmp_path / "plan.sarif", "--junit", tmp_path / "plan.xml")
    assert status == 1 and "1 control(s) failed" in out
    [result] = results(valid_sarif((tmp_path / "plan.sarif").read_text()))
    assert result["ruleId"] == "SOV-01" and "hub-igw" in result["message"]["text"]
    location = result["locations"][0]
    assert location["logicalLocations"][0]["name"] == "hub-igw"
    assert location["physicalLocation"]["artifactLocation"]["uri"].endswith("baseline/__main__.py")
    root = valid_junit((tmp_path / "plan.xml").read_text())
    assert root.get("failures") == "1"
    [(name, text)] = failures(root).items()
    assert name.startswith("SOV-01") and "hub-igw" in text


def test_finding_at_the_declaring_line_when_the_plan_records_it(monkeypatch):
    """A resource that carries the SDK's source position (file URI, line) is located there."""
    monkeypatch.chdir(REPO)
    key = PlannedResource("urn:key", "aws:kms/key:Key", "data-key", "Keys", {}, {}, "k-1", MOTO)
    key.source = ((REPO / "infra" / "keys.py").as_uri(), 42)
    plan = SimpleNamespace(factory=SimpleNamespace(name="lab-b200"), program=REPO / "infra", resources=[key], components=[],
                           controls=[ControlResult("SOV-04", "keys", [Violation("data-key", key.type, "rotation off")])],
                           resource_errors=[], errors=[])
    [result] = results(valid_sarif(json.dumps(plan_sarif(plan))))
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "infra/keys.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 42}
