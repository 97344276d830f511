"""`aifactory validate` lists every problem of a spec in one run (issue 27 class 8, issue 29): a type error in
one section hides no rule problem in another, in every format; each problem carries its line:column; a string
given where a number belongs is echoed in quotes; the checks a type error stopped are named with the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aifactory.cli import main
from aifactory.spec import SpecError, load_spec
from aifactory.spec.validators import Problem
from tests.conftest import site_dir
from tests.reports.conftest import valid_junit, valid_sarif

# lab-b200 broken in three sections: a type error in compute, a rule problem each in hybrid_link and software.
BREAKS = {
    "  racks: 1\n": '  racks: "4"\n',
    "    - peer_ip: 192.0.2.30\n": "    - peer_ip: 10.9.9.9\n",
    '    driver_branch: "580"\n': '    driver_branch: "580"\n    driver_version: "570.86.15"\n',
}
# Each problem: its validator, and the text on its line (the column is the key's: 3, 7 and 5).
EXPECTED = {
    "compute.racks": ("schema", '  racks: "4"', 3),
    "hybrid_link.vpn.0.peer_ip": ("vpn_peers_public", "    - peer_ip: 10.9.9.9", 7),
    "software.nvidia.driver_version": ("driver_version_on_branch", '    driver_version: "570.86.15"', 5),
}
STOPPED = "factory_size_is_bounded"  # reads compute.racks, so it cannot run


@pytest.fixture
def broken(tmp_path) -> Path:
    site = tmp_path / "lab-b200"
    shutil.copytree(site_dir("lab-b200"), site, ignore=shutil.ignore_patterns("group_vars"))
    text = (site / "factory.yaml").read_text()
    for old, new in BREAKS.items():
        assert old in text
        text = text.replace(old, new)
    (site / "factory.yaml").write_text(text)
    return site


def validate(capsys, site: Path, *options: str) -> tuple[int, str, str]:
    """`aifactory validate SITE OPTIONS` in this process: (exit status, stdout, stderr)."""
    status = main(["validate", str(site), *options])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def where(site: Path) -> dict[str, tuple[str, int, int]]:
    """The expected (validator, line, column) of each problem in the broken copy."""
    lines = (site / "factory.yaml").read_text().splitlines()
    return {path: (validator, lines.index(text) + 1, column) for path, (validator, text, column) in EXPECTED.items()}


def test_table_lists_every_problem_at_its_line_and_the_checks_a_type_error_stopped(capsys, broken):
    status, _out, err = validate(capsys, broken)
    assert status == 2
    for path, (_validator, line, column) in where(broken).items():
        assert f"  {line}:{column}: {path}: " in err, (path, err)
    assert "(3 problem(s))" in err
    assert f"  {STOPPED}: not run, it needs compute.racks, which the schema refused" in err


def test_json_lists_every_problem_with_its_line_column_and_the_stopped_checks(capsys, broken):
    status, out, _err = validate(capsys, broken, "--format", "json")
    document = json.loads(out)
    assert status == 2 and document["valid"] is False
    found = {p["path"]: (p["validator"], p["line"], p["column"]) for p in document["problems"]}
    assert found == where(broken)
    assert {"validator": STOPPED, "needs": "compute.racks"} in document["not_run"]
    assert {n["needs"] for n in document["not_run"]} == {"compute.racks"}


def test_sarif_lists_every_problem_at_its_region_and_notes_the_stopped_checks(capsys, broken):
    status, out, _err = validate(capsys, broken, "--format", "sarif")
    run = valid_sarif(out)["runs"][0]
    assert status == 2
    found = {r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]:
             (r["ruleId"].removeprefix("spec/"), r["locations"][0]["physicalLocation"]["region"]["startLine"],
              r["locations"][0]["physicalLocation"]["region"]["startColumn"]) for r in run["results"]}
    assert found == where(broken)
    notes = run["invocations"][0]["toolExecutionNotifications"]
    stopped = next(n for n in notes if n["associatedRule"]["id"] == f"spec/{STOPPED}")
    assert "compute.racks" in stopped["message"]["text"]
    rules = run["tool"]["driver"]["rules"]
    assert rules[stopped["associatedRule"]["index"]]["id"] == f"spec/{STOPPED}"


def test_junit_fails_every_broken_check_and_skips_the_stopped_ones_naming_the_field(capsys, broken):
    status, out, _err = validate(capsys, broken, "--format", "junit")
    root = valid_junit(out)
    assert status == 2
    failed = {case.get("name"): case.find("failure").text for case in root.iter("testcase")
              if case.find("failure") is not None}
    assert set(failed) == {validator for validator, _line, _column in where(broken).values()}
    _validator, line, column = where(broken)["hybrid_link.vpn.0.peer_ip"]
    assert failed["vpn_peers_public"].startswith(f"{line}:{column}: hybrid_link.vpn.0.peer_ip: ")
    skipped = {case.get("name"): case.find("skipped").get("message") for case in root.iter("testcase")
               if case.find("skipped") is not None}
    assert skipped[STOPPED] == "not run: it needs compute.racks, which the schema refused"
    assert "driver_version_on_branch" not in skipped and "mirror_urls" not in skipped


def test_a_number_written_as_text_is_echoed_in_quotes(capsys, broken):
    err = validate(capsys, broken)[2]
    assert "compute.racks: " in err and "(given: '4')" in err and "(given: 4)" not in err
    assert str(Problem("compute.racks", "m", 4)) == "compute.racks: m (given: 4)"
    assert str(Problem("software.air_gapped", "m", True)) == "software.air_gapped: m (given: true)"
    assert str(Problem("name", "m", "it's")) == """name: m (given: "it's")"""


def _errors(spec: Path) -> SpecError:
    with pytest.raises(SpecError) as caught:
        load_spec(spec)
    return caught.value


def test_a_type_error_in_a_nested_section_leaves_its_siblings_checked(tmp_path):
    """software.nvidia.driver_branch fails its type; software.mirrors beside it is still read and checked."""
    site = tmp_path / "lab-b200"
    shutil.copytree(site_dir("lab-b200"), site, ignore=shutil.ignore_patterns("group_vars"))
    spec = site / "factory.yaml"
    spec.write_text(spec.read_text().replace('driver_branch: "580"', "driver_branch: 580").replace(
        "http://mirror.lab.factory.internal/debian", "ftp://mirror.example/debian").replace(
        "    nvidia: http://mirror.lab.factory.internal/nvidia\n", ""))
    err = _errors(site)
    assert {(p.path, p.validator) for p in err.problems} == {
        ("software.nvidia.driver_branch", "schema"), ("software.mirrors.apt", "mirror_urls"),
        ("software.mirrors.nvidia", "mirrors_when_air_gapped")}  # a mirror set makes the site air-gapped
    assert {(n.validator, n.needs) for n in err.not_run} >= {("driver_branch_supports_platform",
                                                              "software.nvidia.driver_branch")}


def test_a_check_that_hands_a_refused_field_to_a_c_function_is_named_not_run(tmp_path):
    """`re.fullmatch(name)` refuses the stand-in by its type (no method of it runs): still named, not a crash."""
    site = tmp_path / "lab-b200"
    shutil.copytree(site_dir("lab-b200"), site, ignore=shutil.ignore_patterns("group_vars"))
    spec = site / "factory.yaml"
    spec.write_text(spec.read_text().replace("name: lab-b200", "name: 5"))
    err = _errors(site)
    assert [(p.path, p.validator) for p in err.problems] == [("name", "schema")]
    assert ("dns_safe_names", "name") in {(n.validator, n.needs) for n in err.not_run}


def test_template_syntax_in_a_field_of_the_wrong_type_is_still_refused(tmp_path):
    site = tmp_path / "lab-b200"
    shutil.copytree(site_dir("lab-b200"), site, ignore=shutil.ignore_patterns("group_vars"))
    spec = site / "factory.yaml"
    spec.write_text(spec.read_text().replace("  racks: 1", "  racks: \"{{ lookup('pipe', 'id') }}\""))
    assert {p.validator for p in _errors(site).problems if p.path == "compute.racks"} == {"schema", "no_template_syntax"}


def test_a_missing_section_names_the_checks_that_need_it(tmp_path):
    site = tmp_path / "lab-b200"
    shutil.copytree(site_dir("lab-b200"), site, ignore=shutil.ignore_patterns("group_vars"))
    spec = site / "factory.yaml"
    text = spec.read_text()
    start, end = text.index("identity:\n"), text.index("storage:\n")
    spec.write_text(text[:start] + text[end:])
    err = _errors(site)
    assert [(p.path, p.message) for p in err.problems] == [("identity", "required field is missing")]
    assert ("trust_anchor_certificate", "identity") in {(n.validator, n.needs) for n in err.not_run}
