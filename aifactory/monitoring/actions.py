"""The severity table: what the alert receiver does about each alert of `aifactory.monitoring.alerts`, and why.

Five actions, mildest first: observe (the alert is seen by the receivers of the spec, nothing is done); drain
the node in Slurm, reason `aifactory alert: <name>`; drain it, then power-cycle it through its BMC once it is
idle (only where the spec's `monitoring.actions.power_cycle` is `automatic`; by default it is proposed for an
operator's approval); isolate the NVL72 rack's block (drain every tray of the rack, one NVLink domain; a platform
whose NVLink domain is one node drains that node); open a replacement record for the operator (a swap is
physical: `aifactory replace` finishes it). Resuming stays with the health check or the operator.
"""

from __future__ import annotations

from dataclasses import dataclass

from aifactory.monitoring.alerts import SLURM_NODE_DRAINED
from aifactory.spec import Factory

OBSERVE = "observe"
DRAIN = "drain"
POWER_CYCLE = "drain-power-cycle"
ISOLATE_BLOCK = "isolate-block"
REPLACE = "replace"
ACTIONS = (OBSERVE, DRAIN, POWER_CYCLE, ISOLATE_BLOCK, REPLACE)
DRAIN_REASON = "aifactory alert: {name}"


@dataclass(frozen=True)
class Severity:
    action: str
    reason: str


TABLE: dict[str, Severity] = {
    "NodeDown": Severity(POWER_CYCLE, "a node that stopped answering is most often hung: a power cycle brings it back"),
    "ScratchNearlyFull": Severity(OBSERVE, "jobs still run; the operator or the users free space"),
    "HybridLinkCheckFailing": Severity(OBSERVE, "the private link to AWS is not a node's fault: no node is taken out"),
    "TextfileMetricsStale": Severity(OBSERVE, "a collector stopped, not the node: its alerts cannot fire until it is fixed"),
    "GpuMissing": Severity(POWER_CYCLE, "a GPU off the bus returns with a power cycle; jobs must not land on the rest"),
    "GpuXidError": Severity(DRAIN, "a hardware XID: no new job lands on the node until the health check passes"),
    "GpuEccDoubleBit": Severity(DRAIN, "an uncorrectable ECC error corrupts jobs: no new job lands on the node"),
    "GpuRowRemapPending": Severity(POWER_CYCLE, "the row remap takes effect only with a GPU reset"),
    "NvlinkDown": Severity(ISOLATE_BLOCK, "a link down cuts the NVLink domain: no job may span the rack's block"),
    "NvlinkErrors": Severity(DRAIN, "retried NVLink traffic slows and may fail the node's jobs"),
    "GpuThermalThrottling": Severity(OBSERVE, "jobs run slower but right: the cooling is checked, not the node drained"),
    "DriverOffPin": Severity(DRAIN, "a node off the driver pin gives results the acceptance did not prove; rollout fixes it"),
    "NeuronDeviceMissing": Severity(POWER_CYCLE, "a Neuron device off the bus returns with a power cycle; jobs must not "
                                                 "land on the rest"),
    "InfinibandPortDown": Severity(DRAIN, "multi-node jobs on the node would fail or crawl"),
    "InfinibandPortSlow": Severity(DRAIN, "a port below its rated speed slows every multi-node job it carries"),
    "InfinibandPortFlapping": Severity(REPLACE, "a flapping port is a cable, transceiver or adapter to swap on site"),
    "FabricServiceDown": Severity(DRAIN, "the node's GPUs cannot use the NVLink fabric"),
    SLURM_NODE_DRAINED: Severity(OBSERVE, "already out of service: nothing more to do"),
}
# The XID classes (aifactory.monitoring.metrics.XID_CLASSES) that call for more than GpuXidError's drain.
XID_CLASS_ACTIONS: dict[str, Severity] = {
    "fell-off-bus": Severity(POWER_CYCLE, "a GPU that fell off the bus returns with a power cycle"),
    "gsp-firmware": Severity(POWER_CYCLE, "the GPU's firmware (GSP) recovers with a power cycle"),
    "nvlink": Severity(ISOLATE_BLOCK, "an NVLink error (XID 74) cuts the NVLink domain"),
}


def severity(name: str, labels: dict[str, str] | None = None) -> Severity | None:
    """The action for an alert named `name` with these labels; None for an alert the table does not know."""
    if name == "GpuXidError" and (labels or {}).get("xid_class") in XID_CLASS_ACTIONS:
        return XID_CLASS_ACTIONS[(labels or {})["xid_class"]]
    return TABLE.get(name)


def drain_reason(name: str) -> str:
    """The reason Slurm shows for a node the receiver drained."""
    return DRAIN_REASON.format(name=name)


def isolates_rack(f: Factory) -> bool:
    """Whether isolating the block takes the whole rack out: where the rack is one NVLink domain (NVL72)."""
    return f.platform.nvlink_domain == "rack"
