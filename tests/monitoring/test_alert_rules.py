"""The alert rules: each proven by promtool with a case that fires and one that stays silent, thresholds from the spec."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from aifactory.monitoring import metrics
from aifactory.monitoring.alerts import RULES_FILE, alerts, any_bit_set, rules_yaml
from aifactory.spec import load_spec
from tests.conftest import both, put, site_dir
from tests.spec.conftest import write_site  # noqa: F401 - a fixture

PROMTOOL_CASES = Path(__file__).parent / "promtool"
# Whose promtool cases (promtool/<site>.test.yml, run over that site's rules) cover each example's rules: the NVIDIA
# examples share paris-gb200's, Trainium's has its own.
CASES_OF = {"paris-gb200": "paris-gb200", "lab-b200": "paris-gb200", "lab-gb200": "paris-gb200", "ohio-trn3": "ohio-trn3"}
SITES = tuple(CASES_OF)
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed: it comes with Debian's "
                                                              "`prometheus` package (scripts/install-lab-deps.sh)")


def missing_cases(rule_names: set[str], cases: dict) -> dict[str, list[str]]:
    """{alert: the kinds of case ("firing", "silent") the promtool test file lacks for it}."""
    kinds: dict[str, set[str]] = {}
    for test in cases.get("tests") or []:
        for check in test.get("alert_rule_test") or []:
            kinds.setdefault(check["alertname"], set()).add("firing" if check.get("exp_alerts") else "silent")
    return {name: [k for k in ("firing", "silent") if k not in kinds.get(name, set())]
            for name in sorted(rule_names) if kinds.get(name) != {"firing", "silent"}}


def without_slurm(data: dict) -> None:
    """A spec mutation: no scheduler, so no monitoring either (it needs the head nodes)."""
    data.setdefault("scheduler", {}).update(kind="none")
    data.setdefault("monitoring", {}).update(enabled=False)


def cases_file(site: str) -> Path:
    return PROMTOOL_CASES / f"{site}.test.yml"


def rule_names(rules_text: str) -> set[str]:
    return {rule["alert"] for group in yaml.safe_load(rules_text)["groups"] for rule in group["rules"]}


@needs_promtool
@pytest.mark.parametrize("site", sorted(set(CASES_OF.values())))
def test_every_case_passes_in_promtool(tmp_path, site):
    (tmp_path / RULES_FILE).write_text(rules_yaml(load_spec(site_dir(site))))
    shutil.copy(cases_file(site), tmp_path / cases_file(site).name)
    result = subprocess.run([PROMTOOL, "test", "rules", cases_file(site).name], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("site", SITES)
def test_every_rule_of_every_example_has_a_firing_and_a_silent_case(site):
    names = rule_names(rules_yaml(load_spec(site_dir(site))))
    assert missing_cases(names, yaml.safe_load(cases_file(CASES_OF[site]).read_text())) == {}


def test_a_rule_without_its_silent_case_is_found():
    cases = yaml.safe_load(cases_file("paris-gb200").read_text())
    cases["tests"] = [t for t in cases["tests"] if not (t["alert_rule_test"][0]["alertname"] == "NodeDown"
                                                       and not t["alert_rule_test"][0]["exp_alerts"])]
    assert missing_cases({"NodeDown", "GpuMissing"}, cases) == {"NodeDown": ["silent"]}
    assert missing_cases({"NoSuchAlert"}, cases) == {"NoSuchAlert": ["firing", "silent"]}


@needs_promtool
@pytest.mark.parametrize("site", SITES)
def test_promtool_accepts_the_rules_of_every_example(tmp_path, site):
    (tmp_path / RULES_FILE).write_text(rules_yaml(load_spec(site_dir(site))))
    result = subprocess.run([PROMTOOL, "check", "rules", str(tmp_path / RULES_FILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def by_name(factory) -> dict:
    return {a.name: a for a in alerts(factory)}


def test_thresholds_come_from_the_catalog_and_the_spec(write_site):  # noqa: F811 - the fixture
    hgx = by_name(load_spec(site_dir("lab-b200")))
    assert "< 8 " in hgx["GpuMissing"].expr and "nvidia-fabricmanager.service" in hgx["FabricServiceDown"].expr
    gb300 = by_name(load_spec(write_site("paris-gb200", both(put("storage.scratch.mount", "/data/scratch"),
                                                             put("compute.platform", "nvidia-gb300-nvl72")))))
    assert 'mountpoint="/data/scratch"' in gb300["ScratchNearlyFull"].expr
    assert "< 100000000000 " in gb300["InfinibandPortSlow"].expr  # 800 Gb/s in bytes per second
    assert "< 4 " in by_name(load_spec(site_dir("ohio-trn3")))["NeuronDeviceMissing"].expr  # 4 Trainium3 a server


def test_a_pinned_version_is_matched_exactly(write_site):  # noqa: F811 - the fixture
    pinned = load_spec(write_site("paris-gb200", put("software.nvidia.driver_version", "580.95.05")))
    assert r'version!~"580\\.95\\.05"' in by_name(pinned)["DriverOffPin"].expr
    assert "version 580.95.05" in by_name(pinned)["DriverOffPin"].summary


def test_trainium_has_no_gpu_or_infiniband_rules_and_no_slurm_no_drain_rule(write_site):  # noqa: F811 - the fixture
    names = set(by_name(load_spec(site_dir("ohio-trn3"))))
    assert names == {"NodeDown", "ScratchNearlyFull", "HybridLinkCheckFailing", "TextfileMetricsStale",
                     "NeuronDeviceMissing", "SlurmNodeDrained"}
    assert "SlurmNodeDrained" not in by_name(load_spec(write_site("lab-b200", without_slurm)))


def test_a_selector_refuses_a_label_its_metric_does_not_carry():
    assert metrics.IB_STATE.select(device="mlx5_0", node="n1") == 'node_infiniband_state_id{device="mlx5_0",node="n1"}'
    with pytest.raises(ValueError, match="has no label slurm_node"):
        metrics.IB_STATE.select(slurm_node="n1")


def test_a_bit_test_needs_adjacent_bits():
    assert any_bit_set("x", (0x20, 0x40)) == "floor(x / 32) % 4 > 0"
    with pytest.raises(ValueError, match="not adjacent"):
        any_bit_set("x", (0x20, 0x80))
