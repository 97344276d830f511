"""The monitoring stage and its roles: skipped with its reason unless the inventory enables it, and the command
lines and web configurations node_exporter and prometheus_server compute from their variables (rendered by
Ansible on this machine, connection local, nothing installed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from aifactory.monitoring import metrics

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
HASH = "$2y$12$8Uo1Dv0O9cJ1gJQxS8c2UeWb2vY7w7sQ3xZtjz0e4pN8m1a5H9y7a"  # a bcrypt hash of a throwaway password


def run(playbook: Path, inventory: Path, *args: str) -> dict:
    """ansible-playbook's JSON callback output of a local run."""
    done = subprocess.run([str(PLAYBOOK), "-i", str(inventory), str(playbook), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_NOCOLOR": "1",
                               "ANSIBLE_ROLES_PATH": str(PLAYBOOKS / "roles")})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout)


def local_inventory(tmp_path: Path, **group_vars) -> Path:
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, **group_vars},
        "children": {"nodes": {"hosts": {"node01": None}}, "head_nodes": {"hosts": {"head01": None}}}}}))
    return path


def results(output: dict) -> list[tuple[str, str, dict]]:
    """(task name, host, result) of every task run."""
    return [(task["task"]["name"], host, result) for play in output["plays"] for task in play["tasks"]
            for host, result in task["hosts"].items()]


def test_the_stage_reports_itself_skipped_and_runs_nothing_unless_monitoring_is_enabled(tmp_path):
    output = run(PLAYBOOKS / "monitoring.yml", local_inventory(tmp_path, aifactory_monitoring_enabled=False), "--check")
    messages = [r.get("msg") for _, _, r in results(output) if not r.get("skipped")]
    assert messages == ["skipped: monitoring, the spec's monitoring.enabled is false"]
    assert not any(r.get("changed") for _, _, r in results(output))
    ran = {name for name, _, r in results(output) if not r.get("skipped")}
    assert not any("node exporter" in name or "Prometheus" in name for name in ran)


def rendered(tmp_path: Path, role: str, names: list[str], **variables) -> dict:
    """{name: value} of the role's variables as Ansible renders them from its defaults and vars, with `variables`."""
    play = [{"hosts": "head01", "gather_facts": False,
             "vars_files": [str(PLAYBOOKS / "roles" / role / d / "main.yml") for d in ("defaults", "vars")],
             "tasks": [{"name": "Show", "ansible.builtin.debug": {"msg": {n: f"{{{{ {n} }}}}" for n in names}}}]}]
    (tmp_path / "show.yml").write_text(yaml.safe_dump(play))
    (tmp_path / "extra.json").write_text(json.dumps(variables))
    output = run(tmp_path / "show.yml", local_inventory(tmp_path, ansible_host="10.20.0.5"),
                 "-e", f"@{tmp_path / 'extra.json'}")
    return results(output)[0][2]["msg"]


def test_node_exporter_listens_on_the_management_address_with_the_collectors_asked_for(tmp_path):
    shown = rendered(tmp_path, "node_exporter", ["__node_exporter_args"], node_exporter_collectors_disabled=["arp"])
    assert shown["__node_exporter_args"] == [
        "--web.listen-address=10.20.0.5:9100", "--collector.textfile.directory=/var/lib/prometheus/node-exporter",
        "--collector.systemd", "--no-collector.arp"]  # no TLS configuration without a certificate


def test_node_exporter_with_a_client_ca_serves_only_that_ca_s_clients(tmp_path):
    shown = rendered(tmp_path, "node_exporter", ["__node_exporter_args", "__node_exporter_web"],
                     node_exporter_tls_cert="/etc/pki/n.pem", node_exporter_tls_key="/etc/pki/n.key",
                     node_exporter_tls_client_ca="/etc/pki/ca.pem")
    assert shown["__node_exporter_args"][-1] == "--web.config.file=/etc/prometheus/node-exporter-web.yml"
    assert shown["__node_exporter_web"] == {"tls_server_config": {
        "cert_file": "/etc/pki/n.pem", "key_file": "/etc/pki/n.key", "client_ca_file": "/etc/pki/ca.pem",
        "client_auth_type": "RequireAndVerifyClientCert"}}


def test_alertmanagers_of_several_head_nodes_form_a_cluster_on_the_management_network(tmp_path):
    names = ["__prometheus_server_args", "__prometheus_server_alertmanager_args"]
    shown = rendered(tmp_path, "prometheus_server", names, prometheus_server_retention_days=90,
                     prometheus_server_alertmanager_peers=["10.20.0.5", "10.20.0.6"])
    assert shown["__prometheus_server_args"] == ["--web.listen-address=10.20.0.5:9090",
                                                 "--web.config.file=/etc/prometheus/web.yml",
                                                 "--storage.tsdb.retention.time=90d"]
    assert shown["__prometheus_server_alertmanager_args"] == [
        "--web.listen-address=10.20.0.5:9093", "--web.config.file=/etc/prometheus/alertmanager-web.yml",
        "--cluster.listen-address=10.20.0.5:9094", "--cluster.peer=10.20.0.6:9094"]
    alone = rendered(tmp_path, "prometheus_server", names, prometheus_server_alertmanager_peers=["10.20.0.5"])
    assert "--cluster.listen-address=" in alone["__prometheus_server_alertmanager_args"]  # no cluster port open


def test_alertmanager_serves_only_the_factory_ca_s_clients_that_log_in(tmp_path):
    shown = rendered(tmp_path, "prometheus_server", ["__prometheus_server_alertmanager_web"],
                     prometheus_server_alertmanager_password_hash=HASH)
    web = shown["__prometheus_server_alertmanager_web"]
    assert web["basic_auth_users"] == {"prometheus": HASH}
    assert web["tls_server_config"]["client_auth_type"] == "RequireAndVerifyClientCert"
    assert web["tls_server_config"]["client_ca_file"] == "/etc/prometheus/tls/factory-ca.pem"


def test_dcgm_exporter_listens_on_the_management_address_with_the_package_s_counters_unless_given(tmp_path):
    shown = rendered(tmp_path, "dcgm_exporter", ["__dcgm_exporter_args", "__dcgm_exporter_package_pins"])
    assert shown["__dcgm_exporter_args"] == [
        "-f", "/etc/dcgm-exporter/default-counters.csv", "--address", "10.20.0.5:9400",
        "--xid-count-window-size", "300000", "--remote-hostengine-info", "localhost:5555"]  # no job mapping, no TLS
    assert shown["__dcgm_exporter_package_pins"] == {"datacenter-gpu-manager-exporter": "4.6.0"}


def test_dcgm_exporter_with_counters_tls_and_job_mapping_serves_only_the_ca_s_clients(tmp_path):
    shown = rendered(tmp_path, "dcgm_exporter", ["__dcgm_exporter_args", "__dcgm_exporter_web"],
                     dcgm_exporter_counters=[{"field": "DCGM_FI_DEV_GPU_TEMP", "type": "gauge", "help": "t"}],
                     dcgm_exporter_hpc_job_mapping_dir="/run/dcgm-job-mapping", dcgm_exporter_remote_hostengine="",
                     dcgm_exporter_tls_cert="/etc/pki/n.pem", dcgm_exporter_tls_key="/etc/pki/n.key",
                     dcgm_exporter_tls_client_ca="/etc/pki/ca.pem")
    assert shown["__dcgm_exporter_args"] == [
        "-f", "/etc/dcgm-exporter/aifactory-counters.csv", "--address", "10.20.0.5:9400",
        "--xid-count-window-size", "300000", "--hpc-job-mapping-dir", "/run/dcgm-job-mapping",
        "--web-config-file", "/etc/dcgm-exporter/web.yml"]
    assert shown["__dcgm_exporter_web"] == {"tls_server_config": {
        "cert_file": "/etc/pki/n.pem", "key_file": "/etc/pki/n.key", "client_ca_file": "/etc/pki/ca.pem",
        "client_auth_type": "RequireAndVerifyClientCert"}}


def test_dcgm_exporter_s_counters_file_and_unit_drop_in_are_what_the_exporter_reads(tmp_path):
    """The counters file in dcgm-exporter's format (field, type, help; `#` comments) holds the inventory's counters,
    and the drop-in replaces the package unit's ExecStart with the role's command line."""
    counters = metrics.dcgm_counters()
    templates = PLAYBOOKS / "roles" / "dcgm_exporter" / "templates"
    play = [{"hosts": "head01", "gather_facts": False,
             "vars_files": [str(PLAYBOOKS / "roles" / "dcgm_exporter" / d / "main.yml") for d in ("defaults", "vars")],
             "tasks": [{"name": "Show", "ansible.builtin.debug": {"msg": {
                 name: f"{{{{ lookup('ansible.builtin.template', '{templates / name}') }}}}"
                 for name in ("counters.csv.j2", "dropin.conf.j2")}}}]}]
    (tmp_path / "show.yml").write_text(yaml.safe_dump(play))
    (tmp_path / "extra.json").write_text(json.dumps({"dcgm_exporter_counters": counters}))
    output = run(tmp_path / "show.yml", local_inventory(tmp_path, ansible_host="10.20.0.5"),
                 "-e", f"@{tmp_path / 'extra.json'}")
    shown = results(output)[0][2]["msg"]
    rows = [[cell.strip() for cell in line.split(",")] for line in shown["counters.csv.j2"].splitlines()
            if line.strip() and not line.startswith("#")]
    assert rows == [[c["field"], c["type"], c["help"]] for c in counters]
    service = [line for line in shown["dropin.conf.j2"].splitlines() if line.startswith("ExecStart=")]
    assert service == ["ExecStart=", "ExecStart=/usr/bin/dcgm-exporter -f /etc/dcgm-exporter/aifactory-counters.csv "
                       "--address 10.20.0.5:9400 --xid-count-window-size 300000 "
                       "--remote-hostengine-info localhost:5555"]


def neuron_templates(tmp_path: Path, **variables) -> dict:
    """neuron_monitor's unit and configuration as Ansible renders them from its defaults and vars, with `variables`."""
    role = PLAYBOOKS / "roles" / "neuron_monitor"
    play = [{"hosts": "head01", "gather_facts": False,
             "vars_files": [str(role / d / "main.yml") for d in ("defaults", "vars")],
             "tasks": [{"name": "Show", "ansible.builtin.debug": {"msg": {
                 "unit": f"{{{{ lookup('ansible.builtin.template', '{role / 'templates/aifactory-neuron-monitor.service.j2'}') }}}}",
                 "settings": "{{ __neuron_monitor_settings }}"}}}]}]
    (tmp_path / "show.yml").write_text(yaml.safe_dump(play))
    (tmp_path / "extra.json").write_text(json.dumps(variables))
    output = run(tmp_path / "show.yml", local_inventory(tmp_path), "-e", f"@{tmp_path / 'extra.json'}")
    return results(output)[0][2]["msg"]


def test_neuron_s_exporter_pipes_the_monitor_into_its_script_and_lets_only_the_head_nodes_connect(tmp_path):
    shown = neuron_templates(tmp_path, neuron_monitor_allowed_scrapers=["10.20.0.5", "10.20.0.6"], neuron_monitor_port=8000)
    lines = shown["unit"].splitlines()
    assert ("ExecStart=/bin/sh -c 'exec /opt/aws/neuron/bin/neuron-monitor -c /etc/aifactory/neuron-monitor.json | "
            "/usr/bin/python3 /opt/aws/neuron/bin/neuron-monitor-prometheus.py --port 8000'") in lines
    assert "IPAddressDeny=any" in lines and "IPAddressAllow=localhost 10.20.0.5 10.20.0.6" in lines
    # The metric groups the rules and dashboards read: core utilisation, memory, execution errors, ECC events.
    assert shown["settings"]["period"] == "5s"
    assert [m["type"] for m in shown["settings"]["neuron_runtimes"][0]["metrics"]] == [
        "neuroncore_counters", "memory_used", "execution_stats"]
    assert shown["settings"]["system_metrics"] == [{"type": "neuron_hw_counters"}]
    open_to_all = neuron_templates(tmp_path, neuron_monitor_allowed_scrapers=[])["unit"]
    assert "IPAddress" not in open_to_all  # a user without the inventory gets the script as the guide runs it
