"""The spec as role variables: what each role of `playbooks/roles` needs, computed once, in Python.

In the manner of kubespray's group_vars: the roles' `defaults/main.yml` hold plain values that a
user without the aifactory inventory can set by hand; the inventory (`aifactory.inventory`) sets
these variables for every node of a factory instead. One function per role, named after it.
"""

from __future__ import annotations

from aifactory.spec import Factory

# Roles that act differently on a lab stand-in (no accelerator, no kernel of its own); the lab
# marks its hosts with `aifactory_stand_in: true` and each of these roles gets `<role>_stand_in`.
STAND_IN_ROLES = ("os_baseline", "nvidia_gpu", "neuron", "rdma_fabric", "scratch_storage", "shared_storage",
                  "aws_node_identity", "acceptance")


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
    return {
        "nvidia_gpu_driver_branch": nvidia.driver_branch,
        "nvidia_gpu_driver_version": nvidia.driver_version or "",
        "nvidia_gpu_fabric": f.platform.expected.fabric,
        "nvidia_gpu_repo_url": f.software.mirrors.nvidia or "",
    }


def neuron_vars(f: Factory) -> dict:
    neuron = f.software.neuron
    if neuron is None:
        return {}
    return {
        "neuron_release": neuron.release,
        "neuron_repo_url": f.software.mirrors.neuron or "",
    }


def rdma_fabric_vars(f: Factory) -> dict:
    nvidia = f.software.nvidia
    return {
        "rdma_fabric_doca_ofed": (nvidia.doca_ofed or "") if nvidia else "",
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


def acceptance_vars(f: Factory, aws: dict) -> dict:
    nvidia = f.software.nvidia
    return {
        "acceptance_expected": f.platform.expected.model_dump(),
        "acceptance_software_stack": f.platform.software_stack,
        "acceptance_driver_branch": nvidia.driver_branch if nvidia else "",
        "acceptance_driver_version": (nvidia.driver_version or "") if nvidia else "",
        "acceptance_scratch_mount": f.storage.scratch.mount,
        "acceptance_shared_mounts": [m.model_dump() for m in f.storage.shared],
        "acceptance_endpoint_dns": aws.get("endpoint_dns") or {},
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
