"""The monitoring roles' variables from the spec and the inventory, computed once, in Python.

The node_exporter role on every node and head node, dcgm_exporter on an NVIDIA factory's nodes and neuron_monitor
on a Trainium factory's, the prometheus_server role on the head nodes. They are
`aifactory.node.role_vars`'s kind, kept here because they are the configuration this package generates
(`prometheus_config`, `alerts`) and the node layer sits below this one: `with_monitoring_vars` adds them to an
inventory `aifactory.node.inventory` built, after its host overrides (absent hosts are not scraped), and the
inventory plugin hands that to Ansible. Nothing is added unless the spec's `monitoring.enabled` is true: the
monitoring stage then reports itself skipped.
"""

from __future__ import annotations

from pathlib import Path

from aifactory import scheduler
from aifactory.monitoring import alerts, metrics, prometheus_config as pc, slurm_program
from aifactory.node.inventory import Inventory
from aifactory.node.role_vars import aws_node_identity_vars
from aifactory.spec import SPEC_FILE, Factory

# Node exporter collectors the alert rules read beyond its default ones (infiniband, filesystem, textfile):
# FabricServiceDown reads the systemd collector's unit states.
COLLECTORS_ENABLED = ("systemd",)
# Where a head node keeps the site directory the alert receiver loads its spec from.
RECEIVER_SITE_DIR = "/etc/aifactory/site"
# The receiver's certificate and key on a head node (the site's PKI puts them there), and where it keeps its state
# and audit log (the unit's StateDirectory).
RECEIVER_CERT = "/etc/aifactory/receiver/receiver.pem"
RECEIVER_KEY = "/etc/aifactory/receiver/receiver.key"
RECEIVER_STATE_DIR = "/var/lib/aifactory/receiver"
# The monitoring stage's groups (playbooks/monitoring.yml), there only where the spec enables monitoring, so a
# factory without it pays no skipped task per host: every monitored host (node exporter), and the hosts of
# Prometheus, Alertmanager and the receiver.
MONITORED, SERVERS = "monitored", "monitoring_servers"
# The head nodes that write metrics to AMP, where the spec asks for it and the stack outputs name the workspace: the
# monitoring stage (playbooks/monitoring.yml) gives them an AWS identity of their own, as the awslink stage gives
# the nodes theirs.
METRICS_WRITERS = "metrics_writers"
# The nodes of an NVIDIA factory that run DCGM's exporter (the scrape configuration's `dcgm` job), and those of a
# Trainium factory that run Neuron's (its `neuron` job).
DCGM_EXPORTERS, NEURON_MONITORS = "dcgm_exporters", "neuron_monitors"
# Node exporter's certificate and key on every host (put there by the site's PKI, like the head nodes' own):
# prometheus.yml scrapes it over TLS, presenting the head node's certificate of the factory CA.
NODE_EXPORTER_CERT = f"{pc.ETC}/tls/node-exporter.pem"
NODE_EXPORTER_KEY = f"{pc.ETC}/tls/node-exporter.key"
# DCGM's exporter serves the same certificate (one per host, the host's identity on the management network).
# Which job uses which GPU: written by the Slurm health check as Prolog and Epilog, read by DCGM's exporter.
JOB_MAPPING_DIR = "/run/aifactory/dcgm-job-mapping"
# Node exporter's textfile directory (Debian's), where the project's programs write their metrics.
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"


def node_exporter_vars(f: Factory) -> dict:
    """Every monitored host's: the port Prometheus scrapes, the collectors its rules read, and TLS that serves the
    factory CA's clients alone."""
    return {"node_exporter_port": pc.EXPORTER_PORTS["node"],
            "node_exporter_textfile_directory": TEXTFILE_DIR,
            "node_exporter_collectors_enabled": list(COLLECTORS_ENABLED),
            "node_exporter_tls_cert": NODE_EXPORTER_CERT, "node_exporter_tls_key": NODE_EXPORTER_KEY,
            "node_exporter_tls_client_ca": pc.Files().ca}


def dcgm_exporter_vars(f: Factory) -> dict:
    """An NVIDIA node's: the port Prometheus scrapes, the DCGM fields the rules and dashboards read, TLS as node
    exporter's (the host's certificate, the factory CA's clients alone); under Slurm, the job mapping its health
    check keeps as Prolog and Epilog, so each GPU's series names the jobs using it (`hpc_job`)."""
    mapping = {"dcgm_exporter_hpc_job_mapping_dir": JOB_MAPPING_DIR,
               "slurm_health_job_mapping_dir": JOB_MAPPING_DIR} if f.scheduler.kind == "slurm" else {}
    return {"dcgm_exporter_port": pc.EXPORTER_PORTS["dcgm"],
            "dcgm_exporter_counters": metrics.dcgm_counters(),
            "dcgm_exporter_tls_cert": NODE_EXPORTER_CERT, "dcgm_exporter_tls_key": NODE_EXPORTER_KEY,
            "dcgm_exporter_tls_client_ca": pc.Files().ca, **mapping}


def neuron_monitor_vars(inv: Inventory) -> dict:
    """A Trainium node's: the port Prometheus scrapes, and the head nodes' management addresses as the only ones
    allowed to connect (Neuron's exporter serves plain HTTP on every address)."""
    _, heads = pc.scrape_targets(inv)
    return {"neuron_monitor_port": pc.EXPORTER_PORTS["neuron"],
            "neuron_monitor_allowed_scrapers": [h.address for h in heads]}


def node_health_vars(aws: dict) -> dict:
    """A Slurm node's health check: the driver and link metrics it writes into node exporter's textfile directory,
    the link checks over the private endpoint names of the stack outputs (`aws`: none before the AWS side exists)."""
    return {"slurm_health_textfile_dir": TEXTFILE_DIR,
            "slurm_health_link_endpoints": dict(aws.get("endpoint_dns") or {})}


def slurm_collector_vars() -> dict:
    """The head node that runs Slurm's textfile collector (the first controller: one writer, one series)."""
    return {"node_exporter_slurm_collector": True,
            "node_exporter_slurm_collector_source": str(slurm_program.cached_program())}


def receiver_site_files(f: Factory) -> dict[str, str]:
    """{path under the head node's site directory: the file on the controller}: factory.yaml and the public
    files it names relative to itself, which loading the spec reads. Never a private key."""
    named = [f.identity.trust_anchor.certificate_file, f.software.mirror_public_key_file,
             f.acceptance.certificate.public_key_file if f.acceptance.certificate else None]
    relative = [n for n in named if n and not Path(n).is_absolute() and ".." not in Path(n).parts]
    return {SPEC_FILE: str(f.site_dir / SPEC_FILE), **{n: str((f.site_dir / n).resolve()) for n in relative}}


def aws_session_vars(f: Factory, amp_url: str | None) -> dict:
    """Where Prometheus writes to AMP (`amp_url`): the short-lived session of the head node's identity it signs with,
    and the environment that points it there; nothing otherwise."""
    if not pc.remote_write(f, amp_url):
        return {}
    return {"prometheus_server_aws_session_profile": pc.AWS_PROFILE,
            "prometheus_server_aws_session_config": pc.AWS_CONFIG_FILE,
            "prometheus_server_aws_session_file": pc.AWS_SESSION_FILE,
            "prometheus_server_aws_credentials_file": pc.PROMETHEUS_AWS_CREDENTIALS,
            "prometheus_server_aws_profile": pc.PROMETHEUS_AWS_PROFILE,
            "prometheus_server_environment": pc.prometheus_environment(f, amp_url)}


def prometheus_server_vars(f: Factory, inv: Inventory, amp_url: str | None = None) -> dict:
    """The head nodes': prometheus.yml and the rules as data, the retention, the Alertmanager peers, the files the
    configuration names (never their content), the alert receiver's site (alertmanager.yml is each head node's
    own: with_monitoring_vars), and the AWS session of the writes to AMP at `amp_url`."""
    files = pc.Files()
    _, heads = pc.scrape_targets(inv)
    return {
        **aws_session_vars(f, amp_url),
        "prometheus_server_config": pc.prometheus_config(f, inv, files, amp_url=amp_url),
        "prometheus_server_rules": alerts.rules(f),
        "prometheus_server_rules_file": files.rules,
        "prometheus_server_retention_days": f.monitoring.retention_days,
        "prometheus_server_port": pc.PROMETHEUS_PORT,
        "prometheus_server_alertmanager_port": pc.ALERTMANAGER_PORT,
        "prometheus_server_alertmanager_peers": [h.address for h in heads],
        "prometheus_server_alertmanager_user": pc.ALERTMANAGER_USER,
        "prometheus_server_alertmanager_password_file": files.alertmanager_password,
        "prometheus_server_tls_ca": files.ca,
        "prometheus_server_tls_cert": files.cert,
        "prometheus_server_tls_key": files.key,
        "prometheus_server_web_config": files.web_config,
        "prometheus_server_receiver_enabled": pc.receiver_runs(f),
        "prometheus_server_receiver_port": pc.RECEIVER_PORT,
        "prometheus_server_receiver_site": RECEIVER_SITE_DIR,
        "prometheus_server_receiver_cert": RECEIVER_CERT,
        "prometheus_server_receiver_key": RECEIVER_KEY,
        "prometheus_server_receiver_site_files": receiver_site_files(f),
    }


def with_monitoring_vars(inv: Inventory, f: Factory) -> Inventory:
    """`inv` with the monitoring stage's groups and its roles' variables where the spec enables monitoring; a
    host override of one of them wins."""
    if not f.monitoring.enabled:
        return inv
    inv.groups["nodes"].vars.update(node_exporter_vars(f))
    inv.group(MONITORED).children.append("nodes")
    if f.scheduler.kind == "slurm":
        inv.groups["nodes"].vars.update(node_health_vars(inv.groups["nodes"].vars.get("aws_node_identity_outputs") or {}))
    if f.platform.software_stack == "nvidia":
        inv.groups["nodes"].vars.update(dcgm_exporter_vars(f))
        inv.group(DCGM_EXPORTERS).children.append("nodes")
    else:
        inv.groups["nodes"].vars.update(neuron_monitor_vars(inv))
        inv.group(NEURON_MONITORS).children.append("nodes")
    if "head_nodes" not in inv.groups:  # no scheduler, no head nodes: nothing runs Prometheus
        return inv
    aws = inv.groups["nodes"].vars.get("aws_node_identity_outputs") or {}
    # Before the AWS side exists there are no stack outputs, and no workspace to write to yet.
    amp_url = pc.remote_write_url(f, aws, "stack outputs") if aws else None
    inv.groups["head_nodes"].vars.update({**node_exporter_vars(f), **prometheus_server_vars(f, inv, amp_url)})
    if pc.remote_write(f, amp_url):
        writers = inv.group(METRICS_WRITERS)
        writers.children.append("head_nodes")
        # Roles Anywhere alone: the SSM activation registers the nodes, as many as it allows.
        identity = aws_node_identity_vars(f, {k: v for k, v in aws.items() if k != "ssm_activation_id"})
        identity.pop("aws_node_identity_ssm_agent_url", None)
        writers.vars.update(identity)
    inv.group(MONITORED).children.append("head_nodes")
    inv.group(SERVERS).children.append("head_nodes")
    for head in pc.scrape_targets(inv)[1]:  # alertmanager.yml sends to the receiver on its own head node
        inv.hostvars[head.host].setdefault("prometheus_server_alertmanager_config", pc.alertmanager_config(f, head.address))
    controllers = [h.name for h in scheduler.controller_nodes(f)]
    if f.scheduler.kind == "slurm" and controllers and controllers[0] in inv.hostvars:
        for name, value in slurm_collector_vars().items():
            inv.hostvars[controllers[0]].setdefault(name, value)
    return inv
