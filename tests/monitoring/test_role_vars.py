"""The monitoring roles' variables from the spec: added only where monitoring.enabled asks, the configuration the
prometheus_server role writes is the generated one (and promtool accepts it as the role writes it), absent hosts are
not scraped, Slurm's collector runs on one head node, and the receiver's site carries no private key."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from aifactory.monitoring import alerts, metrics, prometheus_config as pc
from aifactory.monitoring.role_vars import (DCGM_EXPORTERS, JOB_MAPPING_DIR, MONITORED, NEURON_MONITORS, SERVERS,
                                           TEXTFILE_DIR,
                                           with_monitoring_vars)
from aifactory.node.inventory import MONITORING_VAR, build_inventory, group_name
from aifactory.spec import load_spec
from tests.conftest import REPO, both, put, site_dir
from tests.monitoring.test_alert_rules import needs_promtool
from tests.spec.conftest import write_site  # noqa: F401 - a fixture

ON = put("monitoring.enabled", True)


def monitoring_vars(inv) -> set[str]:
    names = {k for g in inv.groups.values() for k in g.vars} | {k for h in inv.hostvars.values() for k in h}
    return {k for k in names if k.startswith(("node_exporter_", "dcgm_exporter_", "neuron_monitor_", "prometheus_server_"))}


def test_nothing_is_added_unless_the_spec_enables_monitoring():
    f = load_spec(site_dir("paris-gb200"))
    inv = with_monitoring_vars(build_inventory(f), f)
    assert monitoring_vars(inv) == set()
    assert inv.groups[group_name("factory", f.name)].vars[MONITORING_VAR] is False
    assert MONITORED not in inv.groups and SERVERS not in inv.groups  # the stage's plays match no host


def test_every_node_and_head_node_runs_node_exporter_and_the_head_nodes_the_generated_configuration(write_site):  # noqa: F811
    f = load_spec(write_site("paris-gb200", both(ON, put("monitoring.retention_days", 90))))
    inv = with_monitoring_vars(build_inventory(f), f)
    assert inv.groups[group_name("factory", f.name)].vars[MONITORING_VAR] is True
    for group in ("nodes", "head_nodes"):
        assert inv.groups[group].vars["node_exporter_port"] == 9100
        assert inv.groups[group].vars["node_exporter_collectors_enabled"] == ["systemd"]
        # Scraped over TLS with the head node's certificate of the factory CA, as prometheus.yml says.
        assert inv.groups[group].vars["node_exporter_tls_client_ca"] == pc.Files().ca
        assert inv.groups[group].vars["node_exporter_tls_cert"] and inv.groups[group].vars["node_exporter_tls_key"]
    head = inv.groups["head_nodes"].vars
    assert head["prometheus_server_config"] == pc.prometheus_config(f, build_inventory(f))
    assert head["prometheus_server_rules"] == yaml.safe_load(alerts.rules_yaml(f))
    assert head["prometheus_server_rules_file"] in head["prometheus_server_config"]["rule_files"]
    assert head["prometheus_server_retention_days"] == 90
    assert head["prometheus_server_alertmanager_peers"] == [h.address for h in f.head_nodes]
    assert not any(k.startswith("prometheus_server_") for k in inv.groups["nodes"].vars)
    assert inv.groups[MONITORED].children == ["nodes", "head_nodes"] and inv.groups[SERVERS].children == ["head_nodes"]


def test_an_nvidia_factory_s_nodes_run_dcgm_s_exporter_with_every_field_the_rules_and_dashboards_read(write_site):  # noqa: F811
    f = load_spec(write_site("paris-gb200", ON))
    inv = with_monitoring_vars(build_inventory(f), f)
    nodes = inv.groups["nodes"].vars
    assert inv.groups[DCGM_EXPORTERS].children == ["nodes"]  # not the head nodes: they have no GPU
    assert not any(k.startswith("dcgm_exporter_") for k in inv.groups["head_nodes"].vars)
    # The port and TLS the scrape configuration's `dcgm` job uses.
    dcgm_job = next(j for j in pc.prometheus_config(f, build_inventory(f))["scrape_configs"] if j["job_name"] == "dcgm")
    assert dcgm_job["static_configs"][0]["targets"][0].endswith(f":{nodes['dcgm_exporter_port']}")
    assert nodes["dcgm_exporter_tls_client_ca"] == pc.Files().ca and nodes["dcgm_exporter_tls_cert"]
    fields = {c["field"] for c in nodes["dcgm_exporter_counters"]}
    read = set(re.findall(r"\b(DCGM_(?:FI|EXP)_[A-Z0-9_]+)", yaml.safe_dump(alerts.rules(f))))
    assert read and read <= fields
    assert {"DCGM_FI_DEV_ROW_REMAP_FAILURE", "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "DCGM_FI_DEV_POWER_USAGE"} <= fields
    assert all("," not in c["help"] and c["type"] in ("gauge", "counter") for c in nodes["dcgm_exporter_counters"])
    assert fields == {m["field"] for m in metrics.dcgm_counters()}
    # The Slurm health check (Prolog and Epilog) keeps the job mapping where the exporter reads it.
    assert nodes["dcgm_exporter_hpc_job_mapping_dir"] == nodes["slurm_health_job_mapping_dir"] == JOB_MAPPING_DIR


def test_the_health_check_writes_driver_and_link_metrics_for_the_stack_s_private_endpoints(write_site):  # noqa: F811
    f = load_spec(write_site("paris-gb200", ON))
    names = {"sts": "sts.eu-west-3.amazonaws.com", "bedrock-runtime": "bedrock-runtime.eu-west-3.amazonaws.com"}
    amp = "https://aps-workspaces.eu-west-3.amazonaws.com/workspaces/ws-0b1c/api/v1/remote_write"
    nodes = with_monitoring_vars(build_inventory(f, {"region": "eu-west-3", "endpoint_dns": names,
                                                     "amp_remote_write_url": amp}), f).groups["nodes"].vars
    assert nodes["slurm_health_link_endpoints"] == names
    # Where node exporter reads the textfile metrics, from one constant for both roles.
    assert nodes["slurm_health_textfile_dir"] == nodes["node_exporter_textfile_directory"] == TEXTFILE_DIR
    before_aws = with_monitoring_vars(build_inventory(f), f).groups["nodes"].vars
    assert before_aws["slurm_health_link_endpoints"] == {}


def test_a_trainium_factory_runs_neuron_s_exporter_for_its_head_nodes_alone_and_no_dcgm_exporter(write_site):  # noqa: F811
    f = load_spec(write_site("ohio-trn3", lambda data: data.update(monitoring={"enabled": True})))
    inv = with_monitoring_vars(build_inventory(f), f)
    assert DCGM_EXPORTERS not in inv.groups and not any(k.startswith("dcgm_exporter_") for k in monitoring_vars(inv))
    assert inv.groups[NEURON_MONITORS].children == ["nodes"]
    nodes = inv.groups["nodes"].vars
    neuron_job = next(j for j in pc.prometheus_config(f, build_inventory(f))["scrape_configs"] if j["job_name"] == "neuron")
    assert neuron_job["static_configs"][0]["targets"][0].endswith(f":{nodes['neuron_monitor_port']}")
    assert nodes["neuron_monitor_allowed_scrapers"] == [h.address for h in f.head_nodes]


def test_each_head_node_s_alertmanager_sends_to_the_receiver_the_role_runs_beside_it(write_site):  # noqa: F811
    f = load_spec(write_site("paris-gb200", ON))
    inv = with_monitoring_vars(build_inventory(f), f)
    head = inv.groups["head_nodes"].vars
    assert head["prometheus_server_receiver_enabled"] is True
    for h in f.head_nodes:
        config = inv.hostvars[h.name]["prometheus_server_alertmanager_config"]
        assert config == pc.alertmanager_config(f, inv.hostvars[h.name]["ansible_host"])
        webhook, = {r["name"]: r for r in config["receivers"]}[pc.ACTING_RECEIVER]["webhook_configs"]
        # The role's unit: --listen {listen address (ansible_host)}:{receiver port} --ca {tls ca}; Alertmanager
        # presents the certificate the role checks is there.
        assert webhook["url"] == f"https://{inv.hostvars[h.name]['ansible_host']}:{head['prometheus_server_receiver_port']}/"
        assert webhook["http_config"]["tls_config"] == {"ca_file": head["prometheus_server_tls_ca"],
                                                        "cert_file": head["prometheus_server_tls_cert"],
                                                        "key_file": head["prometheus_server_tls_key"]}
    first = f.head_nodes[0].name
    mine = {"route": {"receiver": "none"}, "receivers": [{"name": "none"}]}
    inv = with_monitoring_vars(build_inventory(f, host_overrides={first: {"prometheus_server_alertmanager_config": mine}}), f)
    assert inv.hostvars[first]["prometheus_server_alertmanager_config"] == mine  # a host override wins


def test_an_absent_node_is_not_scraped(write_site):  # noqa: F811
    f = load_spec(write_site("paris-gb200", ON))
    absent = f.nodes[5].name
    inv = with_monitoring_vars(build_inventory(f, host_overrides={absent: {"aifactory_absent": True}}), f)
    targets = {c["labels"]["node"] for s in inv.groups["head_nodes"].vars["prometheus_server_config"]["scrape_configs"]
               for c in s["static_configs"]}
    assert absent not in targets and f.nodes[4].name in targets


def test_slurm_s_collector_runs_on_the_first_controller_alone_and_an_override_wins(write_site):  # noqa: F811
    f = load_spec(write_site("paris-gb200", ON))
    first = f.head_nodes[0].name
    inv = with_monitoring_vars(build_inventory(f), f)
    runs = [h for h, v in inv.hostvars.items() if v.get("node_exporter_slurm_collector")]
    assert runs == [first]
    with zipfile.ZipFile(inv.hostvars[first]["node_exporter_slurm_collector_source"]) as program:
        assert "__main__.py" in program.namelist() and "aifactory/monitoring/metrics.py" in program.namelist()
    inv = with_monitoring_vars(build_inventory(f, host_overrides={first: {"node_exporter_slurm_collector": False}}), f)
    assert not any(v.get("node_exporter_slurm_collector") for v in inv.hostvars.values())


def test_the_receiver_gets_the_spec_and_the_public_files_it_names_never_a_private_key(write_site):  # noqa: F811
    f = load_spec(write_site("paris-gb200", ON))
    files = with_monitoring_vars(build_inventory(f), f).groups["head_nodes"].vars["prometheus_server_receiver_site_files"]
    assert files == {"factory.yaml": str(f.site_dir / "factory.yaml"), "pki/factory-root-ca.pem": str(f.trust_anchor_path)}
    target = f.site_dir.parent / "copied"
    for relative, source in files.items():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target / relative)
    assert load_spec(target).name == f.name  # what the receiver loads on the head node
    assert not any("private" in name or name.endswith(".key") for name in files)


def written_as_the_role_writes(data: dict) -> str:
    """The role's `to_nice_yaml(indent=2, width=1000)`: PyYAML's safe dump, block style, keys as given."""
    return yaml.safe_dump(data, default_flow_style=False, indent=2, width=1000, sort_keys=False)


@needs_promtool
def test_promtool_accepts_prometheus_yml_and_the_rules_as_the_role_writes_them(tmp_path, write_site):  # noqa: F811
    f = load_spec(write_site("paris-gb200", ON))
    head = with_monitoring_vars(build_inventory(f), f).groups["head_nodes"].vars
    config = head["prometheus_server_config"]
    # The files it names, under tmp_path (the head node's /etc/prometheus).
    names = [config["rule_files"][0], config["alerting"]["alertmanagers"][0]["basic_auth"]["password_file"],
             *config["alerting"]["alertmanagers"][0]["tls_config"].values()]
    for name in names:
        (tmp_path / name.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name.lstrip("/")).write_text("")
    rules = tmp_path / head["prometheus_server_rules_file"].lstrip("/")
    rules.write_text(written_as_the_role_writes(head["prometheus_server_rules"]))
    relocated = yaml.safe_load(yaml.safe_dump(config).replace("/etc/prometheus", str(tmp_path / "etc/prometheus")))
    (tmp_path / "prometheus.yml").write_text(written_as_the_role_writes(relocated))
    promtool = shutil.which("promtool")
    for argv in (["check", "rules", str(rules)], ["check", "config", str(tmp_path / "prometheus.yml")]):
        done = subprocess.run([promtool, *argv], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(alerts.alerts(f))} rules found" in done.stdout


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool is not installed: it comes with Debian's "
                                                           "`prometheus-alertmanager` package")
def test_amtool_accepts_alertmanager_yml_as_the_role_writes_it(tmp_path, write_site):  # noqa: F811
    f = load_spec(write_site("paris-gb200", ON))
    head = with_monitoring_vars(build_inventory(f), f).hostvars[f.head_nodes[0].name]
    assert pc.ACTING_RECEIVER in {r["name"] for r in head["prometheus_server_alertmanager_config"]["receivers"]}
    (tmp_path / "alertmanager.yml").write_text(written_as_the_role_writes(head["prometheus_server_alertmanager_config"]))
    done = subprocess.run([shutil.which("amtool"), "check-config", str(tmp_path / "alertmanager.yml")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_inventory_plugin_hands_the_monitoring_vars_to_ansible(tmp_path, write_site):  # noqa: F811
    site = write_site("paris-gb200", ON)
    shutil.copy(site_dir("paris-gb200") / "aifactory.yml", site / "aifactory.yml")
    done = subprocess.run([str(Path(sys.executable).with_name("ansible-inventory")),
                           "-i", str(site / "aifactory.yml"), "--host", "paris-gb200-head01"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    host = yaml.safe_load(done.stdout)
    assert host[MONITORING_VAR] is True and host["node_exporter_slurm_collector"] is True
    assert host["prometheus_server_config"]["global"]["external_labels"] == {"factory": "paris-gb200"}
