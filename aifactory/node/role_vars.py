"""The spec as role variables: what each role of `playbooks/roles` needs, computed once, in Python.

In the manner of kubespray's group_vars: the roles' `defaults/main.yml` hold plain values that a
user without the aifactory inventory can set by hand; the inventory (`aifactory.node.inventory`) sets
these variables for every node of a factory instead. One function per role, named after it.
"""

from __future__ import annotations

from pathlib import Path

from aifactory import scheduler
from aifactory.spec import Factory

# Vendor download roots. `software.mirrors.nvidia` mirrors NVIDIA's trees under the same paths
# (`<mirror>/compute/cuda/repos/...` as on developer.download.nvidia.com, `<mirror>/doca/...` as under
# linux.mellanox.com/public/repo); `software.mirrors.neuron` mirrors apt.repos.neuron.amazonaws.com at
# its root, with the EFA installer tarballs beside it.
NVIDIA_DOWNLOADS = "https://developer.download.nvidia.com"
MELLANOX_REPO = "https://linux.mellanox.com/public/repo"
NEURON_REPO = "https://apt.repos.neuron.amazonaws.com"
EFA_INSTALLER = "https://efa-installer.amazonaws.com"

# Roles that act differently on a lab stand-in (no accelerator, no kernel of its own); the lab
# marks its hosts with `aifactory_stand_in: true` and each of these roles gets `<role>_stand_in`.
STAND_IN_ROLES = ("os_baseline", "nvidia_gpu", "neuron", "rdma_fabric", "scratch_storage", "shared_storage",
                  "acceptance", "slurm")


def stand_in_vars(stand_in: bool) -> dict:
    """The one stand-in switch, spelled as each role's own variable."""
    return {f"{role}_stand_in": bool(stand_in) for role in STAND_IN_ROLES}


def os_baseline_vars(f: Factory) -> dict:
    return {
        "os_baseline_domain": f.network.domain,
        "os_baseline_air_gapped": f.air_gapped,
        "os_baseline_apt_mirror": f.software.mirrors.apt or "",
    }


def nvidia_gpu_vars(f: Factory) -> dict:
    nvidia = f.software.nvidia
    if nvidia is None:
        return {}
    arch = f.platform.cpu_architecture
    return {
        "nvidia_gpu_driver_branch": nvidia.driver_branch,
        "nvidia_gpu_driver_version": nvidia.driver_version or "",
        "nvidia_gpu_fabric": f.platform.expected.fabric,
        "nvidia_gpu_repo_url": f"{f.software.mirrors.nvidia or NVIDIA_DOWNLOADS}/compute/cuda/repos",
        "nvidia_gpu_repo_arch": arch.cuda_repo,
        "nvidia_gpu_apt_arch": arch.debian,
    }


def neuron_vars(f: Factory) -> dict:
    neuron = f.software.neuron
    if neuron is None:
        return {}
    mirror = f.software.mirrors.neuron
    return {
        "neuron_release": neuron.release,
        "neuron_repo_url": mirror or NEURON_REPO,
        "neuron_apt_arch": f.platform.cpu_architecture.debian,
        "neuron_efa_installer_url": mirror or EFA_INSTALLER,
    }


def rdma_fabric_vars(f: Factory) -> dict:
    doca = (f.software.nvidia.doca_ofed or "") if f.software.nvidia else ""
    arch = f.platform.cpu_architecture
    return {
        "rdma_fabric_doca_ofed": doca,
        **({"rdma_fabric_doca_repo_url": f"{f.software.mirrors.nvidia or MELLANOX_REPO}/doca",
            "rdma_fabric_doca_arch": arch.doca_repo,
            "rdma_fabric_apt_arch": arch.debian} if doca else {}),
        "rdma_fabric_kind": f.network.fabric,
        "rdma_fabric_mtu": f.network.mtu,
        "rdma_fabric_min_rate_gbps": f.platform.expected.ib_rate_gbps,
    }


def scratch_storage_vars(f: Factory) -> dict:
    scratch = f.storage.scratch
    return {
        "scratch_storage_mount": scratch.mount,
        "scratch_storage_filesystem": scratch.filesystem,
        "scratch_storage_devices": scratch.devices,
    }


def shared_storage_vars(f: Factory) -> dict:
    return {"shared_storage_mounts": [m.model_dump() for m in f.storage.shared]}


def aws_node_identity_vars(f: Factory, aws: dict) -> dict:
    return {
        "aws_node_identity_region": aws.get("region") or f.sovereignty.region,
        "aws_node_identity_outputs": aws,
    }


def rack_vars(f: Factory, rack_group: str) -> dict:
    """Role variables of one rack's inventory group: the rack its nodes report under and, on NVL72,
    the NVLink domain, whose nodes are each other's IMEX peers."""
    imex = f.software.nvidia is not None and f.platform.nvlink_domain == "rack"
    return {"acceptance_rack": rack_group, **({"nvidia_gpu_imex_group": rack_group} if imex else {})}


def acceptance_vars(f: Factory, aws: dict) -> dict:
    """What a node of this factory should be; the role's verdict compares the node's tools with it."""
    nvidia = f.software.nvidia
    expected = f.platform.expected
    return {
        "acceptance_expected": expected.model_dump(),
        "acceptance_software_stack": f.platform.software_stack,
        "acceptance_platform": f.compute.platform,
        "acceptance_driver_branch": str(nvidia.driver_branch) if nvidia else "",
        "acceptance_driver_version": (nvidia.driver_version or "") if nvidia else "",
        "acceptance_network_fabric": f.network.fabric,
        "acceptance_dcgm_diag_level": expected.dcgm_diag_level,
        "acceptance_scratch_mount": f.storage.scratch.mount,
        "acceptance_shared_mounts": [m.model_dump() for m in f.storage.shared],
        "acceptance_endpoint_dns": aws.get("endpoint_dns") or {},
    }


def scheduler_vars(f: Factory, absent: list[str] | tuple[str, ...] = (), stand_in: bool = False) -> dict:
    """The munge, slurm and slurmdbd roles' variables, for every host of the Slurm cluster (head nodes
    and nodes): the configuration files as `aifactory.scheduler` generates them, written verbatim.
    `absent` nodes (not in the inventory: out for repair, not booted in the lab) are FUTURE nodes;
    `stand_in`: the nodes are lab stand-ins, whose files differ in the smallest way."""
    accounting = next((h for h in f.head_nodes if "slurmdbd" in h.services), None)
    return {
        "slurm_conf_files": scheduler.config_files(f, stand_in=stand_in, absent=absent),
        "slurm_controllers": [h.name for h in f.head_nodes if h.services[0].startswith("slurmctld")],
        "slurm_state_dir": f.scheduler.state_dir,
        "slurm_health_expected": scheduler.health_expected(f),
        "slurm_health_source": str(Path(scheduler.__file__).resolve().parent.parent),
        "slurm_health_modules": list(scheduler.HEALTH_MODULES),
        **({"slurmdbd_cluster_name": f.name, "slurmdbd_conf": scheduler.slurmdbd_conf(f),
            "slurmdbd_database": scheduler.ACCOUNTING_DB, "slurmdbd_database_user": scheduler.ACCOUNTING_DB_USER}
           if accounting else {}),
    }


def role_vars(f: Factory, aws: dict) -> dict:
    """Every role variable the spec sets, for the group of all nodes."""
    return {
        **os_baseline_vars(f),
        **nvidia_gpu_vars(f),
        **neuron_vars(f),
        **rdma_fabric_vars(f),
        **scratch_storage_vars(f),
        **shared_storage_vars(f),
        **aws_node_identity_vars(f, aws),
        **acceptance_vars(f, aws),
    }
