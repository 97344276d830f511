"""Prometheus's and Alertmanager's configuration from the spec and the inventory, and `aifactory monitoring`."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from aifactory.cli import main
from aifactory.monitoring import prometheus_config as pc
from aifactory.monitoring.alerts import rules_yaml
from aifactory.node.inventory import build_inventory
from aifactory.spec import load_spec
from tests.conftest import put, site_dir
from tests.monitoring.test_alert_rules import needs_promtool
from tests.spec.conftest import write_site  # noqa: F401 - a fixture


AMP_URL = "https://aps-workspaces.eu-west-3.amazonaws.com/workspaces/ws-0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0/api/v1/remote_write"


@pytest.fixture(scope="module")
def paris():
    return load_spec(site_dir("paris-gb200"))


def hosts_of(config: dict, job: str) -> dict[str, dict]:
    scrape = next(s for s in config["scrape_configs"] if s["job_name"] == job)
    return {c["labels"]["node"]: c for c in scrape["static_configs"]}


@needs_promtool
def test_promtool_accepts_the_generated_configuration(tmp_path, paris):
    files = pc.Files(str(tmp_path))
    for path in (files.ca, files.cert, files.key, files.alertmanager_password, files.rules):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    (tmp_path / files.rules).write_text(rules_yaml(paris))
    (tmp_path / "prometheus.yml").write_text(pc.as_yaml(pc.prometheus_config(paris, build_inventory(paris), files,
                                                                             amp_url=AMP_URL), "prometheus.yml", paris))
    result = subprocess.run([shutil.which("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "17 rules found" in result.stdout


def test_targets_are_the_inventory_s_hosts_and_an_absent_node_is_left_out(paris):
    absent = paris.nodes[3].name
    config = pc.prometheus_config(paris, build_inventory(paris, host_overrides={absent: {"aifactory_absent": True}}))
    node_job = hosts_of(config, "node")
    assert set(node_job) == {n.name for n in paris.nodes if n.name != absent} | {h.name for h in paris.head_nodes}
    first = paris.nodes[0]
    assert node_job[first.name] == {"targets": [f"{first.address}:9100"], "labels": {"node": first.name, "rack": "rack01"}}
    assert set(hosts_of(config, "dcgm")) == {n.name for n in paris.nodes if n.name != absent}
    head = paris.head_nodes[0]
    assert config["alerting"]["alertmanagers"][0]["static_configs"] == [{"targets": [f"{head.address}:9093"]}]


def test_trainium_nodes_are_scraped_by_neuron_s_exporter_not_dcgm():
    trn = load_spec(site_dir("ohio-trn3"))
    jobs = {s["job_name"]: s for s in pc.prometheus_config(trn, build_inventory(trn))["scrape_configs"]}
    assert list(jobs) == ["node", "neuron"]
    assert jobs["node"]["scheme"] == "https" and jobs["neuron"]["scheme"] == "http"  # Neuron's exporter has no TLS


def test_every_connection_is_tls_and_alertmanager_s_password_is_a_file(paris):
    config = pc.prometheus_config(paris, build_inventory(paris))
    for client in [*config["scrape_configs"], *config["alerting"]["alertmanagers"]]:
        assert client["scheme"] == "https" and client["tls_config"]["ca_file"] == "/etc/prometheus/tls/factory-ca.pem"
    assert config["alerting"]["alertmanagers"][0]["basic_auth"] == {
        "username": "prometheus", "password_file": "/etc/prometheus/alertmanager.password"}


def test_retention_comes_from_the_spec_and_prometheus_listens_on_the_management_address(write_site):  # noqa: F811
    f = load_spec(write_site("paris-gb200", put("monitoring.retention_days", 90)))
    flags = pc.prometheus_flags(f, f.head_nodes[0].address)
    assert "--storage.tsdb.retention.time=90d" in flags and f"--web.listen-address={f.head_nodes[0].address}:9090" in flags


def test_alertmanager_sends_to_the_spec_s_receivers(paris):
    config = pc.alertmanager_config(paris)
    assert config["global"]["smtp_smarthost"] == "mail.par1.factory.internal:587"
    assert [r["receiver"] for r in config["route"]["routes"]] == ["noc", "itsm"]
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["noc"]["email_configs"][0]["to"] == "noc@par1.factory.internal"
    assert receivers["itsm"]["webhook_configs"][0]["url"] == "https://itsm.par1.factory.internal/hooks/aifactory"
    assert config["inhibit_rules"][0]["source_matchers"] == ['alertname="NodeDown"']


def test_with_monitoring_every_alert_also_goes_to_the_acting_receiver_on_the_same_head_node(write_site):  # noqa: F811
    f = load_spec(write_site("paris-gb200", put("monitoring.enabled", True)))
    head = f.head_nodes[0].address
    config = pc.alertmanager_config(f, head)
    assert [r["receiver"] for r in config["route"]["routes"]] == ["aifactory_receiver", "noc", "itsm"]
    assert all(r["continue"] for r in config["route"]["routes"])  # the spec's receivers get every alert too
    webhook, = {r["name"]: r for r in config["receivers"]}["aifactory_receiver"]["webhook_configs"]
    # Where the receiver listens (the role's ExecStart: --listen <management address>:port), and mutual TLS with
    # the head node's certificate, of the CA the receiver checks clients with (--ca prometheus_server_tls_ca).
    assert webhook["url"] == f"https://{head}:9095/"
    assert webhook["http_config"]["tls_config"] == {"ca_file": "/etc/prometheus/tls/factory-ca.pem",
                                                    "cert_file": "/etc/prometheus/tls/prometheus.pem",
                                                    "key_file": "/etc/prometheus/tls/prometheus.key"}
    # Monitoring off, or no head node named: the spec's receivers alone.
    assert [r["receiver"] for r in pc.alertmanager_config(f)["route"]["routes"]] == ["noc", "itsm"]
    off = load_spec(site_dir("paris-gb200"))
    assert [r["receiver"] for r in pc.alertmanager_config(off, head)["route"]["routes"]] == ["noc", "itsm"]


def test_without_receivers_alerts_go_nowhere_but_stay_in_alertmanager():
    config = pc.alertmanager_config(load_spec(site_dir("ohio-trn3")))
    assert config["receivers"] == [{"name": "none"}] and config["route"]["routes"] == [] and "global" not in config


def test_the_command_writes_every_file(tmp_path, capsys):
    assert main(["monitoring", "inventories/paris-gb200", "--out", str(tmp_path / "out")]) == 0
    written = {p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert written == {"prometheus.yml", "alertmanager/paris-gb200-head01.yml", "rules/aifactory-alerts.yml",
                       "default/paris-gb200-head01.prometheus", "dashboards/paris-gb200-overview.json",
                       "dashboards/paris-gb200-accelerators.json", "dashboards/paris-gb200-node.json"}
    assert yaml.safe_load((tmp_path / "out" / "prometheus.yml").read_text())["global"]["external_labels"] == {
        "factory": "paris-gb200"}


def test_the_command_refuses_a_bad_site_and_an_out_that_is_a_file(tmp_path, capsys):
    assert main(["monitoring", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exited:
        main(["monitoring", "inventories/paris-gb200", "--out", str(tmp_path / "file")])
    assert exited.value.code == 2 and "not a directory" in capsys.readouterr().err


def test_the_command_leaves_out_an_absent_host_and_refuses_an_unknown_one(tmp_path, capsys):
    overrides = tmp_path / "overrides.json"
    overrides.write_text('{"paris-gb200-r002-n05": {"aifactory_absent": true}}')
    assert main(["monitoring", "inventories/paris-gb200", "--out", str(tmp_path / "out"),
                 "--host-overrides", str(overrides)]) == 0
    config = yaml.safe_load((tmp_path / "out" / "prometheus.yml").read_text())
    assert "paris-gb200-r002-n05" not in hosts_of(config, "node") and "paris-gb200-r002-n04" in hosts_of(config, "node")
    overrides.write_text('{"paris-gb200-r099-n01": {"aifactory_absent": true}}')
    assert main(["monitoring", "inventories/paris-gb200", "--out", str(tmp_path / "out"),
                 "--host-overrides", str(overrides)]) == 2
    assert "paris-gb200-r099-n01: no such host in this factory" in capsys.readouterr().err


def test_metrics_go_to_amp_only_where_the_spec_asks_and_the_workspace_is_known(write_site, paris):  # noqa: F811
    config = pc.prometheus_config(paris, build_inventory(paris), amp_url=AMP_URL)
    assert config["remote_write"] == [{"url": AMP_URL, "name": "amp",
                                       "sigv4": {"region": "eu-west-3", "profile": "aifactory-prometheus"}}]
    assert pc.prometheus_environment(paris, AMP_URL) == {"AWS_SHARED_CREDENTIALS_FILE": "/etc/prometheus/aws/credentials"}
    assert "remote_write" not in pc.prometheus_config(paris, build_inventory(paris))  # the workspace's URL unknown
    home = load_spec(write_site("paris-gb200", put("monitoring.amp_remote_write", False)))
    assert "remote_write" not in pc.prometheus_config(home, build_inventory(home), amp_url=AMP_URL)
    assert pc.prometheus_environment(home, AMP_URL) == {}


def stack_outputs(tmp_path, **outputs) -> str:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"region": "eu-west-3", **outputs}))
    return str(path)


def test_the_command_writes_to_the_workspace_of_the_stack_outputs(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["monitoring", "inventories/paris-gb200", "--out", str(out),
                 "--stack-outputs", stack_outputs(tmp_path, amp_remote_write_url=AMP_URL)]) == 0
    assert yaml.safe_load((out / "prometheus.yml").read_text())["remote_write"][0]["url"] == AMP_URL
    assert "AWS_SHARED_CREDENTIALS_FILE=/etc/prometheus/aws/credentials\n" in (out / "default/paris-gb200-head01.prometheus").read_text()
    assert "note:" not in capsys.readouterr().err


def test_without_stack_outputs_metrics_stay_home_and_a_note_says_so(tmp_path, capsys):
    assert main(["monitoring", "inventories/paris-gb200", "--out", str(tmp_path / "out")]) == 0
    assert "remote_write" not in yaml.safe_load((tmp_path / "out" / "prometheus.yml").read_text())
    assert "AWS_SHARED_CREDENTIALS_FILE" not in (tmp_path / "out" / "default/paris-gb200-head01.prometheus").read_text()
    assert "no --stack-outputs was given: prometheus.yml has no remote_write" in capsys.readouterr().err


@pytest.mark.parametrize("outputs, message", [
    ({}, "amp_remote_write_url: missing"),
    ({"amp_remote_write_url": AMP_URL.replace("eu-west-3", "us-east-1")},
     "amp_remote_write_url: must be https://aps-workspaces.eu-west-3.amazonaws.com/workspaces/"),
    ({"amp_remote_write_url": "http://metrics.example.com/api/v1/write"}, "amp_remote_write_url: must be https://aps-"),
], ids=["missing", "another-region", "not-amp"])
def test_the_command_refuses_stack_outputs_without_the_home_region_s_workspace(tmp_path, capsys, outputs, message):
    assert main(["monitoring", "inventories/paris-gb200", "--out", str(tmp_path / "out"),
                 "--stack-outputs", stack_outputs(tmp_path, **outputs)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
