"""Semantic validators: relations between values that field types cannot express.

In the manner of AWS ParallelCluster's validators: each is small and named, yields problems with a
level and a message that says what to change, and all of them run so that every problem is
reported at once. `validate(factory)` runs them all.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from aifactory import catalog
from aifactory.spec.model import RESERVED_LEADING_ADDRESSES, Factory

Level = Literal["error", "warning"]

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
PRIVATE_ASN_RANGES = ((64512, 65534), (4200000000, 4294967294))
# Address space a VPN peer (a public IKE endpoint) can never have.
NON_PUBLIC_PEER_RANGES = {
    "RFC 1918 private": ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),
    "CGNAT shared": ("100.64.0.0/10",),
    "loopback": ("127.0.0.0/8",),
    "link-local": ("169.254.0.0/16",),
    "multicast": ("224.0.0.0/4",),
    "unspecified or 'this network'": ("0.0.0.0/8",),
    "reserved": ("240.0.0.0/4",),
}


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    given: object = None
    level: Level = "error"
    validator: str = ""

    def __str__(self) -> str:
        given = "" if self.given is None else f" (given: {self.given})"
        return f"{self.path}: {self.message}{given}"

    def as_dict(self) -> dict:
        return {"path": self.path, "message": self.message, "given": self.given, "level": self.level,
                "validator": self.validator}


Check = Callable[[Factory], Iterator[Problem]]
VALIDATORS: list[tuple[str, Level, Check]] = []


def validator(level: Level = "error"):
    def register(fn: Check) -> Check:
        VALIDATORS.append((fn.__name__, level, fn))
        return fn
    return register


def validate(factory: Factory) -> list[Problem]:
    problems = []
    for name, level, check in VALIDATORS:
        for problem in check(factory):
            problems.append(Problem(problem.path, problem.message, problem.given, level, name))
    return problems


def _net(cidr: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(cidr)


# --- names -----------------------------------------------------------------------------------------
@validator()
def dns_safe_names(f: Factory) -> Iterator[Problem]:
    if not DNS_LABEL.match(f.name) or len(f.name) > 40:
        yield Problem("name", "must be a DNS label: lowercase letters, digits and '-', at most 40 characters", f.name)
    labels = f.network.domain.split(".")
    if len(f.network.domain) > 200 or not all(DNS_LABEL.match(label) for label in labels):
        yield Problem("network.domain", "must be a DNS name of lowercase labels separated by dots", f.network.domain)
    for i, mount in enumerate(f.storage.shared):
        if not DNS_LABEL.match(mount.name):
            yield Problem(f"storage.shared.{i}.name", "must be a DNS label", mount.name)
    for i, group in enumerate(f.aws_services.sagemaker.model_groups):
        if not DNS_LABEL.match(group):
            yield Problem(f"aws_services.sagemaker.model_groups.{i}", "must be a DNS label (used in resource names)", group)
    for i, topic in enumerate(f.aws_services.bedrock.guardrail.blocked_topics):
        if not DNS_LABEL.match(topic):
            yield Problem(f"aws_services.bedrock.guardrail.blocked_topics.{i}", "must be a DNS label", topic)


# --- address ranges --------------------------------------------------------------------------------
ONPREM_RANGES = ("bmc_cidr", "host_cidr", "storage_cidr")


@validator()
def ranges_inside_onprem(f: Factory) -> Iterator[Problem]:
    onprem = _net(f.network.onprem_cidr)
    for field in ONPREM_RANGES:
        cidr = getattr(f.network, field)
        if not _net(cidr).subnet_of(onprem):
            yield Problem(f"network.{field}", f"must lie inside network.onprem_cidr {onprem}", cidr)


@validator()
def ranges_do_not_overlap(f: Factory) -> Iterator[Problem]:
    for i, a in enumerate(ONPREM_RANGES):
        for b in ONPREM_RANGES[i + 1:]:
            if _net(getattr(f.network, a)).overlaps(_net(getattr(f.network, b))):
                yield Problem(f"network.{b}", f"overlaps network.{a} {getattr(f.network, a)}", getattr(f.network, b))
    vpc = _net(f.hybrid_link.vpc_cidr)
    for field in ("onprem_cidr", *ONPREM_RANGES):
        if vpc.overlaps(_net(getattr(f.network, field))):
            yield Problem("hybrid_link.vpc_cidr", f"overlaps network.{field} {getattr(f.network, field)}: "
                          "AWS could not route back to on-prem", f.hybrid_link.vpc_cidr)


def _prefix_for(addresses: int) -> str:
    bits = (addresses - 1).bit_length()
    return f"a /{32 - bits} or wider" if bits <= 32 else "more than any IPv4 range holds"


@validator()
def ranges_hold_the_racks(f: Factory) -> Iterator[Problem]:
    """Each range holds every rack's fixed block (docs/addressing.md). Arithmetic on the rack count:
    a spec of 10**30 racks is refused without building a node."""
    for field, capacity in f.rack_capacity.items():
        if f.compute.racks > capacity:
            block = f.rack_block[field]
            needed = RESERVED_LEADING_ADDRESSES + f.compute.racks * block + 2
            yield Problem(f"network.{field}", f"holds at most {capacity} racks of {f.platform.title} ({block} "
                          f"addresses per rack after the first {RESERVED_LEADING_ADDRESSES}); {f.compute.racks} "
                          f"racks need {_prefix_for(needed)}: widen the range or remove racks", getattr(f.network, field))


@validator(level="warning")
def ranges_hold_the_power_budget(f: Factory) -> Iterator[Problem]:
    """The racks the power budget allows should fit the ranges, so growing never needs new ranges."""
    allowed = math.floor(f.facility.power_budget_kw / f.rack_power_kw)
    capacity = f.rack_capacity
    field = min(capacity, key=capacity.get)
    if f.compute.racks <= capacity[field] < allowed:
        yield Problem(f"network.{field}", f"holds {capacity[field]} racks but facility.power_budget_kw allows {allowed}; "
                      "widen it (same first address: no address moves) before growing past that",
                      getattr(f.network, field))


def az_subnets(vpc_cidr: str, zones: int) -> list[ipaddress.IPv4Network]:
    """The private subnets of the hub: the VPC range split evenly, one subnet per zone."""
    vpc = _net(vpc_cidr)
    bits = math.ceil(math.log2(zones)) if zones > 1 else 0
    if vpc.prefixlen + bits > 28:
        return []
    return list(vpc.subnets(prefixlen_diff=bits))[:zones]


@validator()
def vpc_size(f: Factory) -> Iterator[Problem]:
    vpc = _net(f.hybrid_link.vpc_cidr)
    if not 16 <= vpc.prefixlen <= 28:
        yield Problem("hybrid_link.vpc_cidr", "must be between /16 and /28 (AWS VPC limits)", f.hybrid_link.vpc_cidr)
    elif not az_subnets(f.hybrid_link.vpc_cidr, f.hybrid_link.availability_zones):
        yield Problem("hybrid_link.vpc_cidr", f"too small for {f.hybrid_link.availability_zones} availability "
                      "zone subnets of at least /28 each", f.hybrid_link.vpc_cidr)


# --- BGP and the link ------------------------------------------------------------------------------
def _private_asn(asn: int) -> bool:
    return any(low <= asn <= high for low, high in PRIVATE_ASN_RANGES)


@validator()
def private_asns(f: Factory) -> Iterator[Problem]:
    for field in ("aws_asn", "onprem_asn"):
        asn = getattr(f.hybrid_link, field)
        if not _private_asn(asn):
            yield Problem(f"hybrid_link.{field}", "must be a private ASN (64512-65534 or 4200000000-4294967294)", asn)
    if f.hybrid_link.aws_asn == f.hybrid_link.onprem_asn:
        yield Problem("hybrid_link.onprem_asn", "must differ from hybrid_link.aws_asn (eBGP needs two ASNs)",
                      f.hybrid_link.onprem_asn)


@validator()
def link_present(f: Factory) -> Iterator[Problem]:
    if not f.hybrid_link.direct_connect and not f.hybrid_link.vpn:
        yield Problem("hybrid_link", "needs at least one of direct_connect or vpn", "neither")


@validator()
def direct_connect_unique(f: Factory) -> Iterator[Problem]:
    seen_ids, seen_vlans = set(), set()
    for i, dx in enumerate(f.hybrid_link.direct_connect):
        if dx.connection_id in seen_ids:
            yield Problem(f"hybrid_link.direct_connect.{i}.connection_id", "appears twice", dx.connection_id)
        if (dx.connection_id, dx.vlan) in seen_vlans:
            yield Problem(f"hybrid_link.direct_connect.{i}.vlan", "VLAN used twice on one connection", dx.vlan)
        seen_ids.add(dx.connection_id)
        seen_vlans.add((dx.connection_id, dx.vlan))


@validator()
def vpn_peers_public(f: Factory) -> Iterator[Problem]:
    seen = set()
    for i, vpn in enumerate(f.hybrid_link.vpn):
        address = ipaddress.IPv4Address(vpn.peer_ip)
        for kind, ranges in NON_PUBLIC_PEER_RANGES.items():
            if any(address in _net(r) for r in ranges):
                yield Problem(f"hybrid_link.vpn.{i}.peer_ip", f"is in {kind} address space; a Site-to-Site VPN "
                              "peer needs the public address of the on-prem IKE endpoint", vpn.peer_ip)
        if vpn.peer_ip in seen:
            yield Problem(f"hybrid_link.vpn.{i}.peer_ip", "appears twice", vpn.peer_ip)
        seen.add(vpn.peer_ip)


# --- regions and Bedrock ---------------------------------------------------------------------------
@validator()
def region_allowed(f: Factory) -> Iterator[Problem]:
    s = f.sovereignty
    if s.region not in s.allowed_regions:
        yield Problem("sovereignty.region", "must be one of sovereignty.allowed_regions", s.region)


@validator()
def residency(f: Factory) -> Iterator[Problem]:
    s = f.sovereignty
    zones = catalog.residency_zones()
    if s.residency not in zones:
        yield Problem("sovereignty.residency", f"unknown residency zone; one of {', '.join(zones)}", s.residency)
        return
    for i, region in enumerate(s.allowed_regions):
        if region not in zones[s.residency]:
            yield Problem(f"sovereignty.allowed_regions.{i}", f"is not in residency zone {s.residency} "
                          f"({', '.join(zones[s.residency])})", region)


@validator()
def bedrock_models_offered(f: Factory) -> Iterator[Problem]:
    cat = catalog.bedrock()
    region = f.sovereignty.region
    for i, model_id in enumerate(f.aws_services.bedrock.models):
        path = f"aws_services.bedrock.models.{i}"
        if model_id.startswith(catalog.GEOGRAPHIC_PREFIXES):
            profile = cat.inference_profiles.get(model_id)
            if profile is None:
                yield Problem(path, f"unknown inference profile in the model catalog (as of {cat.as_of})", model_id)
            elif region not in profile.source_regions:
                yield Problem(path, f"inference profile cannot be called from {region} "
                              f"(source regions: {', '.join(profile.source_regions)})", model_id)
        else:
            model = cat.models.get(model_id)
            if model is None:
                yield Problem(path, f"unknown model id in the model catalog (as of {cat.as_of})", model_id)
            elif region not in model.regions:
                offered = ", ".join(model.regions) or "inference profiles only"
                yield Problem(path, f"not offered in {region} (offered in: {offered})", model_id)


@validator()
def bedrock_routing_allowed(f: Factory) -> Iterator[Problem]:
    allowed = set(f.sovereignty.allowed_regions)
    profiles = catalog.bedrock().inference_profiles
    for i, (model_id, regions) in enumerate(f.bedrock_routing_regions.items()):
        if model_id not in profiles:
            continue  # an in-region model is served in sovereignty.region, checked by region_allowed
        outside = sorted(r for r in regions if r not in allowed)
        if outside:
            yield Problem(f"aws_services.bedrock.models.{i}", "inference profile routes to regions outside "
                          f"sovereignty.allowed_regions: {', '.join(outside)}", model_id)


@validator()
def external_key_store_configured(f: Factory) -> Iterator[Problem]:
    s = f.sovereignty
    if s.keys == "external-key-store" and s.external_key_store is None:
        yield Problem("sovereignty.external_key_store", "required when sovereignty.keys is external-key-store", None)
    xks = s.external_key_store
    if xks and xks.connectivity == "vpc-endpoint-service" and not xks.vpc_endpoint_service_name:
        yield Problem("sovereignty.external_key_store.vpc_endpoint_service_name",
                      "required with connectivity vpc-endpoint-service", None)


# --- platform, facility, software ------------------------------------------------------------------
@validator()
def nodes_per_rack_fits_platform(f: Factory) -> Iterator[Problem]:
    figure = f.platform.nodes_per_rack
    given = f.compute.nodes_per_rack
    if given is not None and figure.fixed and given != figure.value:
        yield Problem("compute.nodes_per_rack", f"{f.platform.title} racks always hold {int(figure.value)} "
                      "nodes; leave the field out", given)
    elif given is not None and given > f.platform.node_slots_per_rack:
        yield Problem("compute.nodes_per_rack", f"at most {f.platform.node_slots_per_rack} for {f.platform.title}: "
                      "each rack's address block holds that many nodes (docs/addressing.md)", given)


# What runs each NVLink/EFA fabric of the catalog's expected-hardware profile.
FABRIC_STACKS = {"imex": "nvidia", "fabric-manager": "nvidia", "efa": "neuron"}


@validator()
def platform_fabric_consistent(f: Factory) -> Iterator[Problem]:
    """The platform's expected-hardware profile agrees with its software stack and rack shape."""
    p, expected = f.platform, f.platform.expected
    per_node = int(p.accelerators_per_node.value)
    fix = f"(catalog entry {p.name}: fix aifactory/catalog/platforms.yaml)"
    if FABRIC_STACKS[expected.fabric] != p.software_stack:
        yield Problem("compute.platform", f"expected fabric {expected.fabric} needs the {FABRIC_STACKS[expected.fabric]} "
                      f"stack, the platform runs {p.software_stack} {fix}", p.name)
    if expected.accelerators != per_node:
        yield Problem("compute.platform", f"expected {expected.accelerators} accelerators per node, the platform has "
                      f"{per_node} {fix}", p.name)
    if expected.fabric == "fabric-manager" and expected.nvlink_domain_gpus != per_node:
        yield Problem("compute.platform", f"Fabric Manager's NVLink domain is one node ({per_node} GPUs), the profile "
                      f"expects {expected.nvlink_domain_gpus} {fix}", p.name)
    if expected.fabric == "imex":
        if f.switch_trays_per_rack == 0:
            yield Problem("compute.platform", f"IMEX spans a rack through its NVLink switch trays; the platform has "
                          f"none {fix}", p.name)
        rack_gpus = f.nodes_per_rack * per_node
        if expected.nvlink_domain_gpus != rack_gpus:
            path = "compute.nodes_per_rack" if f.compute.nodes_per_rack is not None else "compute.platform"
            yield Problem(path, f"an IMEX domain is the rack: {f.nodes_per_rack} nodes x {per_node} GPUs = {rack_gpus}, "
                          f"the profile expects {expected.nvlink_domain_gpus}", f.compute.nodes_per_rack or p.name)


@validator()
def fabric_fits_platform(f: Factory) -> Iterator[Problem]:
    if f.platform.expected.fabric == "efa" and f.network.fabric.startswith("infiniband"):
        yield Problem("network.fabric", f"{f.platform.title} servers connect over EFA, which runs on Ethernet, not "
                      "InfiniBand: use ethernet-rocev2", f.network.fabric)


@validator()
def power_within_budget(f: Factory) -> Iterator[Problem]:
    if f.power_kw > f.facility.power_budget_kw:
        yield Problem("facility.power_budget_kw", f"{f.compute.racks} racks x {f.rack_power_kw} kW = {f.power_kw} kW "
                      "exceeds the budget; add power or remove racks", f.facility.power_budget_kw)


@validator()
def cooling_fits_platform(f: Factory) -> Iterator[Problem]:
    if f.platform.cooling.value == "liquid" and f.facility.cooling == "air":
        yield Problem("facility.cooling", f"{f.platform.title} needs liquid cooling ({f.platform.cooling.source})",
                      f.facility.cooling)


@validator()
def software_stack_fits_platform(f: Factory) -> Iterator[Problem]:
    stack = f.platform.software_stack
    if stack == "nvidia":
        if f.software.neuron is not None:
            yield Problem("software.neuron", f"the Neuron stack is only for Trainium, not {f.platform.title}", "neuron")
        if f.software.nvidia is None:
            yield Problem("software.nvidia", f"required for {f.platform.title} (driver_branch at least)", None)
    else:
        if f.software.nvidia is not None:
            yield Problem("software.nvidia", f"the NVIDIA stack does not run on {f.platform.title}", "nvidia")
        if f.software.neuron is None:
            yield Problem("software.neuron", f"required for {f.platform.title} (release at least)", None)


@validator()
def driver_version_on_branch(f: Factory) -> Iterator[Problem]:
    nvidia = f.software.nvidia
    if nvidia and nvidia.driver_version and nvidia.driver_version.split(".")[0] != nvidia.driver_branch:
        yield Problem("software.nvidia.driver_version", f"is not on software.nvidia.driver_branch {nvidia.driver_branch}: "
                      f"pin a {nvidia.driver_branch}.x version, or change the branch", nvidia.driver_version)


@validator()
def mirrors_when_air_gapped(f: Factory) -> Iterator[Problem]:
    if not f.air_gapped:
        return
    mirrors = f.software.mirrors
    if not mirrors.apt:
        yield Problem("software.mirrors.apt", "required on an air-gapped site", None)
    stack_mirror = "nvidia" if f.platform.software_stack == "nvidia" else "neuron"
    if not getattr(mirrors, stack_mirror):
        yield Problem(f"software.mirrors.{stack_mirror}", "required on an air-gapped site", None)


@validator(level="warning")
def internet_package_sources(f: Factory) -> Iterator[Problem]:
    if not f.air_gapped:
        yield Problem("software.mirrors", "no mirrors: nodes will fetch packages from public repositories; "
                      "set mirrors for an air-gapped site", "{}")


# --- storage and identity --------------------------------------------------------------------------
@validator()
def mount_points(f: Factory) -> Iterator[Problem]:
    mounts = [("storage.scratch.mount", f.storage.scratch.mount)]
    mounts += [(f"storage.shared.{i}.mount", m.mount) for i, m in enumerate(f.storage.shared)]
    seen: dict[str, str] = {}
    for path, mount in mounts:
        normal = mount.rstrip("/") or "/"
        if not mount.startswith("/"):
            yield Problem(path, "must be an absolute path", mount)
        elif normal in ("/", "/boot", "/usr", "/var", "/etc", "/proc", "/sys", "/dev"):
            yield Problem(path, "must not be a system directory", mount)
        if normal in seen:
            yield Problem(path, f"same mount point as {seen[normal]}", mount)
        seen.setdefault(normal, path)


@validator()
def trust_anchor_certificate(f: Factory) -> Iterator[Problem]:
    from cryptography import x509

    path = "identity.trust_anchor.certificate_file"
    given = f.identity.trust_anchor.certificate_file
    file = f.trust_anchor_path
    if not file.is_file():
        yield Problem(path, f"file not found at {file}", given)
        return
    data = file.read_bytes()
    if b"PRIVATE KEY" in data:
        yield Problem(path, "holds a private key; the trust anchor is the public CA certificate only", given)
        return
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        yield Problem(path, "not a PEM X.509 certificate", given)
        return
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = constraints.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        yield Problem(path, "is not a CA certificate (basicConstraints CA:TRUE missing)", given)
