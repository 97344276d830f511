"""The metrics the alert rules and dashboards read: their names, who writes them and the labels they carry.

The one source for both ends: the alert rules (`aifactory.monitoring.alerts`) select series only through
`Metric.select`, which refuses a label the metric does not carry; the project's textfile collector writes the
`aifactory_*` metrics into node exporter's textfile directory with exactly these names and labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

DCGM_EXPORTER = "dcgm-exporter"  # NVIDIA's DCGM exporter (etc/default-counters.csv, dcp-metrics-included.csv)
NEURON_EXPORTER = "neuron-monitor-prometheus.py"  # AWS Neuron's exporter of neuron-monitor's report (aws-neuronx-tools)
NODE_EXPORTER = "node-exporter"  # Prometheus node exporter (infiniband, filesystem, systemd, textfile collectors)
PROMETHEUS = "prometheus"        # Prometheus's own series per scrape target
TEXTFILE = "aifactory textfile collector"

# Labels every scraped series carries: Prometheus's and the scrape configuration's own
# (aifactory.monitoring.prometheus_config: `node` is the inventory's host name, `rack` its rack group).
TARGET_LABELS = ("job", "instance", "node", "rack")
# dcgm-exporter's labels on a GPU's series.
DCGM_GPU_LABELS = ("gpu", "UUID", "device", "modelName", "Hostname")
# Files the textfile collector writes in node exporter's textfile directory.
TEXTFILE_NAME = r"aifactory_[a-z0-9_]+\.prom"


@dataclass(frozen=True)
class Match:
    """A label matcher other than equality: `=~`, `!~` or `!=`."""

    op: str
    value: str


@dataclass(frozen=True)
class Metric:
    name: str
    source: str
    labels: tuple[str, ...]
    help: str
    type: str = "gauge"  # Prometheus's metric type (a DCGM field's, in dcgm-exporter's counters file)

    def select(self, **matchers: str | Match) -> str:
        """A PromQL selector of this metric; a plain string matches the label exactly. A label the metric does not
        carry raises ValueError: a rule could never match it."""
        unknown = sorted(set(matchers) - set(self.labels) - set(TARGET_LABELS))
        if unknown:
            raise ValueError(f"{self.name} has no label {', '.join(unknown)} (labels: {', '.join(self.labels)})")
        parts = []
        for label, value in matchers.items():
            op, text = (value.op, value.value) if isinstance(value, Match) else ("=", value)
            parts.append(f"{label}{op}{json.dumps(text)}")
        return f"{self.name}{{{','.join(parts)}}}" if parts else self.name


# --- dcgm-exporter --------------------------------------------------------------------------------------------
GPU_TEMP = Metric("DCGM_FI_DEV_GPU_TEMP", DCGM_EXPORTER, DCGM_GPU_LABELS, "GPU temperature (C); one series per GPU")
# Types as dcgm-exporter's own etc/default-counters.csv gives them (its exporter fields, DCGM_EXP_*, as counters).
XID_ERRORS_COUNT = Metric("DCGM_EXP_XID_ERRORS_COUNT", DCGM_EXPORTER, (*DCGM_GPU_LABELS, "xid"),
                          "XID errors seen in the exporter's window (--xid-count-window-size), by XID", "counter")
ECC_DBE_VOL_TOTAL = Metric("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", DCGM_EXPORTER, DCGM_GPU_LABELS,
                           "double-bit volatile ECC errors", "counter")
ROW_REMAP_PENDING = Metric("DCGM_FI_DEV_ROW_REMAP_PENDING", DCGM_EXPORTER, DCGM_GPU_LABELS,
                           "1 when a row remapping waits for a GPU reset")
ROW_REMAP_FAILURE = Metric("DCGM_FI_DEV_ROW_REMAP_FAILURE", DCGM_EXPORTER, DCGM_GPU_LABELS,
                           "1 when remapping a row has failed")
NVLINK_ERRORS = tuple(Metric(f"DCGM_FI_DEV_NVLINK_{kind}_ERROR_COUNT_TOTAL", DCGM_EXPORTER, DCGM_GPU_LABELS, help_,
                             "counter")
                      for kind, help_ in (("CRC_FLIT", "NVLink flow-control CRC errors"),
                                          ("CRC_DATA", "NVLink data CRC errors"),
                                          ("REPLAY", "NVLink retries"),
                                          ("RECOVERY", "NVLink recovery errors")))
NVLINK_LINK_STATUS = Metric("DCGM_FI_DEV_NVLINK_LINK_STATUS", DCGM_EXPORTER, (*DCGM_GPU_LABELS, "link"),
                            "NVLink link state: 0 not supported, 1 disabled, 2 down, 3 up")
NVLINK_LINK_DOWN = 2
CLOCKS_EVENT_REASONS = Metric("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", DCGM_EXPORTER, DCGM_GPU_LABELS,
                              "NVML clocks event (throttle) reasons, a bit mask")
# NVML's nvmlClocksEventReason bits for thermal slowdown: software (0x20) and hardware (0x40).
THERMAL_SLOWDOWN_BITS = (0x20, 0x40)

# Read by the dashboards (aifactory.monitoring.dashboards): fields of dcgm-exporter's etc/default-counters.csv
# (GPU_UTIL, POWER_USAGE, FB_USED) and of the counters that matter the issue turns on (ECC_SBE_VOL_TOTAL).
GPU_UTIL = Metric("DCGM_FI_DEV_GPU_UTIL", DCGM_EXPORTER, DCGM_GPU_LABELS, "GPU utilisation (%)")
POWER_USAGE = Metric("DCGM_FI_DEV_POWER_USAGE", DCGM_EXPORTER, DCGM_GPU_LABELS, "GPU power draw (W)")
FB_USED = Metric("DCGM_FI_DEV_FB_USED", DCGM_EXPORTER, DCGM_GPU_LABELS, "GPU frame buffer memory used (MiB)")
ECC_SBE_VOL_TOTAL = Metric("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", DCGM_EXPORTER, DCGM_GPU_LABELS,
                           "single-bit volatile ECC errors", "counter")



def all_metrics() -> list[Metric]:
    """Every metric this module defines (NVLINK_ERRORS's among them)."""
    return [v for v in globals().values() if isinstance(v, Metric)] + list(NVLINK_ERRORS)


def dcgm_counters() -> list[dict[str, str]]:
    """dcgm-exporter's counters file as the role writes it (field, type, help): every DCGM metric above, the ones
    the alert rules and dashboards read. The exporter's labels (gpu, UUID, ...) come with every field."""
    return [{"field": m.name, "type": m.type, "help": m.help.replace(",", ";")}
            for m in all_metrics() if m.source == DCGM_EXPORTER]


# --- Neuron's exporter (neuron-monitor-prometheus.py) ----------------------------------------------------------
NEURONCORE_UTILIZATION = Metric("neuroncore_utilization_ratio", NEURON_EXPORTER, ("neuroncore", "runtime_tag"),
                                "NeuronCore utilisation, 0 to 1, per core in use by a runtime")
NEURON_RUNTIME_MEMORY_USED = Metric("neuron_runtime_memory_used_bytes", NEURON_EXPORTER,
                                    ("memory_location", "runtime_tag"),
                                    "memory the Neuron runtimes use, on the host or the Neuron device")
NEURON_EXECUTION_ERRORS = Metric("execution_errors_total", NEURON_EXPORTER, ("error_type", "runtime_tag"),
                                 "Neuron runtime execution errors, by type")
# The ECC counter of neuron-monitor's neuron_hw_counters group, one series per device and event type for every
# device the report lists, as the exporter writes it: `hardware_ecc_events_total{event_type, neuron_device_index}`
# (OpenTelemetry collector-contrib's awscontainerinsightreceiver, internal/neuron/neuron_monitor_scraper_test.go's
# scraped page and its relabelling's `hardware_ecc_.*`; `neurondevice_hw_ecc_events_total` is the name the
# CloudWatch agent renames it to: aws/amazon-cloudwatch-agent, translator/translate/otel/processor/
# metricstransformprocessor/translator.go, renameMapForNeuronMonitor).
NEURON_HW_ECC_EVENTS = Metric("hardware_ecc_events_total", NEURON_EXPORTER, ("event_type", "neuron_device_index"),
                              "Neuron device ECC events (mem_ecc_corrected, mem_ecc_uncorrected, sram_ecc_...)",
                              "counter")

# --- node exporter --------------------------------------------------------------------------------------------
UP = Metric("up", PROMETHEUS, (), "1 when the target's last scrape succeeded")
ALERTS = Metric("ALERTS", PROMETHEUS, ("alertname", "alertstate", "severity"),
                "1 per pending or firing alert of the rules (aifactory.monitoring.alerts), with its labels")
CPU_SECONDS = Metric("node_cpu_seconds_total", NODE_EXPORTER, ("cpu", "mode"), "CPU time by mode")
MEMORY_AVAILABLE = Metric("node_memory_MemAvailable_bytes", NODE_EXPORTER, (), "memory available to start programs")
MEMORY_TOTAL = Metric("node_memory_MemTotal_bytes", NODE_EXPORTER, (), "usable memory")
NETWORK_RECEIVE = Metric("node_network_receive_bytes_total", NODE_EXPORTER, ("device",), "bytes received")
NETWORK_TRANSMIT = Metric("node_network_transmit_bytes_total", NODE_EXPORTER, ("device",), "bytes sent")
IB_RECEIVE = Metric("node_infiniband_port_data_received_bytes_total", NODE_EXPORTER, ("device", "port"),
                    "bytes an InfiniBand port received")
IB_TRANSMIT = Metric("node_infiniband_port_data_transmitted_bytes_total", NODE_EXPORTER, ("device", "port"),
                     "bytes an InfiniBand port sent")
IB_STATE = Metric("node_infiniband_state_id", NODE_EXPORTER, ("device", "port"),
                  "InfiniBand port state: 1 down, 2 init, 3 armed, 4 active, 5 active defer")
IB_ACTIVE = 4
IB_RATE = Metric("node_infiniband_rate_bytes_per_second", NODE_EXPORTER, ("device", "port"),
                 "the port's negotiated rate")
IB_LINK_DOWNED = Metric("node_infiniband_link_downed_total", NODE_EXPORTER, ("device", "port"),
                        "times the link went down after failing to recover")
FS_AVAIL = Metric("node_filesystem_avail_bytes", NODE_EXPORTER, ("device", "fstype", "mountpoint"),
                  "bytes free to unprivileged users")
FS_SIZE = Metric("node_filesystem_size_bytes", NODE_EXPORTER, ("device", "fstype", "mountpoint"), "filesystem size")
SYSTEMD_UNIT_STATE = Metric("node_systemd_unit_state", NODE_EXPORTER, ("name", "state", "type"),
                            "1 for the unit's current state, 0 for the others")
TEXTFILE_MTIME = Metric("node_textfile_mtime_seconds", NODE_EXPORTER, ("file",),
                        "when a file of the textfile directory was last written")

# --- the project's textfile collector -------------------------------------------------------------------------
SLURM_NODE_STATE = Metric("aifactory_slurm_node_state", TEXTFILE, ("slurm_node", "state", "reason"),
                          "1 per Slurm node, with its state (sinfo's long state less its flags: idle, allocated, "
                          "mixed, draining, drained, down, future, ...) and the reason it was set")
SLURM_DRAINED_STATES = ("draining", "drained")
SLURM_JOBS = Metric("aifactory_slurm_jobs", TEXTFILE, ("state",),
                    "Slurm's jobs by state (pending, running, completing, ...), array tasks counted one by one")
SLURM_PENDING_JOBS = Metric("aifactory_slurm_pending_jobs", TEXTFILE, ("reason",),
                            "Slurm's pending jobs by the reason they wait (Priority, Resources, ReqNodeNotAvail, ...)")
DRIVER_INFO = Metric("aifactory_driver_info", TEXTFILE, ("stack", "version"),
                     "1, with the loaded accelerator driver's version (stack: nvidia or neuron)")
LINK_CHECK_SUCCESS = Metric("aifactory_link_check_success", TEXTFILE, ("check", "endpoint"),
                            "1 when the hybrid link's endpoint check passed on its last run, 0 when it failed")

# XID classes (NVIDIA's XID catalogue, docs.nvidia.com/deploy/xid-errors): which XIDs alert, under which class.
# Application XIDs (13 graphics engine exception, 31 MMU fault, 43 GPU stopped processing, 45 preemptive cleanup)
# are a job's own faults and do not alert.
XID_CLASSES = {
    # double-bit ECC, row remapping recorded or failed, high single-bit rate, contained or uncontained ECC
    "memory": (48, 63, 64, 92, 94, 95),
    "fell-off-bus": (79,),
    "nvlink": (74,),
    "gsp-firmware": (119, 120),
}
