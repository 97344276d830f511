"""The hardware a lab node stands in for, and the faults the lab can inject into it.

`node_profile()` turns the platform catalog (accelerators, NVLink domain, compute and DPU NICs, Neuron
devices) into one node's hardware profile: plain JSON that the lab writes into the node
(`/etc/aifactory-lab/hardware.json`) and the stand-in vendor tools (aifactory/lab/stand_in_tools)
report in the real tools' formats. A fault (`--fault NODE:KIND`) is a pure change of that profile;
`FAULTS` says, per kind, which acceptance checks it must fail (and, for a bandwidth fault, which performance
tiers: `fails_tiers`), so tests and the rehearsal can assert exactly those.

The performance stand-ins (all_reduce_perf, ib_write_bw, nccom-test) read their figures from the profile's
`performance` (busbw per NCCL transport class) and each compute port's `write_bw_gbits`: a healthy node
measures `HEADROOM` above the catalog's published minimum (aifactory/catalog/performance.yaml) or floor,
and where the catalog has only a site baseline, an estimate from the platform (`performance_figures`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

import yaml

from aifactory.catalog import Platform
from aifactory.catalog.performance import performance_thresholds
from aifactory.node.parsers.acceptance import FABRIC_SERVICES

PROFILE_PATH = "/etc/aifactory-lab/hardware.json"  # inside a node
MANIFEST = Path(str(files("aifactory.catalog") / "vendor_packages.yaml"))
NVLINKS_PER_GPU = 18  # NVLink 5 on Blackwell: 18 links per GPU (NVIDIA Blackwell architecture technical brief)
NVLINK_GBYTES = 50.0  # per link and direction (nvidia-smi nvlink -s on B200/GB200: "50 GB/s")
CUDA_VERSION = "13.0"  # what a R580 driver reports as its CUDA version
# ibstat CA types (PCI device id in decimal, pci-ids.ucw.cz vendor 15b3) by NIC model.
CA_TYPES = {"ConnectX-7": "MT4129", "ConnectX-8 SuperNIC": "MT4131", "BlueField-3": "MT41692"}
NEURON_CORES = 8  # per Trainium device (AWS Neuron docs, trn2/trn3 architecture: 8 NeuronCores per chip)
NEURON_MEMORY = 144 * 1024**3  # HBM per Trainium3 (AWS Neuron docs, trn3-arch: 144 GiB per chip)
# The performance stand-ins' model (docs/lab.md): figures of a healthy node, and what a bandwidth fault leaves.
HEADROOM = 1.05  # a healthy figure is 5% above the catalog's published minimum or floor
NVLINK_EFFICIENCY = 0.8  # all-reduce busbw against one GPU's NVLink bandwidth, where the catalog has no figure
WIRE_EFFICIENCY = 0.95  # RDMA write bandwidth against the port's rate, where the catalog has no figure
NEURON_BUSBW = 100.0  # GB/s: a stand-in figure, not a measurement (Trainium3's checks are site baselines)
BANDWIDTH_LEFT = 0.5  # nvlink-bw-low and ib-bw-low halve the affected figures
NVLINK_TRANSPORTS = ("p2p", "mnnvl")


@cache
def manifest() -> dict:
    """The vendor package manifest (aifactory/catalog/vendor_packages.yaml)."""
    return yaml.safe_load(MANIFEST.read_text())


class FaultError(ValueError):
    """A --fault that names no node of the spec, an unknown kind, or one that does not fit the platform."""


@dataclass(frozen=True)
class Fault:
    """What a fault kind does to a node, which acceptance checks it fails and which alert rules
    (aifactory.monitoring.alerts) fire for it on that node; a fault no rule sees says why (`silent`)."""

    kind: str
    description: str
    alerts: tuple[str, ...] = ()
    silent: str = ""
    in_service_only: str = ""  # why it can only appear once the factory runs (`--fault-in-service`)
    stops_fabric_service: bool = False  # it changes no hardware: it stops the NVLink fabric's service (`unit`)

    def applies(self, platform: Platform) -> bool:
        e = platform.expected
        return {"nvlink-bw-low": platform.software_stack == "nvidia" and e.nvlink_domain_gpus > 1,
                "ib-bw-low": e.ib_ports > 0,
                "gpu-missing": platform.software_stack == "nvidia",
                "ecc-uncorrectable": platform.software_stack == "nvidia",
                "nvlink-down": platform.software_stack == "nvidia" and e.nvlink_domain_gpus > 1,
                "ib-port-down": e.ib_ports > 0, "ib-port-slow": e.ib_ports > 0 and e.ib_rate_gbps > 0,
                "neuron-device-missing": platform.software_stack == "neuron",
                "driver-off-pin": platform.software_stack == "nvidia",
                "xid-error": platform.software_stack == "nvidia",
                "thermal-throttling": platform.software_stack == "nvidia",
                "fabric-service-down": self.unit(platform) is not None}[self.kind]

    def unit(self, platform: Platform) -> str | None:
        """The systemd unit this fault stops on a node of `platform` (None: it stops none): the NVLink fabric's
        service, IMEX on NVL72 racks and Fabric Manager on HGX, as FabricServiceDown reads it."""
        if not self.stops_fabric_service or platform.software_stack != "nvidia":
            return None
        unit, _ = FABRIC_SERVICES.get(platform.expected.fabric, (None, None))
        return unit

    def fails(self, expected: dict) -> set[str]:
        """The checks of aifactory.node.parsers.acceptance.evaluate this fault fails, for a node whose expected
        profile (as the acceptance role passes it) is `expected`."""
        if self.kind == "ecc-uncorrectable":  # DCGM's memory test flags the pending row remapping too
            return {"memory_health"} | ({"dcgm_diag"} if expected.get("dcgm_diag_level", 0) > 0 else set())
        if self.kind == "driver-off-pin":  # Fabric Manager must run the loaded driver's exact version
            return {"driver_version"} | ({"fabric_manager_version"} if expected.get("fabric_manager") else set())
        if self.stops_fabric_service:
            return {FABRIC_SERVICES[expected["fabric"]][1]} if expected.get("fabric") in FABRIC_SERVICES else set()
        return {"gpu-missing": {"accelerator_count"}, "nvlink-down": {"nvlink_links"},
                "ib-port-down": {"ib_ports"}, "ib-port-slow": {"ib_ports"},
                "neuron-device-missing": {"accelerator_count"}}.get(self.kind, set())

    def fails_tiers(self, platform: Platform) -> set[str]:
        """The performance tiers (performance.yaml) this fault must fail on `platform`: those with a check of
        the bandwidth it lowers that has a published minimum or floor (a site baseline not yet recorded fails
        nothing)."""
        lowers = {"nvlink-bw-low": lambda t: t.tool == "nccl-tests" and t.transport in NVLINK_TRANSPORTS,
                  "ib-bw-low": lambda t: t.tool == "ib_write_bw"}.get(self.kind)
        if lowers is None or not self.applies(platform):
            return set()
        return {t.tier for t in performance_thresholds().get(platform.name, {}).values()
                if lowers(t) and (t.min is not None or t.floor is not None)}


# The XID the `xid-error` fault reports: 119, a GSP RPC timeout (NVIDIA's XID catalogue: the GPU needs a reset).
FAULT_XID = 119
# What `thermal-throttling` leaves on GPU 0: NVML's hardware thermal slowdown clocks event reason, and its heat.
THERMAL_SLOWDOWN = 0x40
THERMAL_TEMPERATURE_C = 92
IN_SERVICE_OPTION = "--fault-in-service"
BANDWIDTH_SILENT = ("a bandwidth shortfall with every link up moves no counter an exporter reports; the performance "
                    "tiers of acceptance find it")
FAULTS = {f.kind: f for f in (
    Fault("gpu-missing", "the last GPU is gone from the bus", ("GpuMissing",)),
    # The volatile double-bit count is already there when the exporter starts (GpuEccDoubleBit fires on its rise):
    # what stays is the row remapping that waits for a reset.
    Fault("ecc-uncorrectable", "GPU 0 had uncorrectable memory errors: a row remapping is pending",
          ("GpuRowRemapPending",)),
    Fault("nvlink-down", "NVLink 0 of GPU 0 is inactive", ("NvlinkDown",)),
    Fault("ib-port-down", "the first compute-fabric port is Down/Polling", ("InfinibandPortDown",)),
    Fault("ib-port-slow", "the first compute-fabric port trained at half its rate", ("InfinibandPortSlow",)),
    Fault("neuron-device-missing", "the last Neuron device is gone from the bus", ("NeuronDeviceMissing",)),
    Fault("driver-off-pin", "the loaded driver is another version than the pinned one", ("DriverOffPin",)),
    Fault("nvlink-bw-low", "NVLink all-reduce bus bandwidth at half the healthy figure, every link up",
          silent=BANDWIDTH_SILENT),
    Fault("ib-bw-low", "IB write bandwidth of every compute port at half the healthy figure, links up at full rate",
          silent=BANDWIDTH_SILENT),
    Fault("xid-error", f"GPU 0 reported XID {FAULT_XID} (GSP RPC timeout) in the exporter's window", ("GpuXidError",)),
    Fault("thermal-throttling", f"GPU 0 at {THERMAL_TEMPERATURE_C} C, its clocks slowed for heat (hardware thermal "
                                "slowdown)", ("GpuThermalThrottling",)),
    Fault("fabric-service-down", "the NVLink fabric's service stopped (nvidia-imex on NVL72, nvidia-fabricmanager on "
                                 "HGX)", ("FabricServiceDown",), stops_fabric_service=True,
          in_service_only="it stops a service the bring-up starts, so it can only appear once the factory runs"),
)}


def parse_faults(values: list[str], nodes: list[str], platform: Platform, in_service: bool = False) -> dict[str, list[str]]:
    """`NODE:KIND` options of `--fault` (or, `in_service`, of `--fault-in-service`) -> {node: [kind, ...]};
    FaultError naming the option and the bad value otherwise. In service only a kind some alert sees is accepted
    (only monitoring catches a fault that appears while the factory runs); at lab up, no kind that only appears in
    service."""
    option = IN_SERVICE_OPTION if in_service else "--fault"
    out: dict[str, list[str]] = {}
    for value in values:
        node, _, kind = value.rpartition(":")
        if not node or kind not in FAULTS:
            raise FaultError(f"{option}: {value!r} is not NODE:KIND (KIND one of {', '.join(FAULTS)})")
        if node not in nodes:
            raise FaultError(f"{option}: {node!r} is no node of this site (nodes: {', '.join(nodes[:4])}"
                             f"{', ...' if len(nodes) > 4 else ''})")
        fault = FAULTS[kind]
        if not fault.applies(platform):
            raise FaultError(f"{option}: {kind} does not apply to {platform.name} nodes")
        if in_service and fault.silent:
            raise FaultError(f"{option}: {kind} raises no alert ({fault.silent}); in service only monitoring would "
                             "catch it: inject it with --fault")
        if not in_service and fault.in_service_only:
            raise FaultError(f"{option}: {kind}: {fault.in_service_only}: give it with `rehearse {IN_SERVICE_OPTION}`")
        if kind not in out.setdefault(node, []):
            out[node].append(kind)
    return out


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "aifactory-lab:" + ":".join(parts)))


def _guid(*parts: str) -> str:
    return "0x" + hashlib.sha256(":".join(parts).encode()).hexdigest()[:16]


def node_profile(platform: Platform, site: str, node: str, rack: int) -> dict:
    """The healthy hardware of `node` (of rack `rack`) as the platform catalog describes it."""
    e = platform.expected
    profile: dict = {"stand_in": "aifactory lab stand-in hardware profile", "node": node, "platform": platform.name,
                     "gpus": [], "driver_version": None, "cuda_version": CUDA_VERSION, "ib_ports": [],
                     "neuron_devices": []}
    if platform.software_stack == "nvidia":
        # NVL72: the rack is one NVLink domain (one cluster, one clique); HGX: the node's baseboard is.
        domain = f"{site}:rack{rack}" if platform.nvlink_domain == "rack" else f"{site}:{node}"
        links = NVLINKS_PER_GPU if e.nvlink_domain_gpus > 1 else 0
        for index in range(e.accelerators):
            profile["gpus"].append({
                "index": index, "name": f"NVIDIA {e.accelerator_name_contains}",
                "pci_bus_id": f"00000000:{0x18 + 0x10 * index:02X}:00.0",
                "uuid": "GPU-" + _uuid(site, node, str(index)), "serial": str(1650000000000 + rack * 1000 + index),
                "ecc_mode": "Enabled", "dram_uncorrectable": 0, "remapped_row_unc": 0, "remapped_row_pending": False,
                "fabric_state": "Completed" if e.fabric_state == "completed" else "N/A",
                "fabric_status": "Success" if e.fabric_state == "completed" else "N/A",
                "clique_id": str(32766 if platform.nvlink_domain == "rack" else 1),
                "cluster_uuid": _uuid(domain), "nvlinks": [NVLINK_GBYTES] * links,
            })
    fabric_layer = "InfiniBand" if e.fabric != "efa" else "Ethernet"
    for nic in platform.nics:
        if e.ib_ports == 0 or nic.model not in CA_TYPES:
            continue
        dpu = nic.role != "compute"
        for _ in range(e.ib_ports if not dpu else nic.count):
            n = len(profile["ib_ports"])
            profile["ib_ports"].append({
                "ca": f"mlx5_{n}", "ca_type": CA_TYPES[nic.model], "firmware": "28.43.1014",
                "guid": _guid(site, node, str(n)), "state": "Active", "physical_state": "LinkUp",
                "rate": nic.gbps if not dpu else 200, "link_layer": "Ethernet" if dpu else fabric_layer,
                "compute": not dpu,
            })
    figures = performance_figures(platform)
    profile["performance"] = {"busbw": figures["busbw"]}
    for port in profile["ib_ports"]:
        if port["compute"]:
            port["write_bw_gbits"] = figures["ib_write_bw"]
    if platform.software_stack == "neuron":
        count = e.accelerators
        for index in range(count):
            profile["neuron_devices"].append({
                "index": index, "bdf": f"{0xa0 + 0x10 * index:02x}:00.0", "nc_count": NEURON_CORES,
                "memory_size": NEURON_MEMORY, "connected_to": sorted({(index - 1) % count, (index + 1) % count} - {index}),
            })
    return profile


def _healthy(platform: Platform, matches, estimate: float) -> float:
    """HEADROOM above the published minimum or floor of the first check that `matches`, else `estimate`."""
    for t in performance_thresholds().get(platform.name, {}).values():
        if matches(t) and (t.min is not None or t.floor is not None):
            return round((t.min if t.min is not None else t.floor.min) * HEADROOM, 2)
    return round(estimate, 2)


def performance_figures(platform: Platform) -> dict:
    """A healthy node's figures: `busbw` (GB/s) per transport class its collectives use (nccl_tests'
    classes; `neuron` within a Trainium node) and `ib_write_bw` (Gb/s) of each compute port."""
    e = platform.expected
    busbw: dict[str, float] = {}
    if platform.software_stack == "nvidia":
        nvlink = NVLINKS_PER_GPU * NVLINK_GBYTES * NVLINK_EFFICIENCY
        for transport in NVLINK_TRANSPORTS[:2 if platform.nvlink_domain == "rack" else 1]:
            busbw[transport] = _healthy(platform, lambda t, tr=transport: t.tool == "nccl-tests"
                                        and t.test == "all_reduce_perf" and t.transport == tr, nvlink)
    else:
        busbw["neuron"] = NEURON_BUSBW
    wire = e.ib_ports * e.ib_rate_gbps / 8 * WIRE_EFFICIENCY
    busbw["net-ofi" if e.fabric == "efa" else "net-ib-gdr"] = NEURON_BUSBW if e.fabric == "efa" else wire
    ib = _healthy(platform, lambda t: t.tool == "ib_write_bw", e.ib_rate_gbps * WIRE_EFFICIENCY)
    return {"busbw": busbw, "ib_write_bw": ib}


def off_pin_version(branch: str, version: str | None) -> str:
    """A driver version the pin does not allow: another version of the branch when a version is pinned,
    else a version of another branch."""
    cuda = manifest()["nvidia_cuda"]
    if version:
        return next(v for v in cuda["driver_versions"]["value"] if v != version)
    return cuda["off_pin_version"]["value"]


def with_faults(profile: dict, kinds: list[str], driver_branch: str = "", driver_version: str | None = None) -> dict:
    """`profile` with each fault of `kinds` applied (a new dict; `profile` is unchanged)."""
    hw = copy.deepcopy(profile)
    for kind in kinds:
        if kind not in FAULTS:
            raise FaultError(f"unknown fault {kind!r}")
        if FAULTS[kind].stops_fabric_service:
            continue  # no hardware changes: lab.lifecycle.inject_faults stops the unit on the running node
        if kind == "gpu-missing":
            hw["gpus"].pop()
        elif kind == "ecc-uncorrectable":
            hw["gpus"][0].update(dram_uncorrectable=2, remapped_row_unc=1, remapped_row_pending=True)
        elif kind == "nvlink-down":
            hw["gpus"][0]["nvlinks"][0] = None
        elif kind in ("ib-port-down", "ib-port-slow"):
            port = next(p for p in hw["ib_ports"] if p["compute"])
            port.update(state="Down", physical_state="Polling", rate=10) if kind == "ib-port-down" \
                else port.update(rate=port["rate"] // 2)
        elif kind == "neuron-device-missing":
            hw["neuron_devices"].pop()
        elif kind == "driver-off-pin":
            hw["driver_version"] = off_pin_version(driver_branch, driver_version)
        elif kind == "xid-error":
            hw["gpus"][0]["xids"] = {str(FAULT_XID): 1}
        elif kind == "thermal-throttling":
            hw["gpus"][0].update(clocks_event_reasons=THERMAL_SLOWDOWN, temperature_c=THERMAL_TEMPERATURE_C)
        elif kind == "nvlink-bw-low":
            busbw = hw["performance"]["busbw"]
            busbw.update({t: round(busbw[t] * BANDWIDTH_LEFT, 2) for t in NVLINK_TRANSPORTS if t in busbw})
        elif kind == "ib-bw-low":
            for port in hw["ib_ports"]:
                if port["compute"]:
                    port["write_bw_gbits"] = round(port["write_bw_gbits"] * BANDWIDTH_LEFT, 2)
            hw["performance"]["busbw"]["net-ib-gdr"] = round(hw["performance"]["busbw"]["net-ib-gdr"] * BANDWIDTH_LEFT, 2)
        else:  # a kind added to FAULTS without its change to the profile
            raise FaultError(f"no profile change is written for fault {kind!r}")
    hw["faults"] = list(kinds)
    return hw


def expected_failures(kinds: list[str], expected: dict) -> set[str]:
    """The acceptance checks the faults `kinds` fail on one node."""
    return set().union(*(FAULTS[k].fails(expected) for k in kinds)) if kinds else set()


def write_profile(node_root: Path, profile: dict) -> Path:
    """Put the profile where the node's stand-in tools read it: before the node boots, or while it runs (a fault in
    service), replaced whole so that a tool never reads half of it."""
    path = node_root / PROFILE_PATH.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(profile, indent=2) + "\n")
    partial.replace(path)
    return path
