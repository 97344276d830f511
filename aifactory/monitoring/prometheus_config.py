"""Prometheus's and Alertmanager's configuration, generated from the spec and the inventory.

Prometheus runs on every head node, each scraping every host of the inventory (the same node list as Slurm's and
Ansible's: `aifactory.node.inventory`) and sending alerts to the Alertmanager of every head node, which deduplicate
them. Every listener is on its host's management address only and serves TLS with a certificate of the factory's
CA (except Neuron's exporter, which has no TLS); Prometheus presents its own certificate to Alertmanager and logs in
with basic auth. What is generated names the files that hold keys and the password (root-only files on the head
node), never their content. Metrics stay on the head nodes unless the spec sets `monitoring.amp_remote_write`: then
Prometheus also writes them to the factory's Amazon Managed Service for Prometheus workspace (infra/metrics.py), at
its URL from the stack outputs, signed with SigV4 through the private endpoint. The signing credentials are a short-lived
session of the head node's own AWS identity (IAM Roles Anywhere, as the nodes'): a root timer of the prometheus_server
role fetches it through the identity's profile and leaves it where the prometheus user can read it, so Prometheus
never reads the identity's private key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from aifactory.core.inputs import InputFileError, parse_json, read_text
from aifactory.monitoring.alerts import RULES_FILE
from aifactory.node.inventory import AMP_OUTPUT, Inventory, InventoryInputError, amp_url_problem
from aifactory.spec import Factory, Problem

ETC = "/etc/prometheus"
# Exporters' ports (their packages' defaults): node exporter, NVIDIA's DCGM exporter, Neuron's
# neuron-monitor-prometheus.py.
EXPORTER_PORTS = {"node": 9100, "dcgm": 9400, "neuron": 8000}
# Exporters that serve TLS (Prometheus exporter-toolkit's --web.config.file: node exporter, DCGM exporter's
# --web-config-file). Neuron's neuron-monitor-prometheus.py serves plain HTTP only, on the management network.
TLS_EXPORTERS = ("node", "dcgm")
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
SCRAPE_INTERVAL = "30s"
ALERTMANAGER_USER = "prometheus"
# The receiver alerts go to when the spec names none: they stay visible in Alertmanager, sent nowhere.
NO_RECEIVER = "none"
# The project's acting receiver (aifactory.monitoring.receiver) beside Alertmanager on each head node, its port;
# the name has a '_', which the spec's receiver names never have (spec.validators.monitoring): no clash.
ACTING_RECEIVER = "aifactory_receiver"
RECEIVER_PORT = 9095
# The head node's AWS identity, and its file: the aws_node_identity role's defaults (aws_node_identity_profile,
# aws_node_identity_config): credentials from IAM Roles Anywhere, through a key only root reads.
AWS_PROFILE = "aifactory-node"
AWS_CONFIG_FILE = "/etc/aifactory/aws/config"
# What Prometheus signs its writes with: this profile of this credentials file, whose credential_process prints the
# session the role's root timer fetched through AWS_PROFILE into AWS_SESSION_FILE (on tmpfs, readable by root and
# the prometheus group). The SDK calls the process again once the session's Expiration has passed.
PROMETHEUS_AWS_PROFILE = "aifactory-prometheus"
PROMETHEUS_AWS_CREDENTIALS = f"{ETC}/aws/credentials"
AWS_SESSION_FILE = "/run/aifactory-prometheus-aws/session.json"


@dataclass(frozen=True)
class Files:
    """Where the head node keeps what the configuration refers to (installed by the server role)."""

    etc: str = ETC

    @property
    def ca(self) -> str:
        return f"{self.etc}/tls/factory-ca.pem"

    @property
    def cert(self) -> str:
        return f"{self.etc}/tls/prometheus.pem"

    @property
    def key(self) -> str:
        return f"{self.etc}/tls/prometheus.key"

    @property
    def alertmanager_password(self) -> str:
        return f"{self.etc}/alertmanager.password"

    @property
    def web_config(self) -> str:
        return f"{self.etc}/web.yml"

    @property
    def rules(self) -> str:
        return f"{self.etc}/rules/{RULES_FILE}"


@dataclass(frozen=True)
class Target:
    host: str
    address: str
    rack: str | None


def scrape_targets(inv: Inventory) -> tuple[list[Target], list[Target]]:
    """(compute nodes, head nodes) of the inventory, hosts left out by host overrides (absent) not among them."""
    nodes = [Target(host, inv.hostvars[host]["ansible_host"], rack)
             for rack in inv.groups["nodes"].children for host in inv.groups[rack].hosts]
    heads = [Target(host, inv.hostvars[host]["ansible_host"], None)
             for host in (inv.groups["head_nodes"].hosts if "head_nodes" in inv.groups else [])]
    return nodes, heads


def _static_configs(targets: list[Target], port: int) -> list[dict]:
    return [{"targets": [f"{t.address}:{port}"], "labels": {"node": t.host, **({"rack": t.rack} if t.rack else {})}}
            for t in targets]


def load_remote_write_url(f: Factory, path: str | Path) -> str | None:
    """The AMP workspace's remote-write URL from `pulumi stack output --json` in `path`; None unless the spec sets
    monitoring.amp_remote_write. InventoryInputError when the file cannot be read or holds no such URL of the home
    region."""
    if not f.monitoring.amp_remote_write:
        return None
    try:
        outputs = parse_json(read_text(path))
    except InputFileError as err:
        raise InventoryInputError(str(path), [Problem("(file)", f"stack outputs: {err}")]) from None
    return remote_write_url(f, outputs if isinstance(outputs, dict) else {}, str(path))


def remote_write_url(f: Factory, outputs: dict, source: str) -> str | None:
    """The AMP workspace's remote-write URL of the stack `outputs` (read from `source`); None unless the spec sets
    monitoring.amp_remote_write. InventoryInputError when they hold no such URL of the home region."""
    if not f.monitoring.amp_remote_write:
        return None
    url, region = outputs.get(AMP_OUTPUT), f.sovereignty.region
    if url is None:
        raise InventoryInputError(source, [Problem(AMP_OUTPUT, "missing: monitoring.amp_remote_write is true, so "
                                                   "run `pulumi up` to create the workspace, then write this file "
                                                   "with `pulumi stack output --json`")])
    if problem := amp_url_problem(region, url):
        raise InventoryInputError(source, [problem])
    return url


def remote_write(f: Factory, url: str | None) -> list[dict]:
    """Prometheus's remote_write: the AMP workspace, SigV4-signed in the home region; none unless the spec sets
    monitoring.amp_remote_write and the workspace's URL is known."""
    if not (f.monitoring.amp_remote_write and url):
        return []
    return [{"url": url, "name": "amp", "sigv4": {"region": f.sovereignty.region, "profile": PROMETHEUS_AWS_PROFILE}}]


def prometheus_config(f: Factory, inv: Inventory, files: Files = Files(), amp_url: str | None = None) -> dict:
    """prometheus.yml: the exporters of every host, the rules, every head node's Alertmanager, and the AMP workspace
    at `amp_url` where the spec asks for it."""
    nodes, heads = scrape_targets(inv)
    tls = {"ca_file": files.ca, "cert_file": files.cert, "key_file": files.key}
    jobs = [("node", nodes + heads), ("dcgm" if f.platform.software_stack == "nvidia" else "neuron", nodes)]
    config: dict = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL,
                   "external_labels": {"factory": f.name}},
        "rule_files": [files.rules],
        "scrape_configs": [{"job_name": job, **({"scheme": "https", "tls_config": dict(tls)} if job in TLS_EXPORTERS
                                                 else {"scheme": "http"}),
                            "static_configs": _static_configs(targets, EXPORTER_PORTS[job])} for job, targets in jobs],
    }
    if heads:
        config["alerting"] = {"alertmanagers": [{
            "scheme": "https", "tls_config": dict(tls),
            "basic_auth": {"username": ALERTMANAGER_USER, "password_file": files.alertmanager_password},
            "static_configs": [{"targets": [f"{h.address}:{ALERTMANAGER_PORT}" for h in heads]}]}]}
    if writes := remote_write(f, amp_url):
        config["remote_write"] = writes
    return config


def prometheus_flags(f: Factory, address: str, files: Files = Files()) -> list[str]:
    """Prometheus's command line on a head node: retention from the spec, listening on its management address."""
    return [f"--storage.tsdb.retention.time={f.monitoring.retention_days}d",
            f"--web.listen-address={address}:{PROMETHEUS_PORT}", f"--web.config.file={files.web_config}"]


def prometheus_environment(f: Factory, amp_url: str | None) -> dict[str, str]:
    """Prometheus's environment beside its flags (/etc/default/prometheus): where the AWS profile that signs its
    writes to AMP is, when it writes there."""
    return {"AWS_SHARED_CREDENTIALS_FILE": PROMETHEUS_AWS_CREDENTIALS} if remote_write(f, amp_url) else {}


def receiver_runs(f: Factory) -> bool:
    """Whether the head nodes run the acting receiver (aifactory.monitoring.receiver): it drains through Slurm."""
    return f.monitoring.enabled and f.scheduler.kind == "slurm" and bool(f.head_nodes)


def acting_receiver(address: str, files: Files = Files()) -> dict:
    """The receiver on the head node at `address`: Alertmanager's webhook over HTTPS, presenting the head node's
    certificate (the receiver accepts only the factory CA's clients) and checking the receiver's with the CA."""
    return {"name": ACTING_RECEIVER, "webhook_configs": [{
        "url": f"https://{address}:{RECEIVER_PORT}/", "send_resolved": True,
        "http_config": {"tls_config": {"ca_file": files.ca, "cert_file": files.cert, "key_file": files.key}}}]}


def alertmanager_config(f: Factory, head_address: str | None = None, files: Files = Files()) -> dict:
    """alertmanager.yml of the head node at `head_address`: every receiver of the spec gets every alert, and so
    does the acting receiver beside it where it runs (receiver_runs); a node that is down silences its other alerts.
    Each head node's Alertmanager sends to its own receiver: the cluster sends each notification once."""
    monitoring = f.monitoring
    acting = [acting_receiver(head_address, files)] if head_address and receiver_runs(f) else []
    config: dict = {}
    if monitoring.smtp_smarthost:
        config["global"] = {"smtp_smarthost": monitoring.smtp_smarthost, "smtp_from": monitoring.smtp_from,
                            "smtp_require_tls": True}
    config["route"] = {"receiver": NO_RECEIVER, "group_by": ["alertname", "node"], "group_wait": "30s",
                       "group_interval": "5m", "repeat_interval": "4h",
                       "routes": [{"receiver": r["name"], "continue": True} for r in acting]
                       + [{"receiver": r.name, "continue": True} for r in monitoring.receivers]}
    config["receivers"] = [{"name": NO_RECEIVER}] + acting + [
        {"name": r.name, **({"email_configs": [{"to": r.email, "send_resolved": True}]} if r.email else {}),
         **({"webhook_configs": [{"url": r.webhook, "send_resolved": True}]} if r.webhook else {})}
        for r in monitoring.receivers]
    config["inhibit_rules"] = [{"source_matchers": ['alertname="NodeDown"'], "target_matchers": ['alertname!="NodeDown"'],
                                "equal": ["node"]}]
    return config


def as_yaml(config: dict, what: str, f: Factory) -> str:
    return f"# {f.name}: {what} generated by aifactory from the spec (aifactory.monitoring)\n" + yaml.safe_dump(
        config, sort_keys=False, width=1000)
