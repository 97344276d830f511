#!/usr/bin/python3
"""aifactory lab stand-in for the vendor tools a node's roles and acceptance checks call.

One file, installed under each tool's name by the lab's stand-in vendor packages (busybox style: the
name it is called by picks the tool). It is not NVIDIA's, Mellanox's or AWS's program and says so in
--version and --help. It reports the hardware written in the node's hardware profile
(/etc/aifactory-lab/hardware.json, from the platform catalog, with the lab's injected faults) in the
formats the real tools print, so that the project's parsers read it as they read the real output.
Daemon names (nv-fabricmanager, nvidia-imex, nvidia-persistenced, nv-hostengine) stay up doing
nothing, as systemd services.
Standard library only: it runs with the node's python3.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from xml.sax.saxutils import escape

MARK = "aifactory lab stand-in"
PROFILE = Path(os.environ.get("AIFACTORY_LAB_HARDWARE", "/etc/aifactory-lab/hardware.json"))
# The driver package writes the version it stands in for here; a profile's driver_version (a fault: the
# loaded module is another version than the package) wins over it.
DRIVER_VERSION_FILE = Path(os.environ.get("AIFACTORY_LAB_DRIVER_VERSION", "/usr/lib/aifactory-lab/nvidia-driver-version"))
DAEMONS = ("nv-fabricmanager", "nvidia-imex", "nvidia-persistenced", "nv-hostengine")


def profile() -> dict:
    return json.loads(PROFILE.read_text())


def driver_version(hw: dict) -> str | None:
    if hw.get("driver_version"):
        return hw["driver_version"]
    return DRIVER_VERSION_FILE.read_text().strip() if DRIVER_VERSION_FILE.is_file() else None


def banner(tool: str) -> str:
    return f"{tool} ({MARK}: not the vendor's program; reports the lab's hardware profile {PROFILE})"


# --- nvidia-smi ----------------------------------------------------------------------------------
def smi_xml(hw: dict) -> str:
    """`nvidia-smi -q -x`: the elements of DTD nvsmi_device_v12 that the parsers read."""
    gpus = hw.get("gpus") or []
    version = driver_version(hw) or "N/A"
    out = ['<?xml version="1.0" ?>', '<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">', "<nvidia_smi_log>",
           f"\t<timestamp>{MARK}</timestamp>", f"\t<driver_version>{version}</driver_version>",
           f"\t<cuda_version>{hw.get('cuda_version', 'N/A')}</cuda_version>",
           f"\t<attached_gpus>{len(gpus)}</attached_gpus>"]
    for gpu in gpus:
        pending = "Yes" if gpu.get("remapped_row_pending") else "No"
        out += [
            f'\t<gpu id="{gpu["pci_bus_id"]}">',
            f"\t\t<product_name>{escape(gpu['name'])}</product_name>",
            "\t\t<persistence_mode>Enabled</persistence_mode>",
            f"\t\t<serial>{gpu['serial']}</serial>", f"\t\t<uuid>{gpu['uuid']}</uuid>",
            f"\t\t<minor_number>{gpu['index']}</minor_number>",
            f"\t\t<ecc_mode>\n\t\t\t<current_ecc>{gpu['ecc_mode']}</current_ecc>\n"
            f"\t\t\t<pending_ecc>{gpu['ecc_mode']}</pending_ecc>\n\t\t</ecc_mode>",
            "\t\t<ecc_errors>\n\t\t\t<volatile>\n\t\t\t\t<dram_correctable>0</dram_correctable>\n"
            f"\t\t\t\t<dram_uncorrectable>{gpu.get('dram_uncorrectable', 0)}</dram_uncorrectable>\n"
            "\t\t\t</volatile>\n\t\t</ecc_errors>",
            "\t\t<retired_pages>\n\t\t\t<pending_retirement>N/A</pending_retirement>\n\t\t</retired_pages>",
            f"\t\t<remapped_rows>\n\t\t\t<remapped_row_corr>0</remapped_row_corr>\n"
            f"\t\t\t<remapped_row_unc>{gpu.get('remapped_row_unc', 0)}</remapped_row_unc>\n"
            f"\t\t\t<remapped_row_pending>{pending}</remapped_row_pending>\n"
            "\t\t\t<remapped_row_failure>No</remapped_row_failure>\n\t\t</remapped_rows>",
            f"\t\t<fabric>\n\t\t\t<state>{gpu['fabric_state']}</state>\n\t\t\t<status>{gpu['fabric_status']}</status>\n"
            f"\t\t\t<cliqueId>{gpu['clique_id']}</cliqueId>\n\t\t\t<clusterUuid>{gpu['cluster_uuid']}</clusterUuid>\n"
            "\t\t\t<health>\n\t\t\t\t<summary>Healthy</summary>\n\t\t\t</health>\n\t\t</fabric>",
            "\t</gpu>",
        ]
    return "\n".join(out + ["</nvidia_smi_log>", ""])


def smi_list(hw: dict) -> str:
    """`nvidia-smi -L`."""
    return "".join(f"GPU {g['index']}: {g['name']} (UUID: {g['uuid']})\n" for g in hw.get("gpus") or [])


def smi_nvlink(hw: dict) -> str:
    """`nvidia-smi nvlink -s`: each link's speed, or <inactive>."""
    lines = []
    for gpu in hw.get("gpus") or []:
        lines.append(f"GPU {gpu['index']}: {gpu['name']} (UUID: {gpu['uuid']})")
        for number, speed in enumerate(gpu.get("nvlinks") or []):
            lines.append(f"\t Link {number}: " + (f"{speed:g} GB/s" if speed else "<inactive>"))
    return "".join(line + "\n" for line in lines)


QUERY_FIELDS = {"index": "index", "name": "name", "uuid": "uuid", "serial": "serial", "pci.bus_id": "pci_bus_id",
                "ecc.mode.current": "ecc_mode"}


def smi_query(hw: dict, fields: list[str], noheader: bool) -> str:
    """`nvidia-smi --query-gpu=F,... --format=csv[,noheader]`."""
    unknown = [f for f in fields if f not in QUERY_FIELDS and f != "driver_version"]
    if unknown:
        raise SystemExit(f'Field "{unknown[0]}" is not a valid field to query ({MARK}).')
    rows = [] if noheader else [", ".join(fields)]
    for gpu in hw.get("gpus") or []:
        rows.append(", ".join(str(driver_version(hw) if f == "driver_version" else gpu[QUERY_FIELDS[f]]) for f in fields))
    return "".join(r + "\n" for r in rows)


def nvidia_smi(args: list[str]) -> str:
    hw = profile()
    if not hw.get("gpus"):
        raise SystemExit("No devices were found")
    if args[:2] == ["-q", "-x"] or args[:1] == ["-x"] and args[1:2] == ["-q"]:
        return smi_xml(hw)
    if args == ["-L"]:
        return smi_list(hw)
    if args[:2] == ["nvlink", "-s"]:
        return smi_nvlink(hw)
    query = next((a.split("=", 1)[1] for a in args if a.startswith("--query-gpu=")), None)
    fmt = next((a.split("=", 1)[1] for a in args if a.startswith("--format=")), "")
    if query and fmt.startswith("csv"):
        return smi_query(hw, [f.strip() for f in query.split(",")], "noheader" in fmt)
    raise SystemExit(f"nvidia-smi ({MARK}): supports -q -x, -L, nvlink -s, --query-gpu=... --format=csv")


# --- dcgmi diag ----------------------------------------------------------------------------------
# Tests per run level, as DCGM 4 groups them (DCGM user guide, "Run levels").
DIAG_TESTS = ((1, "Deployment", "software"), (2, "Integration", "pcie"), (2, "Hardware", "memory"),
              (3, "Stress", "targeted_stress"), (3, "Stress", "targeted_power"))


def dcgm_diag(hw: dict, level: int) -> dict:
    """`dcgmi diag -r N -j`: each test per GPU; memory fails on a GPU with uncorrectable errors pending."""
    gpus = hw.get("gpus") or []
    categories: dict[str, list] = {}
    for needs, category, name in DIAG_TESTS:
        if level < needs:
            continue
        results = []
        for gpu in gpus:
            result = {"entity_group": "GPU", "entity_group_id": 1, "entity_id": gpu["index"], "status": "Pass"}
            if name == "memory" and (gpu.get("remapped_row_pending") or gpu.get("dram_uncorrectable")):
                result["status"] = "Fail"
                result["warnings"] = [{"error_category": 1, "error_id": 95, "error_severity": 3, "warning":
                                       f"Pending page retirements or row remappings found on GPU {gpu['index']}. "
                                       "Drain the GPU and reset it or reboot the node to resolve this issue."}]
            results.append(result)
        status = "Fail" if any(r["status"] == "Fail" for r in results) else "Pass"
        categories.setdefault(category, []).append({"name": name, "results": results, "test_summary": {"status": status}})
    return {"DCGM Diagnostic": {"test_categories": [{"category": c, "tests": t} for c, t in categories.items()]},
            "entity_groups": [{"entity_group": "GPU", "entity_group_id": 1,
                               "entities": [{"entity_id": g["index"], "serial_num": g["serial"]} for g in gpus]}],
            "metadata": {"version": "4.4.1", "Driver Version Detected": driver_version(hw), "stand_in": MARK}}


def dcgmi(args: list[str]) -> str:
    if args[:1] == ["diag"] and "-r" in args:
        level = args[args.index("-r") + 1]
        if not level.isdigit() or not 1 <= int(level) <= 4:
            raise SystemExit(f"dcgmi ({MARK}): -r takes a run level 1-4")
        return json.dumps(dcgm_diag(profile(), int(level)), indent=4) + "\n"
    raise SystemExit(f"dcgmi ({MARK}): supports diag -r N -j")


# --- ibstat --------------------------------------------------------------------------------------
def ibstat_text(hw: dict) -> str:
    out = []
    for port in hw.get("ib_ports") or []:
        out += [f"CA '{port['ca']}'", f"\tCA type: {port['ca_type']}", "\tNumber of ports: 1",
                f"\tFirmware version: {port['firmware']}", "\tHardware version: 0",
                f"\tNode GUID: {port['guid']}", f"\tSystem image GUID: {port['guid']}", "\tPort 1:",
                f"\t\tState: {port['state']}", f"\t\tPhysical state: {port['physical_state']}",
                f"\t\tRate: {port['rate']}", "\t\tBase lid: 0", "\t\tLMC: 0", "\t\tSM lid: 0",
                "\t\tCapability mask: 0xa751e848", f"\t\tPort GUID: {port['guid']}",
                f"\t\tLink layer: {port['link_layer']}"]
    return "".join(line + "\n" for line in out)


def ibstat(args: list[str]) -> str:
    hw = profile()
    if not hw.get("ib_ports"):
        raise SystemExit("ibpanic: [ibstat] main: stat of IB device 'mthca0' failed: No such file or directory")
    return ibstat_text(hw)


# --- neuron-ls -----------------------------------------------------------------------------------
def neuron_ls_json(hw: dict) -> list[dict]:
    return [{"neuron_device": d["index"], "bdf": d["bdf"], "connected_to": d["connected_to"],
             "nc_count": d["nc_count"], "memory_size": d["memory_size"], "neuron_processes": []}
            for d in hw.get("neuron_devices") or []]


def neuron_ls(args: list[str]) -> str:
    if args not in (["-j"], ["--json-output"]):
        raise SystemExit(f"neuron-ls ({MARK}): supports -j / --json-output")
    return json.dumps(neuron_ls_json(profile()), indent=4) + "\n"


# --- daemons -------------------------------------------------------------------------------------
def daemon(name: str) -> None:
    """A systemd service's main process: says what it is, then waits for SIGTERM."""
    print(f"{banner(name)}: running as a service, doing nothing", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


TOOLS = {"nvidia-smi": nvidia_smi, "dcgmi": dcgmi, "ibstat": ibstat, "neuron-ls": neuron_ls}


def main(argv: list[str]) -> int:
    name = Path(argv[0]).name
    args = argv[1:]
    if args[:1] in (["--version"], ["-V"], ["--help"], ["-h"]):
        version = f", driver {driver_version(profile())}" if name == "nvidia-smi" and PROFILE.is_file() else ""
        print(banner(name) + version)
        return 0
    if name in DAEMONS:
        daemon(name)
    if name not in TOOLS:
        print(f"{banner(name)}: nothing to do", file=sys.stderr)
        return 0
    try:
        sys.stdout.write(TOOLS[name](args))
    except FileNotFoundError:
        print(f"{name} ({MARK}): no hardware profile at {PROFILE}", file=sys.stderr)
        return 2
    except SystemExit as stop:
        print(stop, file=sys.stderr)
        return 6 if name == "nvidia-smi" else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
