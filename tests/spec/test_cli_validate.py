"""`aifactory validate` and `aifactory schema` as a user runs them: exit codes and readable output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SITES, site_dir
from tests.reports.conftest import valid_junit, valid_sarif


def aifactory(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "aifactory.cli", *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.parametrize("site", SITES)
def test_validate_prints_the_derived_summary(site):
    result = aifactory("validate", f"inventories/{site}")
    assert result.returncode == 0, result.stderr
    assert f"{site}: valid" in result.stdout
    for label in ("racks", "accelerators", "power", "link", "home region"):
        assert label in result.stdout


def test_validate_json_summary():
    result = aifactory("validate", "inventories/paris-gb200/factory.yaml", "--format", "json")
    data = json.loads(result.stdout)
    assert data["valid"] is True
    assert (data["summary"]["nodes"], data["summary"]["accelerators"], data["summary"]["switch_trays"]) == (72, 288, 36)
    assert data["summary"]["link"] == "Direct Connect x2 + Site-to-Site VPN x2"


BAD_SPECS = {
    "bad yaml": ("name: [unclosed\n", "not valid YAML at line"),
    "not a mapping": ("- just\n- a list\n", "must be a mapping"),
    "wrong type": (None, "compute.racks"),
    "unknown field": (None, "compute.gpus: unknown field"),
}


@pytest.mark.parametrize("case", BAD_SPECS)
def test_bad_spec_exits_2_without_traceback(tmp_path, case):
    text, expected = BAD_SPECS[case]
    if text is None:
        source = (site_dir("lab-b200") / "factory.yaml").read_text()
        text = source.replace("racks: 1", "racks: one") if case == "wrong type" else source.replace(
            "  racks: 1\n", "  racks: 1\n  gpus: 8\n")
    spec = tmp_path / "factory.yaml"
    spec.write_text(text)
    result = aifactory("validate", str(spec))
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# Rules that playbooks/validate.yml once checked at bring-up: each exits 2 here, naming the field.
MOVED_RULES = {
    "driver off its branch": ("lab-b200", '    driver_branch: "580"\n', '    driver_branch: "580"\n    driver_version: "570.86.15"\n',
                              "software.nvidia.driver_version: is not on software.nvidia.driver_branch 580"),
    "air-gapped without the stack's mirror": ("ohio-trn3", "    neuron: http://mirror.cmh2.factory.internal/neuron\n", "",
                                               "software.mirrors.neuron: required on an air-gapped site"),
    "trainium on infiniband": ("ohio-trn3", "fabric: ethernet-rocev2", "fabric: infiniband-ndr",
                               "network.fabric: AWS Trainium3 UltraServer (Gen2) servers connect over EFA"),
}


@pytest.mark.parametrize("case", MOVED_RULES)
def test_console_script_refuses_moved_rule_naming_the_field(tmp_path, case):
    site, old, new, expected = MOVED_RULES[case]
    shutil.copytree(site_dir(site), tmp_path / site, ignore=shutil.ignore_patterns("group_vars"))
    spec = tmp_path / site / "factory.yaml"
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new))
    result = subprocess.run([str(Path(sys.executable).with_name("aifactory")), "validate", str(spec)],
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_exits_2(tmp_path):
    result = aifactory("validate", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "no such file" in result.stderr and "Traceback" not in result.stderr


def test_schema_is_json_schema_with_every_section():
    result = aifactory("schema")
    schema = json.loads(result.stdout)
    assert {"sovereignty", "compute", "facility", "network", "hybrid_link", "identity", "software"} <= set(
        schema["properties"])
    assert set(schema["required"]) >= {"name", "sovereignty", "compute", "network"}
    platform = schema["$defs"]["Compute"]["properties"]["platform"]
    assert "nvidia-gb200-nvl72" in platform["enum"]


def test_several_sites_in_the_order_given_one_section_each_and_one_verdict(tmp_path):
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "factory.yaml").write_text((site_dir("lab-b200") / "factory.yaml").read_text().replace("racks: 1", "racks: one"))
    result = aifactory("validate", "inventories/ohio-trn3", str(bad), "inventories/lab-b200")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    out = result.stdout
    assert out.index("ohio-trn3: valid") < out.index(f"{bad / 'factory.yaml'}: NOT valid (") < out.index("lab-b200: valid")
    assert "compute.racks" in out.split("NOT valid")[1].split("lab-b200: valid")[0]  # its problems in its section
    assert out.rstrip().endswith(f"3 sites: ohio-trn3 valid, {bad / 'factory.yaml'} NOT valid, lab-b200 valid")
    data = json.loads(aifactory("validate", "inventories/lab-b200", str(bad), "--format", "json").stdout)
    assert data["valid"] is False
    assert [(s["spec"], s["valid"]) for s in data["sites"]] == [("inventories/lab-b200", True), (str(bad), False)]
    assert data["sites"][0]["summary"]["nodes"] == 3 and data["sites"][1]["problems"][0]["path"] == "compute.racks"
    good = aifactory("validate", "inventories/lab-b200", "inventories/ohio-trn3")
    assert good.returncode == 0 and good.stdout.rstrip().endswith("2 sites: lab-b200 valid, ohio-trn3 valid")


def test_several_sites_as_one_sarif_log_and_one_junit_document(tmp_path):
    (tmp_path / "factory.yaml").write_text("name: broken\n")
    result = aifactory("validate", "inventories/lab-b200", str(tmp_path), "--format", "sarif")
    assert result.returncode == 2
    runs = valid_sarif(result.stdout)["runs"]
    assert [r["automationDetails"]["id"] for r in runs] == ["aifactory-validate/lab-b200/", f"aifactory-validate/{tmp_path.name}/"]
    assert not [r for r in runs[0]["results"] if r["level"] == "error"] and runs[1]["results"]
    result = aifactory("validate", "inventories/lab-b200", str(tmp_path), "--format", "junit")
    root = valid_junit(result.stdout)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["aifactory validate lab-b200", f"aifactory validate {tmp_path.name}"]
    assert root.get("failures") == str(sum(int(s.get("failures")) for s in suites)) != "0"
