"""The platform, Bedrock model and region catalogs: data files with a typed loader.

`platforms.yaml` says what one rack of each platform is, `bedrock.yaml` which Bedrock models each
region offers and where each geographic inference profile routes, `regions.yaml` which regions lie in
which residency zone. Every figure in the data names its public source.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

_DATA = Path(__file__).parent


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Figure(_Frozen):
    """A number with the public source it comes from."""

    value: float
    source: str
    estimate: bool = False
    fixed: bool = False


class CoolingFigure(_Frozen):
    value: Literal["air", "liquid"]
    source: str


class CpuArchitecture(_Frozen):
    """The compute node's CPU architecture (as `uname -m` names it), with its source."""

    value: Literal["aarch64", "x86_64"]
    source: str
    estimate: bool = False

    @property
    def debian(self) -> str:
        """The Debian/Ubuntu architecture (`dpkg --print-architecture`, APT's `Architectures:`)."""
        return {"aarch64": "arm64", "x86_64": "amd64"}[self.value]

    @property
    def cuda_repo(self) -> str:
        """The directory of NVIDIA's CUDA repositories for it: Arm servers are `sbsa`
        (developer.download.nvidia.com/compute/cuda/repos/<distro>/{sbsa,x86_64}/)."""
        return {"aarch64": "sbsa", "x86_64": "x86_64"}[self.value]

    @property
    def doca_repo(self) -> str:
        """The directory of NVIDIA's DOCA repositories for it (DOCA-Host installation guide, online
        repository: linux.mellanox.com/public/repo/doca/<version>/<distro>/{arm64-sbsa,x86_64}/)."""
        return {"aarch64": "arm64-sbsa", "x86_64": "x86_64"}[self.value]


class OsSupport(_Frozen):
    """The node operating systems (the spec's `compute.node_os` names) a platform's stack supports."""

    value: tuple[str, ...]
    source: str


class Nic(_Frozen):
    role: str
    count: int
    model: str
    gbps: int
    source: str
    estimate: bool = False


class ExpectedHardware(_Frozen):
    """What acceptance checks compare a node against."""

    accelerators: int
    accelerator_name_contains: str
    fabric: Literal["imex", "fabric-manager", "efa"]
    fabric_manager: bool
    nvlink_domain_gpus: int
    fabric_state: str
    ib_ports: int
    ib_rate_gbps: int
    dcgm_diag_level: int


class Platform(_Frozen):
    name: str
    title: str
    vendor: Literal["nvidia", "aws"]
    nodes_per_rack: Figure
    # Where nodes_per_rack is not fixed: the most a spec may set, which sizes each rack's address block.
    max_nodes_per_rack: Figure | None = None
    switch_trays_per_rack: Figure
    accelerators_per_node: Figure
    accelerator: str
    cpus_per_node: Figure
    cpu_architecture: CpuArchitecture
    # CPU cores and memory of one node, for the scheduler's node definitions (slurm.conf NodeName).
    cores_per_node: Figure
    memory_gb_per_node: Figure
    nics: tuple[Nic, ...]
    rack_power_kw: Figure | None = None
    node_power_kw: Figure | None = None
    cooling: CoolingFigure
    software_stack: Literal["nvidia", "neuron"]
    # NVIDIA platforms: the oldest data center driver branch that supports the GPU.
    min_driver_branch: Figure | None = None
    # Where the stack supports only some of the spec's node OSes; None: every one.
    supported_os: OsSupport | None = None
    nvlink_domain: Literal["rack", "node", "none"]
    expected: ExpectedHardware

    @property
    def node_slots_per_rack(self) -> int:
        """The most nodes one rack of this platform holds: the node part of each rack's address block."""
        return int((self.max_nodes_per_rack or self.nodes_per_rack).value)

    def rack_power(self, nodes_per_rack: int) -> float:
        """Power of one rack in kW: the rack figure, or nodes x node power for server platforms."""
        if self.rack_power_kw is not None:
            return self.rack_power_kw.value
        assert self.node_power_kw is not None, f"{self.name}: catalog needs rack_power_kw or node_power_kw"
        return round(self.node_power_kw.value * nodes_per_rack, 2)


class BedrockModel(_Frozen):
    provider: str
    regions: tuple[str, ...]


class InferenceProfile(_Frozen):
    model: str
    source_regions: tuple[str, ...]
    routes_to: tuple[str, ...]


class BedrockCatalog(_Frozen):
    as_of: str
    source: str
    models: dict[str, BedrockModel]
    inference_profiles: dict[str, InferenceProfile]


def _read(name: str) -> dict:
    return yaml.safe_load((_DATA / name).read_text())


@cache
def platforms() -> dict[str, Platform]:
    return {name: Platform(name=name, **body) for name, body in _read("platforms.yaml").items()}


@cache
def bedrock() -> BedrockCatalog:
    return BedrockCatalog(**_read("bedrock.yaml"))


@cache
def residency_zones() -> dict[str, tuple[str, ...]]:
    return {zone: tuple(regions) for zone, regions in _read("regions.yaml")["zones"].items()}


@cache
def availability_zones() -> dict[str, int]:
    """Every AWS region the catalog knows, with how many availability zones it offers."""
    return {region: int(count) for region, count in _read("regions.yaml")["availability_zones"].items()}


GEOGRAPHIC_PREFIXES = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")
