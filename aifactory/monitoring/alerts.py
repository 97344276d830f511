"""The factory's alert rules, one per fault class, generated from the spec and the catalog.

What differs between sites comes from the spec once, here: the GPUs or Neuron devices a node has and the
InfiniBand ports' rated speed (catalog `expected`), the fabric's service (IMEX on NVL72, Fabric Manager on HGX), the
pinned driver, the scratch mount, whether Slurm runs. A rule applies only where its fault can happen (no GPU rules
on Trainium, no Neuron rules on NVIDIA, no InfiniBand rules without InfiniBand ports). Every series is selected
through `aifactory.monitoring.metrics`. Annotations are plain text (no Go templates, so the rules pass through
Ansible's templating verbatim): the alert's labels name the node, GPU or port.

Each rule has a firing and a silent `promtool test rules` case (tests/monitoring/promtool/: paris-gb200's cases for
the NVIDIA examples, ohio-trn3's for Trainium).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from aifactory.monitoring import metrics as m
from aifactory.node.parsers.acceptance import FABRIC_SERVICES
from aifactory.spec import Factory
from aifactory.spec.model import NvidiaSoftware

# The name a prometheus_server role installs the rules under (its rule_files), and the rule group's name.
RULES_FILE = "aifactory-alerts.yml"
GROUP = "aifactory"
# Thresholds that are the project's choice, not the site's.
SCRATCH_FREE_BELOW = 0.10          # scratch is nearly full under 10% free
NVLINK_ERRORS_PER_10M = 100        # NVLink CRC, replay and recovery errors of one GPU in 10 minutes
IB_DOWNS_PER_HOUR = 3              # an InfiniBand port that went down this often in an hour is flapping
TEXTFILE_STALE_SECONDS = 900       # the project's textfile metrics are stale after 15 minutes
# Every metric a rule can select (aifactory.monitoring.metrics), by name.
METRIC_NAMES = {metric.name for metric in m.all_metrics()}
FOR_UNITS = {"s": 1, "m": 60, "h": 3600}
SLURM_NODE_LABEL = m.SLURM_NODE_STATE.labels[0]  # the Slurm node of a Slurm alert
SLURM_NODE_DRAINED = "SlurmNodeDrained"  # the alert of a node Slurm drained, whoever drained it


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: str
    summary: str

    def reads(self) -> set[str]:
        """The names of the metrics its expression selects."""
        return set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", self.expr)) & METRIC_NAMES

    def for_seconds(self) -> int:
        """How long its expression must hold before it fires."""
        return int(self.for_[:-1]) * FOR_UNITS[self.for_[-1]]

    def rule(self) -> dict:
        return {"alert": self.name, "expr": self.expr, "for": self.for_, "labels": {"severity": self.severity},
                "annotations": {"summary": self.summary}}


def any_bit_set(selector: str, bits: tuple[int, ...]) -> str:
    """PromQL true where any of `bits` (adjacent powers of two) is set in the bit mask `selector` (PromQL has
    no bitwise and: the mask is shifted right and the bits' span taken modulo)."""
    low = min(bits)
    if sorted(bits) != [low << i for i in range(len(bits))]:
        raise ValueError(f"not adjacent bits: {bits}")
    return f"floor({selector} / {low}) % {2 ** len(bits)} > 0"


def driver_off_pin(nvidia: NvidiaSoftware) -> Alert:
    """The loaded driver's version against the spec's pin: the version when pinned (exactly), else the branch."""
    pattern = re.escape(nvidia.driver_version) if nvidia.driver_version else re.escape(nvidia.driver_branch) + r"\..+"
    pin = f"version {nvidia.driver_version}" if nvidia.driver_version else f"branch {nvidia.driver_branch}"
    return Alert("DriverOffPin", f"{m.DRIVER_INFO.select(stack='nvidia', version=m.Match('!~', pattern))} == 1", "5m",
                 "warning", f"the loaded NVIDIA driver is not the spec's pin ({pin})")


def node_alerts(f: Factory) -> list[Alert]:
    """What any node can suffer: down, scratch nearly full, its hybrid link checks failing, stale textfile metrics."""
    scratch = f.storage.scratch.mount
    return [
        Alert("NodeDown", f"{m.UP.select(job='node')} == 0", "3m", "critical",
              "the node exporter has not answered for 3 minutes: the node is down or off the management network"),
        Alert("ScratchNearlyFull",
              f"{m.FS_AVAIL.select(mountpoint=scratch)} / {m.FS_SIZE.select(mountpoint=scratch)} < {SCRATCH_FREE_BELOW}",
              "15m", "warning", f"{scratch} has less than {SCRATCH_FREE_BELOW:.0%} free"),
        Alert("HybridLinkCheckFailing", f"{m.LINK_CHECK_SUCCESS.select()} == 0", "10m", "critical",
              "an endpoint check of the private link to the AWS home region has failed for 10 minutes"),
        Alert("TextfileMetricsStale",
              f"time() - {m.TEXTFILE_MTIME.select(file=m.Match('=~', '.*' + m.TEXTFILE_NAME))} > {TEXTFILE_STALE_SECONDS}",
              "5m", "warning", "the project's textfile collector has stopped writing: the Slurm, driver and link "
                               "alerts cannot fire"),
    ]


def gpu_alerts(f: Factory) -> list[Alert]:
    """The NVIDIA GPU's faults, from DCGM exporter's fields, and the driver's pin."""
    gpus = int(f.platform.expected.accelerators)
    xid = " or ".join(
        f"label_replace(max by (node, gpu, xid) ({m.XID_ERRORS_COUNT.select(xid=m.Match('=~', '|'.join(map(str, codes))))})"
        f' > 0, "xid_class", "{name}", "", "")' for name, codes in m.XID_CLASSES.items())
    # each counter's increase under a label of its own: without their names the four would collide
    nvlink_errors = " or ".join(f'label_replace(increase({metric.select()}[10m]), "counter", "{metric.name}", "", "")'
                                for metric in m.NVLINK_ERRORS)
    return [
        Alert("GpuMissing", f"count by (node) ({m.GPU_TEMP.select(job='dcgm')}) < {gpus} or {m.UP.select(job='dcgm')} == 0",
              "5m", "critical", f"fewer than the platform's {gpus} GPUs answer DCGM on the node"),
        Alert("GpuXidError", xid, "0m", "critical",
              f"the GPU reported a hardware XID (label xid_class: {', '.join(m.XID_CLASSES)})"),
        Alert("GpuEccDoubleBit", f"increase({m.ECC_DBE_VOL_TOTAL.select()}[10m]) > 0", "0m", "critical",
              "the GPU had an uncorrectable (double-bit) ECC error"),
        Alert("GpuRowRemapPending", f"{m.ROW_REMAP_PENDING.select()} > 0", "1m", "warning",
              "a row remapping waits for a GPU reset: drain the node and reset the GPU"),
        Alert("NvlinkDown", f"{m.NVLINK_LINK_STATUS.select()} == {m.NVLINK_LINK_DOWN}", "2m", "critical",
              "an NVLink link of the GPU is down"),
        Alert("NvlinkErrors", f"sum by (node, gpu) ({nvlink_errors}) > {NVLINK_ERRORS_PER_10M}",
              "0m", "warning", f"more than {NVLINK_ERRORS_PER_10M} NVLink CRC, replay or recovery errors in 10 minutes"),
        Alert("GpuThermalThrottling", any_bit_set(m.CLOCKS_EVENT_REASONS.select(), m.THERMAL_SLOWDOWN_BITS), "10m",
              "warning", "the GPU's clocks have been slowed for heat for 10 minutes: check the cooling"),
        *([driver_off_pin(f.software.nvidia)] if f.software.nvidia else []),
    ]


def neuron_alerts(f: Factory) -> list[Alert]:
    """The Neuron devices a node has against the platform's, counted by their ECC counters: neuron-monitor's
    report lists every device the driver sees, so a device off the bus has none."""
    devices = int(f.platform.expected.accelerators)
    per_device = f"count by (node, neuron_device_index) ({m.NEURON_HW_ECC_EVENTS.select(job='neuron')})"
    return [
        Alert("NeuronDeviceMissing", f"count by (node) ({per_device}) < {devices} or {m.UP.select(job='neuron')} == 0",
              "5m", "critical", f"fewer than the platform's {devices} Neuron devices report to neuron-monitor on the node"),
    ]


def fabric_alerts(f: Factory) -> list[Alert]:
    """The InfiniBand ports against the catalog's rated speed, and the NVLink fabric's service."""
    expected = f.platform.expected
    alerts = []
    if expected.ib_ports:
        rate = expected.ib_rate_gbps * 10 ** 9 // 8
        active = m.IB_STATE.select()
        alerts += [
            Alert("InfinibandPortDown", f"{active} != {m.IB_ACTIVE}", "2m", "critical", "an InfiniBand port is not active"),
            Alert("InfinibandPortSlow", f"{m.IB_RATE.select()} < {rate} and on (node, device, port) {active} == {m.IB_ACTIVE}",
                  "5m", "warning", f"an active InfiniBand port runs below the platform's rated {expected.ib_rate_gbps} Gb/s"),
            Alert("InfinibandPortFlapping", f"increase({m.IB_LINK_DOWNED.select()}[1h]) >= {IB_DOWNS_PER_HOUR}", "0m",
                  "warning", f"an InfiniBand port went down {IB_DOWNS_PER_HOUR} times or more in an hour"),
        ]
    if expected.fabric in FABRIC_SERVICES:
        unit, _ = FABRIC_SERVICES[expected.fabric]
        alerts.append(Alert("FabricServiceDown", f"{m.SYSTEMD_UNIT_STATE.select(name=unit, state='active')} == 0", "2m",
                            "critical", f"{unit} is not active: the node's GPUs cannot use the NVLink fabric"))
    return alerts


def slurm_alerts(f: Factory) -> list[Alert]:
    if f.scheduler.kind != "slurm":
        return []
    drained = m.SLURM_NODE_STATE.select(state=m.Match("=~", "|".join(m.SLURM_DRAINED_STATES)))
    return [Alert(SLURM_NODE_DRAINED, f"{drained} == 1", "1m", "warning", "Slurm drained the node (label reason says why): no new job lands on it")]


def alert_node(labels: dict[str, str]) -> str:
    """The node an alert's labels name ("" for none): a Slurm alert's Slurm node (its series come from the
    controller's collector, whose host is the `node` label), else the scraped host."""
    return labels.get(SLURM_NODE_LABEL) or labels.get("node", "")


def alerts(f: Factory) -> list[Alert]:
    """Every alert rule of the factory."""
    accelerator = {"nvidia": gpu_alerts, "neuron": neuron_alerts}[f.platform.software_stack](f)
    return [*node_alerts(f), *accelerator, *fabric_alerts(f), *slurm_alerts(f)]


def rules(f: Factory) -> dict:
    """The rules file Prometheus loads (`rule_files`), as data: the prometheus_server role writes it."""
    return {"groups": [{"name": GROUP, "rules": [a.rule() for a in alerts(f)]}]}


def rules_yaml(f: Factory) -> str:
    """The rules file as `aifactory monitoring` writes it."""
    header = f"# {f.name}: alert rules generated by aifactory from the spec (aifactory.monitoring.alerts)\n"
    return header + yaml.safe_dump(rules(f), sort_keys=False, width=1000)
