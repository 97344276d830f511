"""Grafana dashboards of the factory, as Grafana's JSON model, generated from the spec.

Grafana is not packaged here: `aifactory monitoring` writes these for the customer's Grafana to import or
provision. Each dashboard takes its Prometheus data source as the template variable `datasource` (the customer
picks theirs) and its uid and title from the factory's name. Every query selects its series through
`aifactory.monitoring.metrics` (what the exporters, the Slurm collector and Prometheus provide), its thresholds
from the spec, the catalog and the alert rules: factory overview, accelerators (DCGM's fields on NVIDIA, Neuron's
exporter on Trainium) and node.
"""

from __future__ import annotations

import hashlib

from aifactory.monitoring import alerts, metrics as m
from aifactory.spec import Factory

SCHEMA_VERSION = 39
UID_MAX = 40  # Grafana refuses a longer uid
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Grafana's own interval for rate() and increase(): at least four scrape intervals.
RATE = "$__rate_interval"
# Panels per row of the grid (Grafana's grid is 24 units wide) and a panel's height.
PANEL_WIDTH, PANEL_HEIGHT = 12, 8
NODE = m.Match("=~", "$node")
RACK = m.Match("=~", "$rack")


def dashboard_uid(factory: str, kind: str) -> str:
    """`<factory>-<kind>`, or, past Grafana's 40 characters, the name cut and a hash of it: the same every run."""
    uid = f"{factory}-{kind}"
    if len(uid) <= UID_MAX:
        return uid
    digest = hashlib.sha256(factory.encode()).hexdigest()[:8]
    return f"{factory[:UID_MAX - len(kind) - len(digest) - 2]}-{digest}-{kind}"


def target(expr: str, legend: str, ref: str) -> dict:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref}


def panel(title: str, kind: str, targets: list[tuple[str, str]], unit: str = "short",
          thresholds: list[tuple[float | None, str]] | None = None) -> dict:
    """One panel: (expr, legend) per query; thresholds as (from value, colour) steps, the first from None."""
    steps = thresholds or [(None, "green")]
    return {"type": kind, "title": title, "datasource": DATASOURCE,
            "targets": [target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(targets)],
            "fieldConfig": {"defaults": {"unit": unit, "thresholds": {
                "mode": "absolute", "steps": [{"value": v, "color": c} for v, c in steps]}}, "overrides": []},
            "options": {}}


def laid_out(panels: list[dict]) -> list[dict]:
    """The panels with their ids and grid positions, two a row."""
    per_row = 24 // PANEL_WIDTH
    return [{**p, "id": i + 1, "gridPos": {"x": (i % per_row) * PANEL_WIDTH, "y": (i // per_row) * PANEL_HEIGHT,
                                           "w": PANEL_WIDTH, "h": PANEL_HEIGHT}}
            for i, p in enumerate(panels)]


def datasource_variable() -> dict:
    return {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0, "refresh": 1}


def label_variable(name: str, selector: str) -> dict:
    """A variable of the values of label `name` on `selector`'s series, several or all at once."""
    query = f"label_values({selector}, {name})"
    return {"name": name, "label": name, "type": "query", "datasource": DATASOURCE, "definition": query,
            "query": {"query": query, "refId": f"{name}-values"}, "refresh": 2, "sort": 1, "multi": True,
            "includeAll": True, "allValue": ".*", "current": {"text": "All", "value": "$__all"}, "hide": 0}


def node_variables() -> list[dict]:
    """`rack`, then `node` among the chosen racks' hosts (head nodes have no rack: all racks takes them in)."""
    return [label_variable("rack", m.UP.select(job="node")),
            label_variable("node", m.UP.select(job="node", rack=RACK))]


def dashboard(f: Factory, kind: str, title: str, panels: list[dict], variables: list[dict]) -> dict:
    return {"uid": dashboard_uid(f.name, kind), "title": f"{f.name}: {title}", "tags": ["aifactory", f.name],
            "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": True, "timezone": "browser",
            "time": {"from": "now-6h", "to": "now"}, "refresh": "1m", "graphTooltip": 1,
            "annotations": {"list": []}, "links": [],
            "templating": {"list": [datasource_variable(), *variables]}, "panels": laid_out(panels)}


def overview_panels(f: Factory) -> list[dict]:
    """Nodes up by rack against the spec's node count, Slurm's nodes and jobs, the firing alerts."""
    panels = [
        panel("Nodes up", "stat", [(f"sum({m.UP.select(job='node', rack=m.Match('!=', ''))})", "up")],
              thresholds=[(None, "red"), (f.node_count, "green")]),
        panel("Nodes up by rack", "bargauge",
              [(f"sum by (rack) ({m.UP.select(job='node', rack=m.Match('!=', ''))})", "{{rack}}")],
              thresholds=[(None, "red"), (f.nodes_per_rack, "green")]),
        panel("Firing alerts by severity", "timeseries",
              [(f"count by (severity) ({m.ALERTS.select(alertstate='firing')})", "{{severity}}")]),
    ]
    if f.scheduler.kind == "slurm":
        panels += [
            panel("Slurm nodes by state", "timeseries",
                  [(f"sum by (state) ({m.SLURM_NODE_STATE.select()})", "{{state}}")]),
            panel("Slurm jobs running and pending", "timeseries",
                  [(f"sum by (state) ({m.SLURM_JOBS.select(state=m.Match('=~', 'running|pending'))})", "{{state}}")]),
            panel("Slurm pending jobs by reason", "timeseries",
                  [(f"sum by (reason) ({m.SLURM_PENDING_JOBS.select()})", "{{reason}}")]),
        ]
    return panels


def chosen(metric: m.Metric) -> str:
    """`metric` on the hosts of the dashboard's `node` and `rack` variables."""
    return metric.select(node=NODE, rack=RACK)


def gpu_panels(f: Factory) -> list[dict]:
    """Per GPU: DCGM exporter's utilisation, temperature, power and memory; its XID, ECC and NVLink errors."""
    gpus = int(f.platform.expected.accelerators)
    legend = "{{node}} GPU {{gpu}}"
    return [
        panel("GPUs answering per node", "bargauge", [(f"count by (node) ({chosen(m.GPU_TEMP)})", "{{node}}")],
              thresholds=[(None, "red"), (gpus, "green")]),
        panel("GPU utilisation", "timeseries", [(chosen(m.GPU_UTIL), legend)], unit="percent"),
        panel("GPU temperature", "timeseries", [(chosen(m.GPU_TEMP), legend)], unit="celsius"),
        panel("GPU power", "timeseries", [(chosen(m.POWER_USAGE), legend)], unit="watt"),
        panel("GPU memory used", "timeseries", [(chosen(m.FB_USED), legend)], unit="decmbytes"),
        panel("GPU thermal slowdown", "timeseries",
              [(alerts.any_bit_set(chosen(m.CLOCKS_EVENT_REASONS), m.THERMAL_SLOWDOWN_BITS), legend)]),
        panel("XID errors", "timeseries",
              [(f"sum by (node, gpu, xid) ({chosen(m.XID_ERRORS_COUNT)})", "{{node}} GPU {{gpu}} XID {{xid}}")]),
        panel("ECC errors", "timeseries",
              [(f"increase({chosen(m.ECC_SBE_VOL_TOTAL)}[{RATE}])", f"{legend} single-bit"),
               (f"increase({chosen(m.ECC_DBE_VOL_TOTAL)}[{RATE}])", f"{legend} double-bit")],
              thresholds=[(None, "green"), (1, "red")]),
        panel("Row remapping pending", "timeseries", [(chosen(m.ROW_REMAP_PENDING), legend)],
              thresholds=[(None, "green"), (1, "orange")]),
        panel("NVLink errors", "timeseries",
              [(f"sum by (node, gpu) (increase({chosen(metric)}[{RATE}]))",
                f"{legend} {metric.name.removeprefix('DCGM_FI_DEV_NVLINK_').removesuffix('_ERROR_COUNT_TOTAL')}")
               for metric in m.NVLINK_ERRORS]),
        panel("NVLink links down", "timeseries",
              [(f"count by (node, gpu) ({chosen(m.NVLINK_LINK_STATUS)} == {m.NVLINK_LINK_DOWN})", legend)],
              thresholds=[(None, "green"), (1, "red")]),
    ]


def neuron_panels(f: Factory) -> list[dict]:
    """Per node: Neuron's exporter's NeuronCore utilisation, runtime memory, execution errors, ECC events."""
    return [
        panel("NeuronCore utilisation", "timeseries",
              [(f"avg by (node) ({chosen(m.NEURONCORE_UTILIZATION)})", "{{node}}")], unit="percentunit"),
        panel("Neuron runtime memory", "timeseries",
              [(f"sum by (node, memory_location) ({chosen(m.NEURON_RUNTIME_MEMORY_USED)})",
                "{{node}} {{memory_location}}")], unit="bytes"),
        panel("Neuron execution errors", "timeseries",
              [(f"sum by (node, error_type) (increase({chosen(m.NEURON_EXECUTION_ERRORS)}[{RATE}]))",
                "{{node}} {{error_type}}")]),
        panel("Neuron ECC events", "timeseries",
              [(f"sum by (node, neuron_device_index, event_type) (increase({chosen(m.NEURON_HW_ECC_EVENTS)}[{RATE}]))",
                "{{node}} device {{neuron_device_index}} {{event_type}}")],
              thresholds=[(None, "green"), (1, "red")]),
    ]


def node_panels(f: Factory) -> list[dict]:
    """Per node: CPU, memory, the scratch filesystem against the alert's threshold, the network and InfiniBand."""
    scratch = f.storage.scratch.mount
    host = {"node": NODE, "rack": RACK}
    idle = f"avg by (node) (rate({m.CPU_SECONDS.select(mode='idle', **host)}[{RATE}]))"
    network = m.Match("!~", "lo|docker.*|veth.*")
    panels = [
        panel("CPU busy", "timeseries", [(f"1 - {idle}", "{{node}}")], unit="percentunit"),
        panel("Memory used", "timeseries",
              [(f"1 - {m.MEMORY_AVAILABLE.select(**host)} / {m.MEMORY_TOTAL.select(**host)}", "{{node}}")],
              unit="percentunit"),
        panel(f"Scratch used ({scratch})", "timeseries",
              [(f"1 - {m.FS_AVAIL.select(mountpoint=scratch, **host)} / {m.FS_SIZE.select(mountpoint=scratch, **host)}",
                "{{node}}")], unit="percentunit",
              thresholds=[(None, "green"), (1 - alerts.SCRATCH_FREE_BELOW, "red")]),
        panel("Network", "timeseries",
              [(f"sum by (node) (rate({m.NETWORK_RECEIVE.select(device=network, **host)}[{RATE}]))", "{{node}} in"),
               (f"-sum by (node) (rate({m.NETWORK_TRANSMIT.select(device=network, **host)}[{RATE}]))", "{{node}} out")],
              unit="Bps"),
    ]
    if f.platform.expected.ib_ports:
        panels.append(panel("InfiniBand", "timeseries", [
            (f"sum by (node, device) (rate({m.IB_RECEIVE.select(**host)}[{RATE}]))", "{{node}} {{device}} in"),
            (f"-sum by (node, device) (rate({m.IB_TRANSMIT.select(**host)}[{RATE}]))", "{{node}} {{device}} out")],
            unit="Bps"))
    return panels


def dashboards(f: Factory) -> list[dict]:
    """The factory's dashboards: overview, accelerators (NVIDIA's or Neuron's), node."""
    nvidia = f.platform.software_stack == "nvidia"
    return [
        dashboard(f, "overview", "factory overview", overview_panels(f), []),
        dashboard(f, "accelerators", "GPUs" if nvidia else "Neuron devices",
                  gpu_panels(f) if nvidia else neuron_panels(f), node_variables()),
        dashboard(f, "node", "nodes", node_panels(f), node_variables()),
    ]
