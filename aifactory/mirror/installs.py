"""What a site's nodes install, and from which upstream repositories: the one list behind the mirror.

The package lists are the roles' own variables (`munge_packages`, `__nvidia_gpu_package_names`, ...),
evaluated by Ansible's templating engine with the site's role variables (aifactory.node.role_vars) and
the facts of the site's OS release and CPU architecture, exactly as a converge would evaluate them: a role
that installs a package more adds it to its list and the bill of materials has it. Upstream URLs are
the role variables of the same site without its mirrors (the places a staging host fetches from).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

from aifactory.core import project
from aifactory.node.role_vars import role_vars
from aifactory.spec import Factory

# compute.node_os -> the Ansible facts the roles read of it.
OS_FACTS = {
    "debian-12": {"distribution": "Debian", "distribution_version": "12", "distribution_major_version": "12",
                  "distribution_release": "bookworm"},
    "debian-13": {"distribution": "Debian", "distribution_version": "13", "distribution_major_version": "13",
                  "distribution_release": "trixie"},
    "ubuntu-22.04": {"distribution": "Ubuntu", "distribution_version": "22.04", "distribution_major_version": "22",
                     "distribution_release": "jammy"},
    "ubuntu-24.04": {"distribution": "Ubuntu", "distribution_version": "24.04", "distribution_major_version": "24",
                     "distribution_release": "noble"},
}
# The distributions' own archives, per Debian architecture: what a node's sources name without a mirror.
OS_ARCHIVES = {
    ("Debian", "amd64"): "http://deb.debian.org/debian", ("Debian", "arm64"): "http://deb.debian.org/debian",
    ("Ubuntu", "amd64"): "http://archive.ubuntu.com/ubuntu", ("Ubuntu", "arm64"): "http://ports.ubuntu.com/ubuntu-ports",
}
# The running kernel is the node's, not known ahead: a package named after it is left to the node.
KERNEL = "KERNEL-OF-THE-NODE"


@dataclass(frozen=True)
class Wanted:
    """A package a role installs: its name, the version prefix pinned ("" none), the repositories it is
    looked up in (first the role's own), and the role."""

    name: str
    pin: str
    sources: tuple[str, ...]
    role: str


@dataclass(frozen=True)
class Repository:
    """An upstream APT repository: `flat` (one directory, Suites: /) or a `dists/` tree."""

    key: str
    url: str
    suites: tuple[str, ...] = ()
    components: tuple[str, ...] = ()

    def indexes(self, arch: str) -> list[tuple[str, str]]:
        """Its Packages indexes as (directory of their InRelease, path listed there); a flat repository: one."""
        if not self.suites:
            return [(self.url, "Packages.gz")]
        return [(f"{self.url}/dists/{s}", f"{c}/binary-{arch}/Packages.xz") for s in self.suites for c in self.components]

    def index_urls(self, arch: str) -> list[str]:
        return [f"{release}/{path}" for release, path in self.indexes(arch)]

    def file_url(self, index_url: str, filename: str) -> str:
        """A package's URL from its index's URL and its Filename field."""
        base = index_url.rsplit("/", 1)[0] if not self.suites else self.url
        return f"{base}/{filename.removeprefix('./')}"


@dataclass(frozen=True)
class Download:
    """A file a role downloads rather than installs from a repository: a key, an installer."""

    name: str
    version: str
    architecture: str  # all: the same file for every architecture
    url: str
    sha256: str  # "" where neither a signed index nor a pin gives one
    role: str
    path: str = ""  # where a mirror bundle holds it: the path below BUNDLE_ROOT the nodes fetch it from


@dataclass(frozen=True)
class SiteInstalls:
    """A site's packages and the repositories they come from, for one OS release and architecture."""

    node_os: str
    arch: str
    packages: tuple[Wanted, ...]
    per_kernel: tuple[str, ...]  # names of packages built for the node's running kernel
    repositories: tuple[Repository, ...]
    downloads: tuple[Download, ...]


def _with_mirrors(f: Factory, apt: str | None, nvidia: str | None, neuron: str | None) -> Factory:
    """The site with these mirrors, for the repositories' URLs only: without its mirror key (whose keyring
    the role variables would read and check; the sources' URLs do not depend on it)."""
    mirrors = f.software.mirrors.model_copy(update={"apt": apt, "nvidia": nvidia, "neuron": neuron})
    software = f.software.model_copy(update={"mirrors": mirrors, "mirror_public_key_file": None})
    return f.model_copy(update={"software": software})


def _upstream(f: Factory) -> Factory:
    """The site without its mirrors: the role variables then name the vendors' and distributions' servers."""
    return _with_mirrors(f, None, None, None)


@functools.cache
def _role_files(role: str, distribution: str) -> dict:
    """A role's defaults, vars and OS vars, loaded as Ansible loads them (templates trusted)."""
    from ansible.parsing.dataloader import DataLoader

    loader = DataLoader()
    merged: dict = {}
    for name in ("defaults/main.yml", "vars/main.yml", f"vars/{distribution}.yml"):
        path = Path(project.playbooks()) / "roles" / role / name
        if path.is_file():
            merged |= loader.load_from_file(str(path), trusted_as_template=True) or {}
    return merged


def role_value(role: str, variable: str, node_os: str, site_vars: dict, arch: str):
    """A role variable's value for a node of `node_os` whose role variables are `site_vars`."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    facts = {**OS_FACTS[node_os], "kernel": KERNEL,
             "architecture": {"arm64": "aarch64", "amd64": "x86_64"}[arch]}
    variables = {**_role_files(role, facts["distribution"]), **site_vars, "ansible_facts": facts}
    return Templar(loader=DataLoader(), variables=variables).template(variables[variable])


def _names(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def site_installs(f: Factory) -> SiteInstalls:
    """Every package the roles install on the site's nodes and head nodes, with the upstream repositories."""
    node_os, arch = f.compute.node_os, f.platform.cpu_architecture.debian
    site = role_vars(_upstream(f), {})
    groups: list[tuple[str, str, tuple[str, ...], str | None]] = [  # role, variable, sources, pins variable
        ("os_baseline", "__os_baseline_chrony_package", ("os",), None),
        ("aws_node_identity", "aws_node_identity_packages", ("os",), None),
        ("scratch_storage", "__scratch_storage_packages", ("os",), None),
        ("shared_storage", "__shared_storage_package_names", ("os",), None),
    ]
    if f.scheduler.kind == "slurm":
        groups += [("munge", "munge_packages", ("os",), None)]
        groups += [("slurm", v, ("os",), None)
                   for v in ("slurm_client_packages", "slurm_controller_packages", "slurm_node_packages")]
        if f.scheduler.accounting:
            groups += [("slurmdbd", "slurmdbd_packages", ("os",), None)]
    if f.software.nvidia is not None:
        groups += [("nvidia_gpu", "__nvidia_gpu_package_names", ("cuda", "os"), "__nvidia_gpu_package_pins")]
    doca = bool(site.get("rdma_fabric_doca_ofed"))
    groups += [("rdma_fabric", "__rdma_fabric_stack_packages", ("doca", "os") if doca else ("os",), None)]
    if f.software.neuron is not None:
        groups += [("neuron", "__neuron_stack_packages", ("neuron", "os"), "__neuron_versions")]
    if f.monitoring.enabled:
        groups += [("node_exporter", "node_exporter_packages", ("os",), None),
                   ("prometheus_server", "prometheus_server_packages", ("os",), None)]
        if f.software.nvidia is not None:
            groups += [("dcgm_exporter", "dcgm_exporter_packages", ("cuda", "os"), "__dcgm_exporter_package_pins")]
        if f.software.neuron is not None:
            groups += [("neuron_monitor", "neuron_monitor_packages", ("neuron", "os"), None)]

    packages: dict[str, Wanted] = {}
    per_kernel: set[str] = set()
    for role, variable, sources, pins_variable in groups:
        pins = role_value(role, pins_variable, node_os, site, arch) if pins_variable else {}
        for name in _names(role_value(role, variable, node_os, site, arch)):
            if KERNEL in name:
                per_kernel.add(name.replace(KERNEL, "<kernel>"))
            else:
                packages.setdefault(name, Wanted(name, str(pins.get(name) or ""), sources, role))
    served = _downloads(f, _served_site(f), node_os, arch, doca)
    downloads = tuple(replace(d, path=s.url.removeprefix(BUNDLE_ROOT + "/"))
                      for d, s in zip(_downloads(f, site, node_os, arch, doca), served, strict=True))
    return SiteInstalls(node_os, arch, tuple(packages.values()), tuple(sorted(per_kernel)),
                        _repositories(f, site, node_os, arch, doca), downloads)


def _downloads(f: Factory, site: dict, node_os: str, arch: str, doca: bool) -> tuple[Download, ...]:
    """The repository keys the roles fetch, the EFA installer and the Roles Anywhere signing helper (their SHA-256
    pinned in the roles) and the SSM agent, at the URLs the role variables `site` name."""
    out = []
    if doca:
        out.append(Download("GPG-KEY-Mellanox.pub", site["rdma_fabric_doca_ofed"], "all",
                            role_value("rdma_fabric", "__rdma_fabric_doca_key_url", node_os, site, arch), "", "rdma_fabric"))
    if f.software.neuron is not None:
        value = functools.partial(role_value, "neuron", node_os=node_os, site_vars=site, arch=arch)
        out.append(Download("GPG-PUB-KEY-AMAZON-AWS-NEURON.PUB", f.software.neuron.release, "all",
                            value("__neuron_repo_key_url"), "", "neuron"))
        out.append(Download("aws-efa-installer", value("neuron_efa_installer_version"), "all",
                            f"{value('neuron_efa_installer_url')}/{value('__neuron_efa_tarball')}",
                            value("neuron_efa_installer_sha256"), "neuron"))
    helper = functools.partial(role_value, "aws_node_identity", node_os=node_os, site_vars=site, arch=arch)
    if helper("aws_node_identity_signing_helper_url"):
        out.append(Download("aws_signing_helper", helper("aws_node_identity_signing_helper_version"), arch,
                            f"{helper('aws_node_identity_signing_helper_url')}/"
                            f"{helper('__aws_node_identity_signing_helper_file')}",
                            helper("__aws_node_identity_signing_helper_sha256"), "aws_node_identity"))
    if f.identity.ssm_hybrid_activation:
        region = site["aws_node_identity_region"]
        # AWS Systems Manager user guide, hybrid nodes on Debian/Ubuntu: the agent's .deb from the region's
        # bucket; AWS publishes only `latest` there, and no index with its hash.
        out.append(Download("amazon-ssm-agent", "latest", arch, site.get("aws_node_identity_ssm_agent_url") or
                            f"https://s3.{region}.amazonaws.com/amazon-ssm-{region}/latest/debian_{arch}/"
                            "amazon-ssm-agent.deb", "", "aws_node_identity"))
    return tuple(out)


def _repositories(f: Factory, site: dict, node_os: str, arch: str, doca: bool) -> tuple[Repository, ...]:
    distribution = OS_FACTS[node_os]["distribution"]
    repos = [Repository("os", site["os_baseline_apt_mirror"] or OS_ARCHIVES[distribution, arch],
                        tuple(role_value("os_baseline", "__os_baseline_apt_suites", node_os, site, arch)),
                        tuple(role_value("os_baseline", "__os_baseline_apt_components", node_os, site, arch)))]
    if f.software.nvidia is not None:
        repos.append(Repository("cuda", role_value("nvidia_gpu", "__nvidia_gpu_repo", node_os, site, arch).rstrip("/")))
    if doca:
        repos.append(Repository("doca", role_value("rdma_fabric", "__rdma_fabric_doca_repo", node_os, site, arch)
                                .strip().rstrip("/")))
    if f.software.neuron is not None:
        repos.append(Repository("neuron", site["neuron_repo_url"],
                                (role_value("neuron", "__neuron_repo_suite", node_os, site, arch),), ("main",)))
    return tuple(repos)


def os_archive_packages(f: Factory) -> tuple[str, ...]:
    """The packages the roles install from the distribution's archive alone, sorted: what a node
    lacking them fetches from the site's APT mirror."""
    return tuple(sorted(w.name for w in site_installs(f).packages if w.sources == ("os",)))


# The placeholder host of served_repositories' URLs: what follows it is a path in a mirror bundle, whose
# top folders are named after the spec's mirror fields (apt/, nvidia/, neuron/).
BUNDLE_ROOT = "http://bundle.invalid"


def served_repositories(f: Factory) -> tuple[Repository, ...]:
    """The site's repositories (as site_installs(f).repositories, same keys and order) at the paths the
    nodes' sources name when each of software.mirrors is served from a bundle's folder of its name: the
    role variables of the site with its mirrors at BUNDLE_ROOT/apt, /nvidia and /neuron."""
    node_os, arch = f.compute.node_os, f.platform.cpu_architecture.debian
    site = _served_site(f)
    return _repositories(f, site, node_os, arch, bool(site.get("rdma_fabric_doca_ofed")))


def _served_site(f: Factory) -> dict:
    """The site's role variables with its mirrors at BUNDLE_ROOT/apt, /nvidia and /neuron."""
    return role_vars(_with_mirrors(f, f"{BUNDLE_ROOT}/apt", f"{BUNDLE_ROOT}/nvidia", f"{BUNDLE_ROOT}/neuron"), {})
