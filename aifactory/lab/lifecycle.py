"""`lab up`, `lab status`, `lab down`: start the stand-ins for one site, report on them, remove them.

Every resource is written to the state file as it is created (state.py), and `down` removes exactly
those, newest first, by id. `up` also writes `host-overrides.json` (for the inventory plugin's
`host_overrides` option) and `lab.env` (the AWS endpoint for `aifactory plan --aws-endpoint`, and
AIFACTORY_STACK_OUTPUTS: where `plan --stack-outputs` writes the stack outputs that the lab's DNS
stand-in answers and the bring-ups read; aws.py).
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from aifactory.core.inputs import BadInput
from aifactory.node import bringup
from aifactory.lab import (aws, base, bundle, cache, cgroups, hardware, mirror, monitoring, network, nodes, procs, reached,
                           redfish, vendor_repos)
from aifactory.lab.state import LabState
from aifactory.spec import Factory
from aifactory.spec import naming

Progress = Callable[[str], None]
OVERRIDES_FILE = "host-overrides.json"
ENV_FILE = "lab.env"
# What every lab host lacks, as capability variables of its host overrides: a container on the lab
# machine's kernel, sharing its CPUs, memory and cgroups, without accelerators. The inventory-level ones
# feed several roles (aifactory.node.role_vars.HOST_CAPABILITIES), the others are a role's own.
CONTAINER_CAPABILITIES = {
    "aifactory_kernel_modules": False,
    "aifactory_accelerator_install_needs_pci": False,
    "aifactory_checks_without_kernel": ["imex_channel", "shared"],
    naming.DEDICATED: False,
    "os_baseline_hostname_now": False,
    "os_baseline_apply_sysctl": False,
    "os_baseline_set_clock": False,
    "scratch_storage_install_packages": False,
    "shared_storage_kernel_clients": False,
}


class LabError(RuntimeError):
    """The lab cannot be brought up or is in a state the command cannot use."""


# Empty loop devices per node by default: the storage stage formats and mounts one as scratch.
SCRATCH_DISKS = 1
# Compute trays the lab boots per rack of a fixed-size rack (NVL72: 18 trays, Trn3: 36 servers) unless
# told otherwise: enough for a rack's canary and its batch, few enough for a two-core machine.
FIXED_RACK_TRAYS = 2
INJECT_TIMEOUT_S = 60  # ssh to a running node to stop a service (a fault in service)


def default_trays_per_rack(f: Factory) -> int:
    """Every node of a rack whose size the site chooses; the first FIXED_RACK_TRAYS of a fixed one."""
    return min(f.nodes_per_rack, FIXED_RACK_TRAYS) if f.platform.nodes_per_rack.fixed else f.nodes_per_rack


def booted(f: Factory, trays_per_rack: int | None) -> list:
    """The nodes a lab boots: the first `trays_per_rack` slots of every rack."""
    limit = default_trays_per_rack(f) if trays_per_rack is None else trays_per_rack
    return [n for n in f.nodes if n.slot <= limit]


def node_hardware(f: Factory, node, faults: list[str]) -> dict:
    """The stand-in hardware profile of a lab node: the platform's, with the driver the spec pins, and
    with the injected `faults`."""
    nvidia = f.software.nvidia
    return hardware.with_faults(hardware.node_profile(f.platform, f.name, node.name, node.rack), faults,
                                str(nvidia.driver_branch) if nvidia else "", nvidia.driver_version if nvidia else None)


def up_nodes(f: Factory, trays_per_rack: int | None = None, faults: dict[str, list[str]] | None = None,
             option: str = "--fault") -> list:
    """The nodes `up` boots; BadInput when --trays-per-rack is out of range or a fault (of `option`) names a node
    left out."""
    if trays_per_rack is not None and not 1 <= trays_per_rack <= f.nodes_per_rack:
        raise BadInput(f"--trays-per-rack must be 1 to {f.nodes_per_rack} for {f.name} (given: {trays_per_rack})")
    lab_nodes = booted(f, trays_per_rack)
    unbooted = sorted(set(faults or {}) - {n.name for n in lab_nodes})
    if unbooted:
        raise BadInput(f"{option}: {', '.join(unbooted)} would not boot (only the first trays of each rack do)")
    return lab_nodes


def inject_faults(f: Factory, state: LabState, faults: dict[str, list[str]]) -> None:
    """Faults that appear while the nodes run (`rehearse --fault-in-service`): each node's hardware profile is
    rewritten with them added to those it booted with, and its stand-in tools report them from their next call; a
    fault that stops a service (hardware.Fault.unit) stops it on the node, behind the bring-up's back. RuntimeError
    when a node does not stop it."""
    by_name = {n.name: n for n in f.nodes}
    for name, kinds in faults.items():
        info = state.nodes[name]
        now = [*info.get("faults", []), *(k for k in kinds if k not in info.get("faults", []))]
        hardware.write_profile(Path(info["root"]), node_hardware(f, by_name[name], now))
        info["faults"] = now
        state.save()
        for unit in filter(None, (hardware.FAULTS[kind].unit(f.platform) for kind in kinds)):
            done = nodes.ssh(state, info["address"], f"systemctl stop {unit}", timeout=INJECT_TIMEOUT_S)
            if done.returncode != 0:
                raise RuntimeError(f"{name}: systemctl stop {unit} exited {done.returncode}: {done.stderr.strip()[-300:]}")


def up(f: Factory, progress: Progress = print, scratch_disks: int = SCRATCH_DISKS, scratch_disk_mb: int = 64,
       trays_per_rack: int | None = None, faults: dict[str, list[str]] | None = None) -> LabState:
    """Bring up every stand-in for `f`; on any failure remove what was made and raise. Only the first
    `trays_per_rack` nodes of each rack boot (default: default_trays_per_rack); the others are left out
    of the inventory through the host overrides (`aifactory_absent`). `faults` ({node: [kind]}, from
    hardware.parse_faults) change those nodes' hardware profiles."""
    lab_nodes = up_nodes(f, trays_per_rack, faults)
    existing = LabState.load(f.name)
    if existing is not None:
        raise LabError(f"a lab for {f.name} is already up (state in {existing.dir}); run `aifactory lab down` first")
    state = LabState(site=f.name)
    state.save()
    try:
        _up(f, state, progress, scratch_disks, scratch_disk_mb, lab_nodes, faults or {})
    except BaseException:
        progress("lab up failed: removing what it made")
        down(f.name, progress)
        raise
    return state


class Trees(NamedTuple):
    """The lab cache's trees a lab boots from and serves: the base root, the vendor repository stand-ins, and
    either the site's mirror bundle (bundle.applies) or the partial Debian mirror stand-in."""

    base: Path
    vendor: Path
    bundle: Path | None
    mirror: Path | None


def cached_trees(f: Factory, progress: Progress = print) -> Trees:
    """The lab cache's trees for a lab of `f`, each built first when absent, under the cache's lock; then the
    cache is brought within its bound (aifactory.lab.cache), these trees kept."""
    with base.cache_lock(progress):
        root = base.ensure_base(progress)
        vendor_root = vendor_repos.ensure(progress)
        if bundle.applies(f):
            trees = Trees(root, vendor_root, bundle.ensure(f, vendor_root, progress), None)
        else:
            trees = Trees(root, vendor_root, None,
                          mirror.ensure(base.configured_mirror(), root, mirror.node_installs(f), progress))
        used = [root, vendor_root.parent, trees.bundle or trees.mirror]
        for tree in used:
            cache.touch(tree)
        cache.evict(used, progress)
    return trees


def prepare(sites: list[Factory], progress: Progress = print) -> None:
    """Build the lab cache's trees for labs of these sites ahead of `lab up`, starting nothing: `make test` does it
    while the unit tests run, so the lab scenarios do not wait for it on their first lab."""
    for f in sites:
        cached_trees(f, progress)


def _up(f: Factory, state: LabState, progress: Progress, scratch_disks: int, scratch_disk_mb: int,
        lab_nodes: list, faults: dict[str, list[str]]) -> None:
    trees = cached_trees(f, progress)
    root = trees.base
    progress("AWS stand-in: starting moto_server on 127.0.0.1")
    state.endpoints["aws"] = aws.start(state)
    progress(f"AWS stand-in: moto_server at {state.endpoints['aws']}")
    systems = [(n.name, n.address) for n in lab_nodes] + [(t.name, t.bmc_address) for t in f.switch_trays]
    progress(f"BMC stand-in: starting sushy-emulator (fake driver) for {len(systems)} systems "
             f"({len(lab_nodes)} nodes, {len(f.switch_trays)} NVLink switch trays), powered off")
    state.endpoints["bmc"] = redfish.start(state, systems, f.compute.platform)
    progress(f"BMC stand-in: sushy-emulator at {state.endpoints['bmc']}")
    state.save()

    host_net = ipaddress.IPv4Network(f.network.host_cidr)
    bridge = network.create_bridge(state, f.network.host_cidr)
    progress(f"network: bridge {bridge} with {network.gateway(f.network.host_cidr)} (lab-only, no route out)")
    gateway = str(network.gateway(f.network.host_cidr).ip)
    table = reached.start(state, bridge, f.network.host_cidr, gateway)
    progress(f"network: every flow the nodes open to the gateway or beyond recorded (nftables table {table})")
    state.endpoints["vendor_root"] = str(trees.vendor)
    if trees.bundle is not None:
        progress(f"mirror bundle: {bundle.verify(trees.bundle, state.dir / 'bundle.log')}")
        state.endpoints["bundle"] = bundle.start(state, trees.bundle, gateway)
        state.endpoints["bundle_dir"] = str(trees.bundle)
        state.endpoints["apt"] = f"{state.endpoints['bundle']}/apt"
        progress(f"mirror bundle: served at {state.endpoints['bundle']}, the nodes' only package source (Debian "
                 f"{base.SUITE} and the vendor repository stand-ins as `aifactory mirror build` fetched them)")
    else:
        state.endpoints["apt"] = mirror.start(state, trees.mirror, gateway)
        progress(f"APT mirror stand-in: {state.endpoints['apt']} (partial copy of Debian {base.SUITE}, signed "
                 f"indexes; no mirror bundle: this site's nodes are {f.platform.cpu_architecture.debian}, this "
                 f"machine's containers {vendor_repos.architecture()})")
        state.endpoints["vendor"] = vendor_repos.start(state, trees.vendor, gateway)
        progress(f"vendor repository stand-ins: {state.endpoints['vendor']} (CUDA, DOCA, Neuron, EFA as the vendors "
                 f"lay them out, {vendor_repos.architecture()} only, signed by the lab's key; stand-in tools inside)")
    aws.start_link(state, f.sovereignty.region, gateway)
    progress(f"AWS link stand-ins on {gateway}: DNS for the plan's private endpoint names, HTTPS (lab CA) in front "
             f"of moto_server, the signing helper and SSM agent stand-ins at {state.endpoints['aws_downloads']}")
    state.save()
    if len(lab_nodes) < len(f.nodes):
        progress(f"nodes: booting {len(lab_nodes)} of {len(f.nodes)} (the first {max(n.slot for n in lab_nodes)} "
                 f"of each rack); the others are left out of the inventory")
    hosts = {n.name: n.address for n in [*lab_nodes, *f.head_nodes]}
    nodes.lab_key(state)
    booting = []
    for index, n in enumerate(lab_nodes, start=1):
        ns = network.create_node_netns(state, bridge, n.name, index, n.address, host_net.prefixlen)
        node_root = nodes.mount_overlay(state, root, n.name)
        nodes.seed(state, node_root, n.name, hosts)
        aws.seed_node(state, node_root, n.name, gateway)
        if f.monitoring.enabled:
            monitoring.seed(state, node_root, n.name, n.address, head=False)
        node_faults = faults.get(n.name, [])
        hardware.write_profile(node_root, node_hardware(f, n, node_faults))
        if node_faults:
            progress(f"node stand-in {n.name}: hardware profile with faults "
                     + "; ".join(f"{k} ({hardware.FAULTS[k].description})" for k in node_faults))
        disks = [_attach_loop(state, n.name, i, scratch_disk_mb) for i in range(scratch_disks)]
        progress(f"node stand-in {n.name}: booting {base.RELEASE} ({base.SUITE}) systemd-nspawn container at {n.address}"
                 + (f" with scratch disks {', '.join(disks)}" if disks else ""))
        ident = nodes.boot(state, n.name, node_root, ns, disks)
        state.nodes[n.name] = {"address": n.address, "netns": ns, "root": str(node_root), "disks": disks,
                               "process": ident, "faults": node_faults}
        state.save()
        booting.append((n, ident))
    # The scheduler's head nodes (docs/scheduler.md): containers like the nodes, at their own addresses,
    # without hardware profile, BMC or scratch disk.
    for index, h in enumerate(f.head_nodes, start=len(lab_nodes) + 1):
        ns = network.create_node_netns(state, bridge, h.name, index, h.address, host_net.prefixlen)
        head_root = nodes.mount_overlay(state, root, h.name)
        nodes.seed(state, head_root, h.name, hosts)
        aws.seed_node(state, head_root, h.name, gateway)
        if f.monitoring.enabled:
            monitoring.seed(state, head_root, h.name, h.address, head=True)
        progress(f"head node stand-in {h.name} ({', '.join(h.services)}): booting {base.RELEASE} systemd-nspawn "
                 f"container at {h.address}")
        ident = nodes.boot(state, h.name, head_root, ns, [])
        state.nodes[h.name] = {"address": h.address, "netns": ns, "root": str(head_root), "disks": [],
                               "process": ident, "faults": [], "head_node": True}
        state.save()
        booting.append((h, ident))
    for n, ident in booting:
        nodes.wait_ssh(state, n.name, n.address, ident)
        progress(f"node stand-in {n.name}: up, ssh root@{n.address} answers")
    write_overrides(f, state)
    bringup.forget_facts([n.name for n in [*lab_nodes, *f.head_nodes]], dict(os.environ))  # facts of a previous lab's nodes
    (state.dir / ENV_FILE).write_text(
        f"AIFACTORY_AWS_ENDPOINT={state.endpoints['aws']}\nAIFACTORY_HOST_OVERRIDES={state.dir / OVERRIDES_FILE}\n"
        f"AIFACTORY_STACK_OUTPUTS={aws.stack_outputs_path(state)}\n")
    progress(f"lab up: host overrides in {state.dir / OVERRIDES_FILE}; AWS endpoint {state.endpoints['aws']}")


def _attach_loop(state: LabState, node: str, index: int, size_mb: int) -> str:
    """An empty sparse file behind a loop device, passed into the node as a scratch disk."""
    backing = nodes.node_dir(state, node) / f"disk{index}.img"
    with backing.open("wb") as fh:
        fh.truncate(size_mb * 1024 * 1024)
    dev = subprocess.run(["losetup", "--find", "--show", str(backing)], check=True,
                         capture_output=True, text=True).stdout.strip()
    state.record("loop", device=dev, backing=str(backing))
    return dev


def write_overrides(f: Factory, state: LabState) -> Path:
    """Point every inventory host at its stand-in: nodes over SSH (root, packages from the lab's mirror,
    their loop devices as the scratch devices), BMC hosts (nodes' and switch trays') at the emulator.
    Nodes the lab did not boot, and their BMCs, are marked absent."""
    key = nodes.lab_key(state)
    common = " ".join(nodes.ssh_options(state)[:6])
    overrides: dict[str, dict] = {}
    node_vars = node_role_vars(f, state)
    for n in f.nodes:
        if n.name not in state.nodes:
            overrides[n.name] = overrides[naming.bmc_host(n.name)] = {naming.ABSENT: True}
            continue
        disks = state.nodes.get(n.name, {}).get("disks") or []
        overrides[n.name] = {"ansible_host": n.address, "ansible_user": "root",
                             "ansible_ssh_private_key_file": str(key), "ansible_ssh_common_args": common,
                             "ansible_python_interpreter": "/usr/bin/python3", **CONTAINER_CAPABILITIES,
                             **node_vars, **({"scratch_storage_devices": disks} if disks else {})}
        # BMC hosts run their Redfish modules on the controller (ansible_connection: local), with
        # this interpreter: the one that has the collections' Python dependencies.
        overrides[naming.bmc_host(n.name)] = {"bmc_endpoint": state.endpoints["bmc_systems"][n.name],
                                      "bmc_system_id": redfish.system_uuid(f.name, n.name),
                                      "ansible_python_interpreter": sys.executable}
    for h in f.head_nodes:
        overrides[h.name] = {"ansible_host": h.address, "ansible_user": "root", "ansible_ssh_private_key_file": str(key),
                             "ansible_ssh_common_args": common, "ansible_python_interpreter": "/usr/bin/python3",
                             **CONTAINER_CAPABILITIES, **node_vars}
    for t in f.switch_trays:
        overrides[naming.bmc_host(t.name)] = {"bmc_endpoint": state.endpoints["bmc_systems"][t.name],
                                      "bmc_system_id": redfish.system_uuid(f.name, t.name),
                                      "ansible_python_interpreter": sys.executable}
    path = state.dir / OVERRIDES_FILE
    path.write_text(json.dumps(overrides, indent=2) + "\n")
    return path


def node_role_vars(f: Factory, state: LabState) -> dict:
    """Role settings for a lab node, as on an air-gapped site: APT only from the lab's mirror
    stand-in; the gateway as NTP server (chrony is installed and configured, but nothing answers NTP
    there and a stand-in keeps the host's clock); the vendors' repositories from the lab's stand-ins.
    What a container lacks is CONTAINER_CAPABILITIES; DOCA-OFED installs without an RDMA device because
    the lab stands in for DOCA's repository (for no distribution rdma-core)."""
    doca = (f.software.nvidia.doca_ofed or "") if f.software.nvidia else ""
    served = state.endpoints.get("bundle") or state.endpoints["vendor"]
    return {"os_baseline_air_gapped": True, "os_baseline_apt_mirror": state.endpoints["apt"],
            "os_baseline_ntp_servers": [str(network.gateway(f.network.host_cidr).ip)],
            "rdma_fabric_install_needs_pci": not doca,
            **vendor_repos.role_vars(served, Path(state.endpoints["vendor_root"]), vendor_repos.architecture(), doca),
            **aws.role_vars(state),
            **(bundle.role_vars_of(Path(state.endpoints["bundle_dir"]), served) if "bundle" in state.endpoints else {})}


STAND_IN_NAMES = {"netns": "network namespace", "link": "link", "mount": "node root (overlay)",
                  "cgroup": "node cgroup", "loop": "scratch disk (loop)", "nft": "flow record (nftables table)"}


def resource_id(item: dict) -> str:
    return {"process": f"pid {item.get('pid')}", "netns": item.get("name"), "link": item.get("name"),
            "mount": item.get("path"), "cgroup": item.get("path"), "loop": item.get("device"), "nft": item.get("table")}[item["kind"]]


def resource_present(item: dict) -> bool:
    """Whether a recorded resource still exists on this machine (checked by its recorded id)."""
    kind = item["kind"]
    if kind == "process":
        return procs.alive(item)
    if kind == "netns":
        return network.netns_exists(item["name"])
    if kind == "link":
        return network.link_exists(item["name"])
    if kind == "mount":
        return _mounted(item["path"])
    if kind == "cgroup":
        return cgroups.exists(item["path"])
    if kind == "nft":
        return reached.exists(item["table"])
    return _loop_attached(item)


def status(site: str) -> dict | None:
    """Whether each stand-in of the site's lab is running; None when no lab is up for it."""
    state = LabState.load(site)
    if state is None:
        return None
    rows = [{"stand_in": item["role"] if item["kind"] == "process" else STAND_IN_NAMES[item["kind"]],
             "id": resource_id(item), "up": resource_present(item)} for item in state.resources]
    return {"site": site, "state_dir": str(state.dir), "endpoints": state.endpoints,
            "host_overrides": str(state.dir / OVERRIDES_FILE), "resources": rows}


def stop_node(site: str, node: str) -> None:
    """Power a node's container off abruptly (the lab's way to fail a node mid-run): SIGKILL every
    process in the node's cgroup, its container's init included, and wait until none is left."""
    state = _require(site)
    _empty_cgroup(cgroups.relative_path(site, node))
    procs.stop(state.nodes[node]["process"], grace_s=0)  # reaps the supervisor when it is our child


def _empty_cgroup(rel: str) -> None:
    """SIGKILL every process in the node cgroup `rel` and below, and wait until none is left."""
    cgroups.kill(rel)
    if not procs.wait_until(lambda: not cgroups.populated(rel), 30):
        raise LabError(f"cgroup {rel} still has processes after SIGKILL")


def start_node(site: str, node: str) -> None:
    """Boot a stopped node again on its existing root and network, and wait for SSH."""
    state = _require(site)
    info = state.nodes[node]
    if procs.alive(info["process"]):
        return
    old = next(r for r in state.resources if r["kind"] == "process" and r["pid"] == info["process"]["pid"])
    state.forget(old)
    # Power on is a fresh boot: the killed container's systemd left its unit cgroups behind, and a new
    # systemd that finds them sees its services die with SIGKILL as they start (tmpfiles, munge).
    cgroups.remove(cgroups.relative_path(site, node))
    ident = nodes.boot(state, node, Path(info["root"]), info["netns"], info["disks"])
    info["process"] = ident
    state.save()
    nodes.wait_ssh(state, node, info["address"], ident)


def _require(site: str) -> LabState:
    state = LabState.load(site)
    if state is None:
        raise LabError(f"no lab is up for {site}")
    return state


def down(site: str, progress: Progress = print) -> bool:
    """Remove everything the site's lab recorded, newest first; False when there was no lab."""
    state = LabState.load(site)
    if state is None:
        return False
    # Every node goes at once and abruptly, as stop_node powers one off: what a node wrote is removed below, so its
    # systemd stopping its services first (a minute for a brought-up lab-gb200, Slurm and MariaDB among them,
    # past the 30 s grace) would only be waited for. A node process outside a cgroup is told to stop.
    for item in state.resources:
        if item["kind"] == "cgroup":
            cgroups.kill(item["path"])
    nodes_told = [item for item in state.resources if item["kind"] == "process" and item["role"].startswith(nodes.PROCESS_ROLE)]
    for item in nodes_told:
        procs.terminate(item)
    for item in reversed(list(state.resources)):
        kind = item["kind"]
        if kind == "process":
            progress(f"stopping {item['role']} (pid {item['pid']})")
            procs.stop(item, terminated=item in nodes_told)
        elif kind == "mount":
            subprocess.run(["umount", item["path"]], check=False, capture_output=True)
        elif kind == "loop":
            if _loop_attached(item):
                subprocess.run(["losetup", "-d", item["device"]], check=False, capture_output=True)
        elif kind == "cgroup":
            # The node's supervisor is stopped (its process record comes after this one), but a container's
            # services may outlive it for a moment (munged did): what is left is killed before the removal.
            _empty_cgroup(item["path"])
            cgroups.remove(item["path"])
        elif kind == "link":
            network.remove_link(item["name"])
        elif kind == "netns":
            network.remove_netns(item["name"])
        elif kind == "nft":
            reached.remove(item["table"])
        state.forget(item)
    for node in state.nodes:
        nodes.remove_node_files(state, node)
    removed_keys = remove_private_keys(state)
    state.remove()
    progress(f"lab down: {site} removed (namespaces, links, mounts, loop devices, processes, {removed_keys} key files)")
    return True


def remove_private_keys(state: LabState) -> int:
    """Delete the private keys the lab made (its SSH key, CA, TLS and node keys; logs stay for reading): a lab
    that is down leaves no key on disk. The count removed."""
    # The stand-ins' folders; the nodes' roots are gone already (remove_node_files).
    stand_in_dirs = [d for d in state.dir.iterdir() if d.is_dir() and not d.is_symlink() and d.name != "nodes"]
    found = [key for d in stand_in_dirs for key in d.rglob("*.key")] + list(nodes.ssh_dir(state).glob("id_*"))
    keys = [key for key in found if key.is_file() and not key.is_symlink()]
    for key in keys:
        key.unlink()
    return len(keys)


def _mounted(path: str) -> bool:
    return any(line.split()[1] == path for line in Path("/proc/mounts").read_text().splitlines())


def _loop_attached(item: dict) -> bool:
    out = subprocess.run(["losetup", "-n", "-O", "BACK-FILE", item["device"]], capture_output=True, text=True)
    return out.returncode == 0 and out.stdout.strip() == item["backing"]
