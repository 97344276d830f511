"""Each lab fault kind against the alert rules it should raise.

For a lab site, a healthy node and a node with one fault are read as Prometheus would read them in the lab: the
series of the dcgm-exporter stand-in's /metrics page for each node's hardware profile, and the driver metric the
node's health check writes from the stand-in `nvidia-smi -q -x`, and the fabric service's state as node exporter's
systemd collector reports it (active, or inactive once the fault that stops it has), under the target labels the
site's generated scrape configuration gives them. promtool evaluates the site's generated rules over fifteen minutes of those
series: exactly the alerts `hardware.FAULTS` names for the kind fire, on the faulty node alone, and none fires on
a lab without faults. An alert of the table whose series the lab cannot serve (`lab.monitoring.served`: node
exporter's InfiniBand collector reads the kernel's sysfs, which the lab's containers lack) is left to its promtool
cases (test_alert_rules.py), and this test checks that only those are left.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml

from aifactory.lab import hardware
from aifactory.lab import monitoring as lab_monitoring
from aifactory.monitoring import prometheus_config as pc
from aifactory.monitoring.alerts import RULES_FILE, alerts, rules_yaml
from aifactory.node.inventory import build_inventory
from aifactory.scheduler import health
from aifactory.spec import load_spec
from tests.conftest import site_dir
from tests.monitoring.test_alert_rules import PROMTOOL, needs_promtool

STAND_IN = Path(hardware.__file__).parent / "stand_in_tools" / "stand_in.py"
SITES = ("lab-b200", "lab-gb200")
MINUTES = 15  # of series; the longest `for` of the rules a fault raises is 10 minutes


def stand_in():
    """The stand-in tools' module (standard library only), loaded from its file as the nodes run it."""
    spec = importlib.util.spec_from_file_location("aifactory_lab_stand_in", STAND_IN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pinned_driver(f) -> str:
    """The driver version the lab's driver package stands in for: the pinned version, else the branch's first."""
    versions = hardware.manifest()["nvidia_cuda"]["driver_versions"]["value"]
    nvidia = f.software.nvidia
    return nvidia.driver_version or next(v for v in versions if v.startswith(nvidia.driver_branch + "."))


def systemd_page(hw: dict, unit: str | None) -> str:
    """Node exporter's systemd collector on the node (real in the lab, modelled here): the fabric's unit active,
    inactive once a fault has stopped it (lab.lifecycle.inject_faults does, on the running node)."""
    if unit is None:
        return ""
    stopped = "fabric-service-down" in hw.get("faults", [])
    return "\n".join(f'node_systemd_unit_state{{name="{unit}",state="{state}",type="simple"}} '
                     f'{int((state == "inactive") == stopped)}' for state in ("active", "inactive"))


def series(tools, hw: dict, targets: dict[str, dict], driver: str, unit: str | None = None) -> list[str]:
    """promtool series (`name{labels}`) of one node: its DCGM stand-in page under the `dcgm` job's target labels,
    and its health check's textfile and the fabric `unit`'s state (node exporter's systemd collector) under the
    `node` job's."""
    page = tools.exposition(hw, tools.exporter_counters("/nonexistent: every field the stand-in knows"), None)
    tools.DRIVER_VERSION_FILE = Path("/nonexistent")  # the loaded driver: the profile's, else the package's
    smi = tools.smi_xml({**hw, "driver_version": hw.get("driver_version") or driver})
    textfile = health.node_textfile({"nvidia_smi": {"rc": 0, "stdout": smi, "stderr": ""}}, {})
    out = []
    for job, text in (("dcgm", page), ("node", textfile + "\n" + systemd_page(hw, unit))):
        for line in text.splitlines():
            match = re.fullmatch(r"(\w+)\{(.*)\} (\S+)", line)
            if match:
                labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
                labels.update(targets[job])
                body = ",".join(f"{k}={json.dumps(v)}" for k, v in labels.items())
                out.append((f"{match.group(1)}{{{body}}}", f"{match.group(3)}x{MINUTES}"))
    return out


def fired(tmp_path: Path, f, node_series: list) -> set[tuple[str, str]]:
    """{(alert, node)} firing after MINUTES - 1 minutes of `node_series`, by promtool over the site's rules: the
    test expects none, so promtool's failure message lists what fired."""
    (tmp_path / RULES_FILE).write_text(rules_yaml(f))
    case = {"rule_files": [RULES_FILE], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": [{"series": s, "values": v} for s, v in node_series],
        "promql_expr_test": [{"expr": 'count by (alertname, node) (ALERTS{alertstate="firing"})',
                              "eval_time": f"{MINUTES - 1}m", "exp_samples": []}]}]}
    (tmp_path / "case.yml").write_text(yaml.safe_dump(case, width=1000))
    result = subprocess.run([PROMTOOL, "test", "rules", "case.yml"], cwd=tmp_path, capture_output=True, text=True)
    if result.returncode == 0:
        return set()
    found = set(re.findall(r'alertname="(\w+)", node="([\w-]+)"', result.stdout + result.stderr))
    assert found, result.stdout + result.stderr  # a failure that is not alerts firing
    return found


@cache
def lab(site: str):
    """(spec, {node: {job: target labels}}, the stand-in tools) of a lab site, read once per site."""
    f = load_spec(site_dir(site))
    config = pc.prometheus_config(f, build_inventory(f))
    targets: dict[str, dict] = {}
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            labels = {"job": job["job_name"], "instance": static["targets"][0], **static["labels"]}
            targets.setdefault(static["labels"]["node"], {})[job["job_name"]] = labels
    return f, targets, stand_in()


def profile(f, node, kinds: list[str]) -> dict:
    healthy = hardware.node_profile(f.platform, f.name, node.name, node.rack)
    nvidia = f.software.nvidia
    return hardware.with_faults(healthy, kinds, nvidia.driver_branch, nvidia.driver_version)


CASES = [(site, kind) for site in SITES for kind, fault in hardware.FAULTS.items()
         if fault.applies(load_spec(site_dir(site)).platform)]


@needs_promtool
@pytest.mark.parametrize(("site", "kind"), CASES)
def test_a_fault_fires_exactly_its_alerts_on_its_node_alone(site, kind, tmp_path):
    f, targets, tools = lab(site)
    healthy, faulty = f.nodes[0], f.nodes[1]
    driver, unit = pinned_driver(f), hardware.FAULTS["fabric-service-down"].unit(f.platform)
    found = fired(tmp_path, f, series(tools, profile(f, healthy, []), targets[healthy.name], driver, unit)
                  + series(tools, profile(f, faulty, [kind]), targets[faulty.name], driver, unit))
    fault = hardware.FAULTS[kind]
    rules = {rule.name: rule for rule in alerts(f)}
    shown = {a for a in fault.alerts if lab_monitoring.served(rules[a])}
    assert found == {(alert, faulty.name) for alert in shown}, (kind, found)


@needs_promtool
@pytest.mark.parametrize("site", SITES)
def test_healthy_nodes_fire_no_alert(site, tmp_path):
    f, targets, tools = lab(site)
    driver, unit = pinned_driver(f), hardware.FAULTS["fabric-service-down"].unit(f.platform)
    assert fired(tmp_path, f, [s for node in f.nodes[:3] for s in series(tools, profile(f, node, []), targets[node.name],
                                                                          driver, unit)]) == set()


def test_every_fault_kind_names_its_alerts_or_why_it_has_none():
    names = {a.name for site in ("paris-gb200", *SITES, "ohio-trn3") for a in alerts(load_spec(site_dir(site)))}
    for kind, fault in hardware.FAULTS.items():
        assert bool(fault.alerts) != bool(fault.silent), kind  # one or the other, never both
        assert set(fault.alerts) <= names, kind
    # Only the InfiniBand port alerts read what the lab cannot serve (node exporter's sysfs collector).
    f = load_spec(site_dir("lab-b200"))
    rules = {rule.name: rule for rule in alerts(f)}
    left = {a for fault in hardware.FAULTS.values() if fault.applies(f.platform) for a in fault.alerts
            if not lab_monitoring.served(rules[a])}
    assert left == {"InfinibandPortDown", "InfinibandPortSlow"}
