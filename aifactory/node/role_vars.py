"""The spec as role variables: what each role of `playbooks/roles` needs, computed once, in Python.

In the manner of kubespray's group_vars: the roles' `defaults/main.yml` hold plain values that a
user without the aifactory inventory can set by hand; the inventory (`aifactory.node.inventory`) sets
these variables for every node of a factory instead. One function per role, named after it.
"""

from __future__ import annotations

from aifactory import scheduler
from aifactory.node.mirror_keyring import nodes_keyring
from aifactory.scheduler import health_program
from aifactory.spec import Factory
from aifactory.spec.naming import DEDICATED

# Vendor download roots. `software.mirrors.nvidia` mirrors NVIDIA's trees under the same paths
# (`<mirror>/compute/cuda/repos/...` as on developer.download.nvidia.com, `<mirror>/doca/...` as under
# linux.mellanox.com/public/repo); `software.mirrors.neuron` mirrors apt.repos.neuron.amazonaws.com at
# its root, with the EFA installer tarballs beside it.
NVIDIA_DOWNLOADS = "https://developer.download.nvidia.com"
MELLANOX_REPO = "https://linux.mellanox.com/public/repo"
NEURON_REPO = "https://apt.repos.neuron.amazonaws.com"
EFA_INSTALLER = "https://efa-installer.amazonaws.com"
# Where `software.mirrors.apt` serves the SSM agent's package (AWS's own path below its regional bucket).
SSM_AGENT_ON_MIRROR = "amazon-ssm-agent/latest/debian_{arch}/amazon-ssm-agent.deb"
# AWS's releases of the Roles Anywhere signing helper, and where `software.mirrors.apt` serves the same tree.
SIGNING_HELPER_RELEASES = "https://rolesanywhere.amazonaws.com/releases"
SIGNING_HELPER_ON_MIRROR = "rolesanywhere/releases"
# The key of the Bedrock runtime endpoint in the stack output `endpoint_dns` (infra/private_services.py).
BEDROCK_SERVICE = "bedrock-runtime"

# What a host can do, as each role's own variables (defaults/main.yml: the production value, a machine
# with its own kernel and devices). A host that lacks something (a container) sets them false.
ROLE_CAPABILITIES = {
    "os_baseline": ("os_baseline_hostname_now", "os_baseline_apply_sysctl", "os_baseline_set_clock"),
    "nvidia_gpu": ("nvidia_gpu_install_needs_pci", "nvidia_gpu_kernel_modules"),
    "neuron": ("neuron_install_needs_pci", "neuron_kernel_modules"),
    "rdma_fabric": ("rdma_fabric_install_needs_pci", "rdma_fabric_kernel_modules"),
    "scratch_storage": ("scratch_storage_install_packages", "scratch_storage_kernel_modules"),
    "shared_storage": ("shared_storage_kernel_clients",),
    "acceptance": ("acceptance_checks_without_kernel",),
    "slurm": ("slurm_health_checks_without_kernel",),
}
# Capabilities several roles act on, as inventory-level host variables (host overrides), each fed to the
# role variables it stands for; a role variable set in the same overrides wins.
HOST_CAPABILITIES = {
    # Kernel modules can be loaded (and built) for the host's kernel; the accelerators' device files
    # (Slurm's Gres) come from them.
    "aifactory_kernel_modules": ("nvidia_gpu_kernel_modules", "neuron_kernel_modules", "rdma_fabric_kernel_modules",
                                 "scratch_storage_kernel_modules"),
    # The accelerators' vendor stack is installed only where their PCI device is.
    "aifactory_accelerator_install_needs_pci": ("nvidia_gpu_install_needs_pci", "neuron_install_needs_pci"),
    # Acceptance checks that need a kernel (a loaded driver's device nodes, a filesystem client) the host
    # does not have: reported as skipped, and an `incomplete` made of them passes a rollout gate.
    "aifactory_checks_without_kernel": ("acceptance_checks_without_kernel", "slurm_health_checks_without_kernel"),
}
# Capabilities of the Slurm cluster's files, which every host shares: the files lack what one host lacks.
# `aifactory_dedicated_resources`: the host's CPUs, memory and cgroups are its own (false: a container
# sharing them with the machine it runs on).
CLUSTER_CAPABILITIES = ("aifactory_kernel_modules", DEDICATED)
_FED = {v for fed in HOST_CAPABILITIES.values() for v in fed}
# Switches that named the lab instead of a capability (refused in host overrides): the variables to set instead.
OLD_STAND_IN_SWITCHES = {
    "aifactory_stand_in": (*HOST_CAPABILITIES, DEDICATED,
                           *(v for names in ROLE_CAPABILITIES.values() for v in names if v not in _FED)),
    **{f"{role}_stand_in": names for role, names in ROLE_CAPABILITIES.items()},
}


def capability_vars(host_vars: dict) -> dict:
    """The role variables the inventory-level capabilities in a host's variables stand for."""
    return {role_var: host_vars[name] for name, fed in HOST_CAPABILITIES.items() if name in host_vars
            for role_var in fed}


def cluster_capabilities(host_vars: list[dict]) -> dict[str, bool]:
    """{capability: whether every host has it} of CLUSTER_CAPABILITIES (unset: has it)."""
    return {name: all(v.get(name, True) is not False for v in host_vars) for name in CLUSTER_CAPABILITIES}


def mirror_keyring_path(site: str) -> str:
    """Where the nodes keep the OpenPGP keyring of the site's mirror key."""
    return f"/usr/share/keyrings/aifactory-{site}-mirror.gpg"


def mirror_keyring_vars(f: Factory) -> dict:
    """With software.mirror_public_key_file: each role whose APT source the site's mirror serves copies the
    site's keyring (committed beside the public key, checked against it) to the nodes and names it in
    Signed-By; a source still at its vendor keeps the vendor's key."""
    mirrors = f.software.mirrors
    served = [role for role, mirror in (("os_baseline", mirrors.apt), ("nvidia_gpu", mirrors.nvidia),
                                        ("rdma_fabric", mirrors.nvidia), ("neuron", mirrors.neuron)) if mirror]
    keyring = nodes_keyring(f) if served else None
    if keyring is None:
        return {}
    return {name: value for role in served for name, value in (
        (f"{role}_mirror_keyring", mirror_keyring_path(f.name)),
        (f"{role}_mirror_keyring_src", str(keyring.absolute())))}


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
    """With an APT mirror, the SSM agent's package and the signing helper's releases from it, where a mirror bundle
    holds them (SSM_AGENT_ON_MIRROR, SIGNING_HELPER_ON_MIRROR); the spec's signing helper release, if it names one."""
    mirror, arch = f.software.mirrors.apt, f.platform.cpu_architecture
    helper = f.identity.signing_helper
    return {
        "aws_node_identity_region": aws.get("region") or f.sovereignty.region,
        "aws_node_identity_outputs": aws,
        **({"aws_node_identity_ssm_agent_url": f"{mirror}/{SSM_AGENT_ON_MIRROR.format(arch=arch.debian)}"}
           if mirror and f.identity.ssm_hybrid_activation else {}),
        **({"aws_node_identity_signing_helper_url": f"{mirror}/{SIGNING_HELPER_ON_MIRROR}"} if mirror else {}),
        **({"aws_node_identity_signing_helper_version": helper.version,
            "aws_node_identity_signing_helper_sha256": {arch.value: helper.sha256}} if helper else {}),
    }


def rack_vars(f: Factory, rack_group: str) -> dict:
    """Role variables of one rack's inventory group: the rack its nodes report under and, on NVL72,
    the NVLink domain, whose nodes are each other's IMEX peers."""
    imex = f.software.nvidia is not None and f.platform.nvlink_domain == "rack"
    return {"acceptance_rack": rack_group, **({"nvidia_gpu_imex_group": rack_group} if imex else {})}


def acceptance_vars(f: Factory, aws: dict) -> dict:
    """What a node of this factory should be (`acceptance_expected`); the role's verdict compares the
    node's tools with it."""
    return {
        "acceptance_expected": acceptance_expected(f, aws),
        "acceptance_software_stack": f.platform.software_stack,
        "acceptance_platform": f.compute.platform,
    }


def acceptance_expected(f: Factory, aws: dict) -> dict:
    """The one profile aifactory.node.parsers.acceptance.evaluate judges a node by: the platform's expected
    hardware (catalog `expected`), the pinned driver, the fabric, the mounts and the Bedrock endpoint's
    DNS name ("" without stack outputs: its checks come back skipped)."""
    nvidia = f.software.nvidia
    return {
        **f.platform.expected.model_dump(),
        "driver_branch": str(nvidia.driver_branch) if nvidia else "",
        "driver_version": (nvidia.driver_version or "") if nvidia else "",
        "network_fabric": f.network.fabric,
        "scratch_mount": f.storage.scratch.mount,
        "shared_mounts": [m.model_dump() for m in f.storage.shared],
        "bedrock_endpoint": (aws.get("endpoint_dns") or {}).get(BEDROCK_SERVICE, ""),
    }


def scheduler_vars(f: Factory, absent: list[str] | tuple[str, ...] = (), kernel_modules: bool = True,
                   dedicated_resources: bool = True) -> dict:
    """The munge, slurm and slurmdbd roles' variables, for every host of the Slurm cluster (head nodes
    and nodes): the configuration files as `aifactory.scheduler` generates them, written verbatim, and the
    node health check's zipapp, built into the state directory (`aifactory.scheduler.health_program`).
    `absent` nodes (not in the inventory: out for repair, not booted in the lab) are FUTURE nodes;
    without `kernel_modules` the nodes have no accelerator device files, without `dedicated_resources`
    no CPUs, memory and cgroups of their own (`aifactory.scheduler.config_files`)."""
    accounting = next((h for h in f.head_nodes if "slurmdbd" in h.services), None)
    return {
        "slurm_conf_files": scheduler.config_files(f, absent=absent, accelerator_devices=kernel_modules,
                                                   dedicated_resources=dedicated_resources),
        "slurm_controllers": [h.name for h in scheduler.controller_nodes(f)],
        "slurm_state_dir": f.scheduler.state_dir,
        "slurm_health_expected": scheduler.health_expected(f),
        "slurm_health_program_source": str(health_program.cached_program()),
        **({"slurmdbd_cluster_name": f.name, "slurmdbd_conf": scheduler.slurmdbd_conf(f),
            "slurmdbd_database": scheduler.ACCOUNTING_DB, "slurmdbd_database_user": scheduler.ACCOUNTING_DB_USER}
           if accounting else {}),
    }


def role_vars(f: Factory, aws: dict) -> dict:
    """Every role variable the spec sets, for the group of all nodes."""
    return {
        **os_baseline_vars(f),
        **mirror_keyring_vars(f),
        **nvidia_gpu_vars(f),
        **neuron_vars(f),
        **rdma_fabric_vars(f),
        **scratch_storage_vars(f),
        **shared_storage_vars(f),
        **aws_node_identity_vars(f, aws),
        **acceptance_vars(f, aws),
    }
