#!/usr/bin/python3
"""aifactory lab stand-in for the vendor tools a node's roles and acceptance checks call.

One file, installed under each tool's name by the lab's stand-in vendor packages (busybox style: the
name it is called by picks the tool). It is not NVIDIA's, Mellanox's or AWS's program and says so in
--version and --help. It reports the hardware written in the node's hardware profile
(/etc/aifactory-lab/hardware.json, from the platform catalog, with the lab's injected faults) in the
formats the real tools print, so that the project's parsers read it as they read the real output.
Daemon names (nv-fabricmanager, nvidia-imex, nvidia-persistenced, nv-hostengine) stay up doing
nothing, as systemd services; dcgm-exporter serves the profile's GPUs as DCGM's exporter's /metrics page (its options,
its counters file, TLS from its web configuration, the HPC job mapping's hpc_job label).
The performance tools (all_reduce_perf and all_gather_perf of nccl-tests, perftest's ib_write_bw, Neuron's
nccom-test) print their first line naming themselves stand-ins, then the real tools' tables with the figures
of the profile's `performance` (a fault lowers them). Their model of a run over several nodes (srun, one task
per node): each task reads its own node's profile and sends its figures to rank 0 over TCP (at NCCL_COMM_ID
where set, else the first node of SLURM_STEP_NODELIST), and rank 0 prints the run's figure as the minimum
over the nodes taking part; the other ranks print nothing. ib_write_bw runs as perftest does, a server and a
client naming it; both report the lower of the two ports' figures.
Standard library only: it runs with the node's python3.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import time
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


# --- performance tools ---------------------------------------------------------------------------
RENDEZVOUS_S = 30  # how long a rank waits for its peers before giving up, as NCCL's bootstrap times out
PERFTEST_PORT = 18515  # ib_write_bw's default port
VALUE_OPTIONS = {"-d", "--ib-dev", "-s", "--size", "-n", "--iters", "-p", "--port", "-m", "--mtu", "-q", "--qp",
                 "-x", "--gid-index", "-i", "--ib-port"}  # perftest's options that take a value as the next argument
SUFFIXES = {"K": 1024, "M": 1024**2, "G": 1024**3}
NCCL_TESTS = {"all_reduce_perf": ("all_reduce", lambda n: 2 * (n - 1) / n), "all_gather_perf": ("all_gather", lambda n: (n - 1) / n)}
# A transport class (aifactory/node/parsers/nccl_tests.py) -> what NCCL's channel lines say it went through.
VIA = {"p2p": "P2P/CUMEM/read", "mnnvl": "P2P/MNNVL", "net-ib-gdr": "NET/IB/0/GDRDMA", "net-ofi": "NET/AWS Libfabric/0/GDRDMA"}


def size_value(text: str) -> int:
    """`8G`, `32M`, `1024`: bytes, as nccl-tests and nccom-test read -b/-e."""
    unit = SUFFIXES.get(text[-1:].upper(), 1)
    return int(float(text[:-1] if unit > 1 else text) * unit)


def option(args: list[str], *names: str, default: str | None = None) -> str | None:
    """The value of `-x V`, `--long V` or `--long=V`."""
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return default


def sizes(args: list[str], low: str, high: str) -> list[int]:
    start, end = size_value(option(args, "-b", "--minbytes", default=low)), size_value(option(args, "-e", "--maxbytes", default=high))
    factor = int(option(args, "-f", "--stepfactor", default="2"))
    out = [start]
    while out[-1] * factor <= end and factor > 1:
        out.append(out[-1] * factor)
    return out


def expand_hostlist(text: str) -> list[str]:
    """Slurm's compressed host list (`n[01-02],m3`) as names."""
    names = []
    for prefix, ranges, suffix in re.findall(r"([^,\[]+)(?:\[([^\]]*)\])?([^,\[]*)", text):
        if not ranges:
            names.append(prefix + suffix)
            continue
        for part in ranges.split(","):
            low, _, high = part.partition("-")
            names += [f"{prefix}{i:0{len(low)}d}{suffix}" for i in range(int(low), int(high or low) + 1)]
    return names


def slurm_task() -> tuple[int, int, tuple[str, int]]:
    """(rank, ranks, rank 0's address) of this task; one task outside Slurm."""
    rank, ranks = int(os.environ.get("SLURM_PROCID", "0")), int(os.environ.get("SLURM_NTASKS", "1"))
    if os.environ.get("NCCL_COMM_ID"):
        host, _, port = os.environ["NCCL_COMM_ID"].rpartition(":")
        return rank, ranks, (host, int(port))
    nodes = expand_hostlist(os.environ.get("SLURM_STEP_NODELIST") or os.environ.get("SLURM_JOB_NODELIST") or "localhost")
    return rank, ranks, (nodes[0], 20000 + int(os.environ.get("SLURM_JOB_ID", "0")) % 20000)


def _send(conn: socket.socket, value: dict) -> None:
    conn.sendall(json.dumps(value).encode() + b"\n")


def _receive(conn: socket.socket) -> dict:
    with conn.makefile("r") as stream:
        return json.loads(stream.readline())


def _connect(address: tuple[str, int]) -> socket.socket:
    deadline = time.monotonic() + RENDEZVOUS_S
    while True:
        try:
            return socket.create_connection(address, timeout=RENDEZVOUS_S)
        except OSError as err:
            if time.monotonic() > deadline:
                raise SystemExit(f"{MARK}: no peer at {address[0]}:{address[1]} ({err})") from None
            time.sleep(0.2)


def gather(own: dict, rank: int, ranks: int, address: tuple[str, int]) -> list[dict] | None:
    """Every rank's `own` at rank 0 (None elsewhere)."""
    if ranks == 1:
        return [own]
    if rank != 0:
        with _connect(address) as conn:
            _send(conn, own)
        return None
    got = [own]
    with socket.create_server(("", address[1]), reuse_port=True) as server:
        server.settimeout(RENDEZVOUS_S)
        while len(got) < ranks:
            conn, _ = server.accept()
            with conn:
                got.append(_receive(conn))
    return got


def exchange(own: dict, server: str | None, port: int) -> dict:
    """The peer's `own`: as perftest's server (no `server`) or its client."""
    if server:
        with _connect((server, port)) as conn:
            _send(conn, own)
            return _receive(conn)
    with socket.create_server(("", port), reuse_port=True) as listening:
        listening.settimeout(RENDEZVOUS_S)
        conn, _ = listening.accept()
        with conn:
            peer = _receive(conn)
            _send(conn, own)
    return peer


def node_figures(hw: dict) -> dict:
    """What a rank tells rank 0: its node, devices, NVLink domain and bus bandwidths."""
    gpus = hw.get("gpus") or []
    return {"node": hw.get("node") or socket.gethostname(), "devices": len(gpus) or len(hw.get("neuron_devices") or []),
            "domain": gpus[0]["cluster_uuid"] if gpus else None, "busbw": hw.get("performance", {}).get("busbw", {}),
            "device_name": gpus[0]["name"] if gpus else "Trainium"}


def transport(ranks: list[dict]) -> str:
    """One node: within it; one NVLink domain: multi-node NVLink (unless NCCL_MNNVL_ENABLE=0); else the
    compute fabric."""
    offered = ranks[0]["busbw"]
    if len(ranks) == 1:
        return "p2p" if "p2p" in offered else "neuron"
    if "mnnvl" in offered and len({r["domain"] for r in ranks}) == 1 and os.environ.get("NCCL_MNNVL_ENABLE") != "0":
        return "mnnvl"
    return "net-ib-gdr" if "net-ib-gdr" in offered else "net-ofi"


def run_figure(name: str) -> tuple[list[dict], str, float] | None:
    """(ranks, transport, the lowest busbw of the run's nodes) at rank 0; None on other ranks."""
    rank, ranks, address = slurm_task()
    gathered = gather(node_figures(profile()), rank, ranks, address)
    if gathered is None:
        return None
    used = transport(gathered)
    missing = [r["node"] for r in gathered if used not in r["busbw"]]
    if missing:
        raise SystemExit(f"{name} ({MARK}): no {used} figure in the profile of {', '.join(missing)}")
    return gathered, used, min(r["busbw"][used] for r in gathered)


def nccl_test(name: str, args: list[str]) -> str:
    """nccl-tests' table, each size at the run's figure, no wrong values, NCCL's channel lines."""
    run = run_figure(name)
    if run is None:
        return ""
    ranks, used, busbw = run
    collective, factor = NCCL_TESTS[name]
    gpus = sum(r["devices"] for r in ranks)
    out = [f"# {banner(name)}", f"# Collective test starting: {name}",
           f"# nThread 1 nGpus {ranks[0]['devices']} minBytes {option(args, '-b', default='8')} maxBytes "
           f"{option(args, '-e', default='8')} step: {option(args, '-f', default='2')}(factor) warmup iters: 5 iters: 20 "
           "agg iters: 1 validation: 1 graph: 0", "#", "# Using devices"]
    for number, r in enumerate(ranks):
        out += [f"#  Rank {number * r['devices'] + d:3d} Group  0 Pid {os.getpid():6d} on {r['node']} device {d:2d} "
                f"[0x{0x18 + 0x10 * d:02x}] {r['device_name']}" for d in range(r["devices"])]
    if os.environ.get("NCCL_DEBUG", "").upper() == "INFO":
        out += [f"{ranks[0]['node']}:{os.getpid()}:{os.getpid()} [0] NCCL INFO Channel {c:02d}/0 : 0[0] -> "
                f"{min(1, gpus - 1)}[{min(1, gpus - 1)}] via {VIA[used]}" for c in range(2) if used in VIA]
    out += ["#", "#                                                              out-of-place                       in-place          ",
            "#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong",
            "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)       "]
    algbw = busbw / factor(gpus) if gpus > 1 else busbw
    for size in sizes(args, "8G", "16G"):
        count = size // 4 // (gpus if collective == "all_gather" else 1)
        time_us = size / (algbw * 1e9) * 1e6
        half = f"{time_us:8.1f} {algbw:7.2f} {busbw:7.2f} {0:6d}"
        out.append(f"{size:12d} {count:13d}     float     sum      -1 {half} {half}")
    out += ["# Out of bounds values : 0 OK", f"# Avg bus bandwidth    : {busbw:.4f} ", "#"]
    return "\n".join(out) + "\n"


def all_reduce_perf(args: list[str]) -> str:
    return nccl_test("all_reduce_perf", args)


def all_gather_perf(args: list[str]) -> str:
    return nccl_test("all_gather_perf", args)


def nccom_test(args: list[str]) -> str:
    """`nccom-test [-r N] [-b B -e E -f F] allr`: the table and its average at the run's figure."""
    run = run_figure("nccom-test")
    if run is None:
        return ""
    _, _, busbw = run
    out = [banner("nccom-test"), "     size(B)    count(elems)     type    time(us)    algbw(GB/s)    busbw(GB/s)"]
    for size in sizes(args, "32M", "8G"):
        out.append(f"{size:12d} {size:15d}    uint8 {size / (busbw * 1e3):11.0f} {busbw:14.2f} {busbw:14.2f}")
    out.append(f"Avg bus bandwidth:      {busbw:.4f}GB/s")
    return "\n".join(out) + "\n"


def ib_write_bw(args: list[str]) -> str:
    """perftest's report of one port (`-d`): server without a host argument, client with one."""
    hw = profile()
    device = option(args, "-d", "--ib-dev", default="mlx5_0")
    port = next((p for p in hw.get("ib_ports") or [] if p["ca"] == device), None)
    if port is None or port["state"] != "Active":
        raise SystemExit(f" Couldn't find or open IB device {device} ({MARK}: {'no such port' if port is None else port['state']})")
    if "write_bw_gbits" not in port:
        raise SystemExit(f"ib_write_bw ({MARK}): {device} is no compute-fabric port (no write bandwidth in the profile)")
    positional, value_next = [], False
    for arg in args:
        if not value_next and not arg.startswith("-"):
            positional.append(arg)
        value_next = not value_next and arg in VALUE_OPTIONS
    peer = exchange({"gbits": port["write_bw_gbits"]}, positional[0] if positional else None,
                    int(option(args, "-p", "--port", default=str(PERFTEST_PORT))))
    gbits = min(port["write_bw_gbits"], peer["gbits"])
    size = size_value(option(args, "-s", "--size", default="65536"))
    iterations = int(option(args, "-n", "--iters", default="5000"))
    gbits_unit = "--report_gbits" in args
    figure, unit = (gbits, "Gb/sec") if gbits_unit else (gbits * 1000 / 8, "MB/sec")
    cuda = option(args, "--use_cuda")
    out = [banner("ib_write_bw")]
    if cuda is not None or "--use_cuda" in args:
        gpu = (hw.get("gpus") or [{"name": "NVIDIA GPU"}])[0]
        out += ["initializing CUDA", f"Picking device No. {cuda or 0}", f"[pid = {os.getpid()}, dev = {cuda or 0}] device name = [{gpu['name']}]",
                f"cuMemAlloc() of a {2 * size} bytes GPU buffer"]
    rule = "-" * 87
    out += [rule, "                    RDMA_Write BW Test", f" Dual-port       : OFF\t\tDevice         : {device}",
            " Number of qps   : 1\t\tTransport type : IB", " Connection type : RC\t\tUsing SRQ      : OFF",
            f" Link type       : {port['link_layer'].replace('InfiniBand', 'IB')}", rule,
            f" #bytes     #iterations    BW peak[{unit}]    BW average[{unit}]   MsgRate[Mpps]",
            f" {size:<10d} {iterations:<16d} {figure * 1.001:.2f}             {figure:.2f} \t\t   {gbits * 1e9 / 8 / size / 1e6:.6f}",
            rule]
    return "\n".join(out) + "\n"


# --- dcgm-exporter --------------------------------------------------------------------------------
EXPORTER_COUNTERS = "/etc/dcgm-exporter/default-counters.csv"
EXPORTER_ADDRESS = ":9400"
# The GPU's fields the stand-in knows, each read from the GPU's profile entry (a fault changes the entry); a field of
# the counters file it does not know is left out, as the exporter leaves out a field the GPU does not support.
GPU_FIELDS = {
    "DCGM_FI_DEV_GPU_TEMP": lambda g: g.get("temperature_c", 40),
    "DCGM_FI_DEV_POWER_USAGE": lambda g: g.get("power_w", 150.0),
    "DCGM_FI_DEV_GPU_UTIL": lambda g: g.get("utilization", 0),
    "DCGM_FI_DEV_FB_USED": lambda g: g.get("fb_used_mib", 0),
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": lambda g: g.get("dram_correctable", 0),
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": lambda g: g.get("dram_uncorrectable", 0),
    "DCGM_FI_DEV_ROW_REMAP_PENDING": lambda g: int(bool(g.get("remapped_row_pending"))),
    "DCGM_FI_DEV_ROW_REMAP_FAILURE": lambda g: int(bool(g.get("remapped_row_failure"))),
    "DCGM_FI_DEV_CLOCKS_EVENT_REASONS": lambda g: g.get("clocks_event_reasons", 0),
    **{f"DCGM_FI_DEV_NVLINK_{kind}_ERROR_COUNT_TOTAL": (lambda g, k=kind: g.get("nvlink_errors", {}).get(k, 0))
       for kind in ("CRC_FLIT", "CRC_DATA", "REPLAY", "RECOVERY")},
}
NVLINK_UP, NVLINK_DOWN = 3, 2  # DCGM_FI_DEV_NVLINK_LINK_STATUS values


def exporter_counters(path: str) -> list[tuple[str, str, str]]:
    """The counters file's (field, type, help) rows; every field the stand-in knows when the file is absent."""
    if not Path(path).is_file():
        return [(field, "gauge", field) for field in [*GPU_FIELDS, "DCGM_FI_DEV_NVLINK_LINK_STATUS",
                                                      "DCGM_EXP_XID_ERRORS_COUNT"]]
    rows = []
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            cells = [c.strip() for c in line.split(",", 2)]
            rows.append((cells[0], cells[1] if len(cells) > 1 else "gauge", cells[2] if len(cells) > 2 else cells[0]))
    return rows


def gpu_jobs(directory: str | None, index: int) -> list[str]:
    """The jobs the HPC job mapping directory names for GPU `index` (a file per GPU index, a job per line)."""
    path = Path(directory or "") / str(index)
    return path.read_text().split() if directory and path.is_file() else []


def exposition(hw: dict, counters: list[tuple[str, str, str]], mapping: str | None) -> str:
    """The /metrics page: each counter's HELP and TYPE, then one sample per GPU (per link for the link status, per
    XID for the XID count; one per job using the GPU, labelled hpc_job, as the exporter's HPC mapper does)."""
    out = []
    for field, kind, help_text in counters:
        samples = []
        for gpu in hw.get("gpus") or []:
            base = {"gpu": str(gpu["index"]), "UUID": gpu["uuid"], "device": f"nvidia{gpu['index']}",
                    "modelName": gpu["name"], "Hostname": hw.get("node", socket.gethostname())}
            if field == "DCGM_FI_DEV_NVLINK_LINK_STATUS":
                values = [({"link": str(i)}, NVLINK_DOWN if rate is None else NVLINK_UP)
                          for i, rate in enumerate(gpu.get("nvlinks") or [])]
            elif field == "DCGM_EXP_XID_ERRORS_COUNT":
                values = [({"xid": str(xid)}, count) for xid, count in sorted((gpu.get("xids") or {}).items())]
            elif field in GPU_FIELDS:
                values = [({}, GPU_FIELDS[field](gpu))]
            else:
                values = []
            for extra, value in values:
                for job in gpu_jobs(mapping, gpu["index"]) or [None]:
                    labels = {**base, **extra, **({"hpc_job": job} if job else {})}
                    text = ",".join(f'{k}="{v}"' for k, v in labels.items())
                    samples.append(f"{field}{{{text}}} {value}")
        if samples:
            out += [f"# HELP {field} {help_text}", f"# TYPE {field} {kind}", *samples]
    return "\n".join(out) + "\n"


def web_tls(path: str | None):
    """An SSL context from the exporter's web configuration (exporter-toolkit's format, as the role writes it: the
    `key: value` lines of tls_server_config), or None for plain HTTP."""
    if not path:
        return None
    import ssl

    keys = dict(line.strip().split(": ", 1) for line in Path(path).read_text().splitlines() if ": " in line)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(keys["cert_file"].strip("'\""), keys["key_file"].strip("'\""))
    if keys.get("client_ca_file"):
        context.load_verify_locations(keys["client_ca_file"].strip("'\""))
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def dcgm_exporter(args: list[str]) -> int:
    """dcgm-exporter's /metrics from the hardware profile, with the real exporter's options (-f, -a/--address,
    --web-config-file, --hpc-job-mapping-dir; -r and --xid-count-window-size accepted): serves until SIGTERM."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    counters = exporter_counters(option(args, "-f", "--collectors", default=EXPORTER_COUNTERS))
    host, _, port = option(args, "-a", "--address", default=EXPORTER_ADDRESS).rpartition(":")
    mapping = option(args, "--hpc-job-mapping-dir")

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = exposition(profile(), counters, mapping).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), Metrics)
    context = web_tls(option(args, "--web-config-file"))
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"{banner('dcgm-exporter')}: serving /metrics on {host or '0.0.0.0'}:{port}"
          f"{' (TLS)' if context else ''}", flush=True)
    server.serve_forever()
    return 0


# --- daemons -------------------------------------------------------------------------------------
def daemon(name: str) -> None:
    """A systemd service's main process: says what it is, then waits for SIGTERM."""
    print(f"{banner(name)}: running as a service, doing nothing", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


TOOLS = {"nvidia-smi": nvidia_smi, "dcgmi": dcgmi, "ibstat": ibstat, "neuron-ls": neuron_ls,
         "all_reduce_perf": all_reduce_perf, "all_gather_perf": all_gather_perf, "ib_write_bw": ib_write_bw,
         "nccom-test": nccom_test}


def main(argv: list[str]) -> int:
    name = Path(argv[0]).name
    args = argv[1:]
    if args[:1] in (["--version"], ["-V"], ["--help"], ["-h"]):
        version = f", driver {driver_version(profile())}" if name == "nvidia-smi" and PROFILE.is_file() else ""
        print(banner(name) + version)
        return 0
    if name in DAEMONS:
        daemon(name)
    if name == "dcgm-exporter":
        return dcgm_exporter(args)
    if name not in TOOLS:
        print(f"{banner(name)}: nothing to do", file=sys.stderr)
        return 0
    try:
        sys.stdout.write(TOOLS[name](args))
    except FileNotFoundError:
        print(f"{name} ({MARK}): no hardware profile at {PROFILE}", file=sys.stderr)
        return 2
    except OSError as err:  # a peer that never came (the performance tools' rendezvous)
        print(f"{name} ({MARK}): {err}", file=sys.stderr)
        return 1
    except SystemExit as stop:
        print(stop, file=sys.stderr)
        return 6 if name == "nvidia-smi" else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
