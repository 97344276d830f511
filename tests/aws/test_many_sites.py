"""`aifactory plan SITE SITE...`: several sites in one run, one report and one exit status."""

from __future__ import annotations

import json

from aifactory.cli import main
from tests.reports.conftest import valid_junit, valid_sarif
from tests.conftest import site_dir
from tests.aws.conftest import BASELINE, LAB


def test_two_sites_one_json_report(capsys):
    assert main(["plan", str(site_dir("lab-b200")), str(site_dir("ohio-trn3")), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["clean"] is True and [s["factory"] for s in report["sites"]] == ["lab-b200", "ohio-trn3"]
    lab, ohio = report["sites"]
    assert lab["aws"] == ohio["aws"] == "moto (worker process)" and lab["aws_account"] != ohio["aws_account"]
    for site in report["sites"]:  # one moto worker, each site in an account of its own
        assert site["clean"] and site["summary"]["moto"] > 0
        roles = [r for r in site["resources"] if r["type"] == "aws:iam/role:Role"]
        assert roles and all(r["name"].startswith(site["factory"]) for r in site["resources"] if r["checked_by"] == "moto")


def test_a_failing_site_fails_the_run_and_every_document_has_each_site(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PLAN_FAULT", "internet_gateway")
    ohio = site_dir("ohio-trn3")
    status = main(["plan", str(LAB), str(ohio), "--program", str(BASELINE),
                   "--sarif", str(tmp_path / "plan.sarif"), "--junit", str(tmp_path / "plan.xml")])
    out = capsys.readouterr().out
    assert status == 1
    assert out.startswith("lab-b200: plan of") and "\nohio-trn3: plan of" in out
    assert out.rstrip().endswith("2 sites: lab-b200 NOT clean, ohio-trn3 NOT clean")
    runs = valid_sarif((tmp_path / "plan.sarif").read_text())["runs"]
    assert [run["automationDetails"]["id"].split("/")[1] for run in runs] == ["lab-b200", "ohio-trn3"]
    assert all([r["ruleId"] for r in run["results"]] == ["SOV-01"] for run in runs)
    suites = [s.get("name") for s in valid_junit((tmp_path / "plan.xml").read_text()).iter("testsuite")]
    assert suites == [f"aifactory plan {site}: {part}" for site in ("lab-b200", "ohio-trn3") for part in ("controls", "resources")]


def test_a_bad_spec_among_sites_takes_its_place_and_the_good_sites_are_planned(capsys, tmp_path):
    (tmp_path / "factory.yaml").write_text("name: broken\n")
    assert main(["plan", str(LAB), str(tmp_path), "--format", "sarif", "--junit", str(tmp_path / "plan.xml")]) == 2
    plan_run, spec_run = valid_sarif(capsys.readouterr().out)["runs"]  # in the order given
    assert plan_run["automationDetails"]["id"] == "aifactory-plan/lab-b200/"
    assert spec_run["automationDetails"]["id"] == f"aifactory-plan/{tmp_path.name}/"
    assert {r["ruleId"].split("/")[0] for r in spec_run["results"]} == {"spec"}
    suites = [s.get("name") for s in valid_junit((tmp_path / "plan.xml").read_text()).iter("testsuite")]
    assert suites == ["aifactory plan lab-b200: controls", "aifactory plan lab-b200: resources",
                      f"aifactory validate {tmp_path.name}"]
    assert main(["plan", str(tmp_path), str(LAB)]) == 2
    out = capsys.readouterr().out
    assert out.startswith(f"{tmp_path / 'factory.yaml'}: NOT valid (") and "\nlab-b200: plan of" in out
    assert out.rstrip().endswith(f"2 sites: {tmp_path} NOT valid (not planned), lab-b200 clean")
    assert main(["plan", str(LAB), str(tmp_path), "--format", "json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["clean"] is False and [s.get("factory") or s["spec"] for s in report["sites"]] == ["lab-b200", str(tmp_path)]
    assert report["sites"][0]["clean"] and report["sites"][1]["valid"] is False and report["sites"][1]["problems"]


def test_the_component_table_is_in_a_stable_order(capsys):
    assert main(["plan", str(LAB)]) == 0
    out = capsys.readouterr().out
    table = out.split("\n\n")[1].splitlines()[2:]  # below the header and its rule
    components = [row.split()[0] for row in table]
    assert components == sorted(components) and len(components) > 1
