"""The factory spec as typed data: one pydantic model per section of factory.yaml.

Field names are the contract of the example sites; new fields always carry defaults. The model only
checks shape and types; relations between values are checked by `aifactory.spec.validators`.
What the spec implies (nodes and their addresses, accelerators, power, Bedrock routing) is derived
here as read-only properties, so every consumer derives it the same way.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr

from aifactory import catalog
from aifactory.spec.naming import head_node_name, node_name, rack_group, switch_tray_name

# The first addresses of every on-prem range are left to gateways, VIPs and services.
RESERVED_LEADING_ADDRESSES = 10
# Head nodes (the scheduler's controllers and accounting) sit in the host range's reserved leading
# addresses, after the first HEAD_NODE_OFFSET (gateways and VIPs): head01 at the range's first address
# + 5, head02 at + 6 (room for six up to + 10), so adding racks moves none (docs/addressing.md).
HEAD_NODE_OFFSET = 4


def _network(value: str) -> str:
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError as err:
        raise ValueError(f"not an IPv4 CIDR ({err})") from None
    return value


def _address(value: str) -> str:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError("not an IPv4 address") from None
    return value


Cidr = Annotated[str, AfterValidator(_network)]
IPv4 = Annotated[str, AfterValidator(_address)]


class Section(BaseModel):
    """Strict: a number is a number (no `true`, no `"4"`, no `.inf`/`.nan`), a string a string."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class ExternalKeyStore(Section):
    """An XKS proxy the customer runs; its credentials come from Pulumi config secrets."""

    proxy_uri_endpoint: str
    proxy_uri_path: str = "/kms/xks/v1"
    connectivity: Literal["public-endpoint", "vpc-endpoint-service"] = "vpc-endpoint-service"
    vpc_endpoint_service_name: str | None = None


class Sovereignty(Section):
    region: str
    allowed_regions: list[str] = Field(min_length=1)
    residency: str
    keys: Literal["customer-managed", "external-key-store"] = "customer-managed"
    bedrock_invocation_logs: Literal["disabled", "in-region"] = "disabled"
    bedrock_invocation_log_days: int = Field(default=365, ge=1, description="in-region invocation logs: days a log is kept")
    bedrock_invocation_log_noncurrent_days: int = Field(
        default=30, ge=1, description="in-region invocation logs: days a replaced or deleted log version is kept")
    audit_trail: Literal["own", "organization"] = Field(
        default="own", description="own: the program's home-region CloudTrail trail; organization: the organization "
                                   "already runs one (aifactory verify checks that it exists)")
    external_key_store: ExternalKeyStore | None = None


PlatformName = Literal[tuple(catalog.platforms())]  # type: ignore[valid-type]


# The most racks and nodes a spec may ask for (aifactory.spec.validators.platform refuses more by arithmetic,
# before anything expands the nodes: a 3 KB spec asking for 200,000 racks took 78 s and 2 GB to validate).
# The largest AI factory announced, xAI's Colossus, is 200,000 GPUs: 25,000 8-GPU servers, or the GPUs of
# about 2,800 NVL72 racks. These leave 2.5x room in servers and 1.5x in racks, and keep every command within
# seconds (a node costs ~50 us and ~1.3 KB to expand).
MAX_NODES = 65_536
MAX_RACKS = 4_096


class Compute(Section):
    platform: PlatformName
    racks: int = Field(ge=1, description=f"at most {MAX_RACKS}")
    nodes_per_rack: int | None = Field(default=None, ge=1)
    node_os: Literal["ubuntu-24.04", "ubuntu-22.04", "debian-12", "debian-13"] = "ubuntu-24.04"
    fresh_batch_max_fail_percent: int = Field(
        default=5, ge=0, le=50, description="share of trays (percent) of a bring-up's big batch of nodes not in "
        "service that may fail, reported and left out, without stopping the rest (aifactory.node.batch_plan)")


class Facility(Section):
    power_budget_kw: float = Field(gt=0)
    cooling: Literal["air", "liquid"]
    rack_power_kw: float | None = Field(default=None, gt=0, description="measured rack power; overrides the catalog")


class Network(Section):
    domain: str
    onprem_cidr: Cidr
    bmc_cidr: Cidr
    host_cidr: Cidr
    storage_cidr: Cidr
    fabric: Literal["infiniband-hdr", "infiniband-ndr", "infiniband-xdr", "ethernet-rocev2"]
    mtu: int = Field(default=4092, ge=1280, le=9216)


class DirectConnect(Section):
    connection_id: str = Field(pattern=r"^dxcon-[0-9a-z]{8}$")
    vlan: int = Field(ge=1, le=4094)
    bandwidth: str = Field(pattern=r"^[0-9]+(Mbps|Gbps)$")


class Vpn(Section):
    peer_ip: IPv4


class HybridLink(Section):
    vpc_cidr: Cidr
    availability_zones: int = Field(default=2, ge=1, le=6)
    aws_asn: int
    onprem_asn: int
    direct_connect: list[DirectConnect] = []
    vpn: list[Vpn] = []


class Guardrail(Section):
    blocked_topics: list[str] = []
    pii: Literal["block", "anonymize", "off"] = "anonymize"


class Bedrock(Section):
    models: list[str] = []
    guardrail: Guardrail = Guardrail()


class SageMaker(Section):
    domain: bool = False
    model_groups: list[str] = []


class AwsServices(Section):
    bedrock: Bedrock = Bedrock()
    sagemaker: SageMaker = SageMaker()


class TrustAnchor(Section):
    certificate_file: str


class SigningHelper(Section):
    """The release of AWS's Roles Anywhere signing helper the nodes install, where not the role's pinned one
    (playbooks/roles/aws_node_identity/defaults/main.yml)."""

    version: str = Field(pattern=r"^[0-9][0-9A-Za-z.+~-]*$", description="the release, as in its download path")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$",
                        description="SHA-256 of the release's Linux binary for the site's CPU architecture")


class Identity(Section):
    trust_anchor: TrustAnchor
    signing_helper: SigningHelper | None = None
    operator_principals: list[Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[\w+=,.@/-]+$")]] = []
    ssm_hybrid_activation: bool = False
    # AWS SSM lets a hybrid activation live at most 30 days (CreateActivation, ExpirationDate).
    ssm_activation_expiry_days: int = Field(default=30, ge=1, le=30, description="days the SSM hybrid activation lasts")


class Scratch(Section):
    mount: str = "/scratch"
    filesystem: Literal["xfs", "ext4"] = "xfs"
    devices: Literal["auto"] | list[str] = "auto"


class SharedMount(Section):
    name: str
    type: Literal["nfs", "lustre"]
    mount: str
    source: str
    options: str | None = None


class Storage(Section):
    scratch: Scratch = Scratch()
    shared: list[SharedMount] = []


class Mirrors(Section):
    """Package mirrors: http(s) URLs without credentials, on the site's own network when air-gapped."""

    apt: str | None = None
    nvidia: str | None = None
    neuron: str | None = None
    containers: str | None = Field(default=None, description="reserved: a container registry host; no role uses it "
                                                            "yet (a warning says so when it is set)")


class NvidiaSoftware(Section):
    driver_branch: str = Field(pattern=r"^[0-9]{3}$")
    driver_version: str | None = Field(default=None, pattern=r"^[0-9]{3}\.[0-9]+(\.[0-9]+)?$")
    doca_ofed: str | None = None


class NeuronSoftware(Section):
    release: str = Field(pattern=r"^[0-9]+\.[0-9]+$")


class Software(Section):
    mirrors: Mirrors = Mirrors()
    air_gapped: bool | None = Field(default=None, description="default: true when any mirror is set")
    nvidia: NvidiaSoftware | None = None
    neuron: NeuronSoftware | None = None
    mirror_public_key_file: str | None = Field(
        default=None, description="the Ed25519 public key (PEM), relative to this file, whose private key signs the "
                                  "site's offline mirror bundles: what `aifactory mirror verify` checks a manifest against")


class Partition(Section):
    """A Slurm partition: some racks (all by default), a time and size limit."""

    name: str
    racks: Literal["all"] | list[int] = Field(default="all", description="rack numbers (1-based), or all")
    default: bool = False
    max_time_minutes: int | None = Field(default=None, ge=1, description="longest a job may run; none: no limit")
    max_nodes: int | None = Field(default=None, ge=1, description="most nodes one job may use; none: no limit")


class Scheduler(Section):
    """The workload manager on the factory (docs/scheduler.md). Slurm by default; `none` leaves it out."""

    kind: Literal["slurm", "none"] = "slurm"
    backup_controller: bool = Field(default=False, description="a second slurmctld on head02, taking over when "
                                                               "head01's is lost")
    accounting: bool = Field(default=True, description="slurmdbd with MariaDB on head01, the cluster registered")
    state_dir: str = Field(default="/var/spool/slurmctld", description="slurmctld's state; on a storage.shared "
                                                                        "mount when there is a backup controller")
    partitions: list[Partition] = Field(default_factory=lambda: [Partition(name="batch", default=True)])


# The KMS key specs the acceptance certificate can be signed with, each with the signing algorithm KMS signs
# it with (aifactory.reports.signing): ECC P-256 by default; RSA for sites whose HSM policy requires RSA.
ACCEPTANCE_KMS_KEY_SPECS = {"ECC_NIST_P256": "ECDSA_SHA_256", "RSA_3072": "RSASSA_PSS_SHA_256",
                            "RSA_4096": "RSASSA_PSS_SHA_256"}
DEFAULT_ACCEPTANCE_KMS_KEY_SPEC = "ECC_NIST_P256"


class AcceptanceCertificate(Section):
    """How `aifactory acceptance certificate` signs, and the public key `acceptance verify` checks against."""

    signing: Literal["kms", "local-key"] = Field(
        description="kms: the factory's asymmetric KMS key alias/<name>-acceptance (customer-managed keys only); "
                    "local-key: an Ed25519 key the customer holds (offline and external-key-store sites)")
    public_key_file: str = Field(description="the signing key's public key (PEM), relative to this file: what "
                                             "`aifactory acceptance verify` checks every signature against")
    private_key_file: str | None = Field(default=None, description="local-key: the Ed25519 private key (PEM), "
                                                                   "relative to this file or absolute; kept by the customer")
    kms_key_spec: str = Field(default=DEFAULT_ACCEPTANCE_KMS_KEY_SPEC,
                              description="kms: the signing key's KMS key spec: ECC_NIST_P256 (ECDSA_SHA_256), or "
                                          "RSA_3072 / RSA_4096 (RSASSA_PSS_SHA_256) where the site's HSM policy "
                                          "requires RSA; public_key_file is that key's public key")


class Acceptance(Section):
    certificate: AcceptanceCertificate | None = None
    performance_baselines: dict[str, float] = Field(
        default_factory=dict,
        description="the site's recorded minimum of each performance check the catalog leaves to a site baseline "
                    "(aifactory/catalog/performance.yaml, `site_baseline: true`), in that check's unit: for "
                    "instance 95% of what the site's known-good hardware measured. A check without one is not judged")


class AlertReceiver(Section):
    """Where Alertmanager sends the factory's alerts: one email address or one webhook of the customer's tools."""

    name: str
    email: str | None = None
    webhook: str | None = Field(default=None, description="an https:// URL without user:password@")


class AlertActions(Section):
    """What the alert receiver on the head nodes may do by itself (aifactory.monitoring.receiver)."""

    power_cycle: Literal["propose", "automatic"] = Field(
        default="propose", description="propose: a drained node's power cycle is proposed for an operator's approval; "
                                       "automatic: the receiver power-cycles it through its BMC once it is idle")
    max_rack_out: float = Field(default=0.25, gt=0, le=1, description="the share of a rack's nodes that may be out "
                                                                      "(drained or down) before the receiver stops acting on that rack")
    max_factory_out: float = Field(default=0.10, gt=0, le=1, description="the share of the factory's nodes that may be "
                                                                         "out before the receiver stops acting at all")


class Monitoring(Section):
    """Prometheus and Alertmanager on the head nodes (aifactory.monitoring): how long metrics are kept, where
    alerts go."""

    enabled: bool = Field(default=False, description="run the bring-up's monitoring stage: node exporter on every "
                                                     "node and head node, Prometheus, Alertmanager and the alert "
                                                     "receiver on the head nodes (default: the stage is skipped)")
    retention_days: int = Field(default=30, ge=1, le=3650, description="days Prometheus keeps metrics")
    receivers: list[AlertReceiver] = []
    smtp_smarthost: str | None = Field(default=None, description="host:port of the mail relay email receivers "
                                                                 "send through (TLS required)")
    smtp_from: str | None = Field(default=None, description="the sender address of alert mail")
    actions: AlertActions = AlertActions()
    amp_remote_write: bool = Field(default=False, description="also write metrics to an Amazon Managed Service for "
                                                              "Prometheus workspace in the home region, through the "
                                                              "private link (default: metrics stay on the head nodes)")


@dataclass(frozen=True)
class HeadNode:
    """A server of the scheduler's control plane: slurmctld (primary or backup), slurmdbd."""

    name: str
    index: int
    address: str
    services: tuple[str, ...]


@dataclass(frozen=True)
class Node:
    """One compute node (a GB200 compute tray, an HGX server, a Trainium3 server)."""

    name: str
    rack: int
    slot: int
    address: str
    bmc_address: str
    storage_address: str

    @property
    def rack_group(self) -> str:
        return rack_group(self.rack)


@dataclass(frozen=True)
class SwitchTray:
    """An NVLink switch tray of an NVL72 rack: reached through its BMC only."""

    name: str
    rack: int
    slot: int
    bmc_address: str


class Factory(Section):
    """A whole factory: the parsed factory.yaml plus what it implies."""

    name: str
    description: str = ""
    sovereignty: Sovereignty
    compute: Compute
    facility: Facility
    network: Network
    hybrid_link: HybridLink
    aws_services: AwsServices = AwsServices()
    identity: Identity
    storage: Storage = Storage()
    software: Software
    scheduler: Scheduler = Scheduler()
    monitoring: Monitoring = Monitoring()
    acceptance: Acceptance = Acceptance()

    _site_dir: Path = PrivateAttr(default=Path("."))

    # --- where it came from -------------------------------------------------------------------
    @property
    def site_dir(self) -> Path:
        return self._site_dir

    @property
    def trust_anchor_path(self) -> Path:
        return (self._site_dir / self.identity.trust_anchor.certificate_file).resolve()

    # --- the platform ----------------------------------------------------------------------------
    @property
    def platform(self) -> catalog.Platform:
        return catalog.platforms()[self.compute.platform]

    @property
    def nodes_per_rack(self) -> int:
        if self.compute.nodes_per_rack is not None:
            return self.compute.nodes_per_rack
        return int(self.platform.nodes_per_rack.value)

    @property
    def switch_trays_per_rack(self) -> int:
        return int(self.platform.switch_trays_per_rack.value)

    @property
    def node_count(self) -> int:
        return self.compute.racks * self.nodes_per_rack

    @property
    def accelerator_count(self) -> int:
        return self.node_count * int(self.platform.accelerators_per_node.value)

    @property
    def rack_power_kw(self) -> float:
        if self.facility.rack_power_kw is not None:
            return self.facility.rack_power_kw
        return self.platform.rack_power(self.nodes_per_rack)

    @property
    def power_kw(self) -> float:
        return round(self.compute.racks * self.rack_power_kw, 2)

    @property
    def air_gapped(self) -> bool:
        if self.software.air_gapped is not None:
            return self.software.air_gapped
        return any(getattr(self.software.mirrors, name) for name in Mirrors.model_fields)

    # --- addressing (docs/addressing.md) ---------------------------------------------------------
    @property
    def rack_block(self) -> dict[str, int]:
        """Addresses each rack owns in each on-prem range, after the reserved leading ones.

        Sized by the most nodes (and switch trays) a rack of the platform holds, never by the rack
        count or `compute.nodes_per_rack`: adding racks or nodes moves no address. In the BMC range a
        rack's switch trays follow its node slots, in a part of the block of their own.
        """
        nodes = self.platform.node_slots_per_rack
        return {"bmc_cidr": nodes + self.switch_trays_per_rack, "host_cidr": nodes, "storage_cidr": nodes}

    @property
    def rack_capacity(self) -> dict[str, int]:
        """How many racks each on-prem range holds: usable addresses (neither the reserved leading
        ones nor the broadcast address) over the rack's block. Arithmetic only, no node is built."""
        capacity = {}
        for field, block in self.rack_block.items():
            size = ipaddress.IPv4Network(getattr(self.network, field)).num_addresses
            capacity[field] = max(size - RESERVED_LEADING_ADDRESSES - 1 - 1, 0) // block
        return capacity

    @property
    def max_racks(self) -> int:
        """The largest rack count the spec's ranges hold."""
        return min(self.rack_capacity.values())

    def _rack_bases(self, rack: int) -> dict[str, ipaddress.IPv4Address]:
        """The address just before the rack's block in each range (slot 1 is base + 1)."""
        return {field: ipaddress.IPv4Network(getattr(self.network, field)).network_address
                + RESERVED_LEADING_ADDRESSES + (rack - 1) * block for field, block in self.rack_block.items()}

    @cached_property
    def nodes(self) -> tuple[Node, ...]:
        """Every compute node, rack by rack; slot n of rack r sits at position n of rack r's block."""
        nodes = []
        for rack in range(1, self.compute.racks + 1):
            base = self._rack_bases(rack)
            for slot in range(1, self.nodes_per_rack + 1):
                nodes.append(Node(
                    name=node_name(self.name, rack, slot),
                    rack=rack,
                    slot=slot,
                    address=str(base["host_cidr"] + slot),
                    bmc_address=str(base["bmc_cidr"] + slot),
                    storage_address=str(base["storage_cidr"] + slot),
                ))
        return tuple(nodes)

    @cached_property
    def switch_trays(self) -> tuple[SwitchTray, ...]:
        """NVLink switch trays, whose BMCs sit in each rack's BMC block after every node slot."""
        node_slots = self.platform.node_slots_per_rack
        trays = []
        for rack in range(1, self.compute.racks + 1):
            base = self._rack_bases(rack)["bmc_cidr"] + node_slots
            for slot in range(1, self.switch_trays_per_rack + 1):
                trays.append(SwitchTray(
                    name=switch_tray_name(self.name, rack, slot),
                    rack=rack,
                    slot=slot,
                    bmc_address=str(base + slot),
                ))
        return tuple(trays)

    @cached_property
    def head_nodes(self) -> tuple[HeadNode, ...]:
        """The scheduler's head nodes, `<factory>-head01`...: head01 runs the primary slurmctld (and
        slurmdbd with its database when accounting is on), head02 the backup slurmctld. Their addresses
        are in the host range's reserved leading block, never in a rack's (docs/addressing.md)."""
        sched = self.scheduler
        if sched.kind == "none":
            return ()
        services = [("slurmctld", *(("slurmdbd",) if sched.accounting else ()))]
        if sched.backup_controller:
            services.append(("slurmctld-backup",))
        first = ipaddress.IPv4Network(self.network.host_cidr).network_address + HEAD_NODE_OFFSET
        return tuple(HeadNode(name=head_node_name(self.name, i), index=i, address=str(first + i), services=own)
                     for i, own in enumerate(services, start=1))

    # --- Bedrock ---------------------------------------------------------------------------------
    @property
    def bedrock_routing_regions(self) -> dict[str, tuple[str, ...]]:
        """For each configured model id, the regions its requests may be served in."""
        models = catalog.bedrock()
        routes = {}
        for model_id in self.aws_services.bedrock.models:
            profile = models.inference_profiles.get(model_id)
            routes[model_id] = profile.routes_to if profile else (self.sovereignty.region,)
        return routes

    @property
    def bedrock_foundation_models(self) -> tuple[str, ...]:
        """The foundation model ids behind the configured ids (inference profiles resolved)."""
        profiles = catalog.bedrock().inference_profiles
        return tuple(
            dict.fromkeys(profiles[m].model if m in profiles else m for m in self.aws_services.bedrock.models)
        )
