"""Semantic validators: relations between values that field types cannot express.

In the manner of AWS ParallelCluster's validators: each is small and named, yields problems with a
level and a message that says what to change, and all of them run so that every problem is
reported at once. `validate(factory)` runs them all.
"""

from __future__ import annotations

import datetime
import ipaddress
import math
import os
import posixpath
import re
import stat
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import BaseModel

from aifactory import catalog
from aifactory.spec.model import RESERVED_LEADING_ADDRESSES, Factory

Level = Literal["error", "warning"]

DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")  # used with fullmatch: no trailing newline
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


# Longest echo of a given value; a longer one is cut and says how long it was.
SHOWN_LENGTH = 80
# Characters refused in any string of the spec: they end up in files (fstab, APT sources, inventory),
# resource names and terminals. Control characters, line and paragraph separators, bidi overrides.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def unsafe_character(text: str) -> str | None:
    """The first character of text that may not appear in the spec, or None."""
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in BIDI_CONTROLS:
            return char
    return None


def shown(value: object, limit: int = SHOWN_LENGTH) -> str:
    """A value as it is safe to echo: control characters escaped, at most `limit` characters."""
    text = value if isinstance(value, str) else repr(value) if isinstance(value, bytes) else str(value)
    text = "".join(char if unsafe_character(char) is None else char.encode("unicode_escape").decode("ascii")
                   for char in text[:limit * 4])
    if len(text) > limit:
        length = len(value) if isinstance(value, (str, bytes)) else len(text)
        text = f"{text[:limit]}... ({length} characters)"
    return text


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    given: object = None
    level: Level = "error"
    validator: str = ""

    def __str__(self) -> str:
        given = "" if self.given is None else f" (given: {shown(self.given)})"
        return f"{shown(self.path, 200)}: {self.message}{given}"

    def as_dict(self) -> dict:
        given = self.given
        if not (given is None or isinstance(given, (bool, int, float))) or (isinstance(given, int)
                                                                            and abs(given) > 10 ** 18):
            given = shown(given)
        return {"path": shown(self.path, 200), "message": self.message, "given": given, "level": self.level,
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


# --- strings ---------------------------------------------------------------------------------------
def _strings(value: object, path: str) -> Iterator[tuple[str, str]]:
    """Every string in a parsed section, with its dotted path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _strings(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}.{i}")


@validator()
def no_control_characters(f: Factory) -> Iterator[Problem]:
    """Strings end up in files (fstab, APT sources, the inventory) and names: no control characters,
    newlines, line separators or bidi overrides anywhere in the spec."""
    for path, text in _strings(f, ""):
        char = unsafe_character(text)
        if char is not None:
            yield Problem(path, f"holds the control character U+{ord(char):04X}; remove it", text)


# --- names -----------------------------------------------------------------------------------------
@validator()
def dns_safe_names(f: Factory) -> Iterator[Problem]:
    if not DNS_LABEL.fullmatch(f.name) or len(f.name) > 40:
        yield Problem("name", "must be a DNS label: lowercase letters, digits and '-', at most 40 characters", f.name)
    labels = f.network.domain.split(".")
    if len(f.network.domain) > 200 or not all(DNS_LABEL.fullmatch(label) for label in labels):
        yield Problem("network.domain", "must be a DNS name of lowercase labels separated by dots", f.network.domain)
    for i, mount in enumerate(f.storage.shared):
        if not DNS_LABEL.fullmatch(mount.name):
            yield Problem(f"storage.shared.{i}.name", "must be a DNS label", mount.name)
    for i, group in enumerate(f.aws_services.sagemaker.model_groups):
        if not DNS_LABEL.fullmatch(group):
            yield Problem(f"aws_services.sagemaker.model_groups.{i}", "must be a DNS label (used in resource names)", group)
    for i, topic in enumerate(f.aws_services.bedrock.guardrail.blocked_topics):
        if not DNS_LABEL.fullmatch(topic):
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
def regions_known(f: Factory) -> Iterator[Problem]:
    """Every region named is one the catalog knows (aifactory/catalog/regions.yaml)."""
    known = catalog.availability_zones()
    s = f.sovereignty
    for path, region in [("sovereignty.region", s.region),
                         *((f"sovereignty.allowed_regions.{i}", r) for i, r in enumerate(s.allowed_regions))]:
        if region not in known:
            yield Problem(path, f"unknown AWS region; the catalog knows {', '.join(sorted(known))}", region)


@validator()
def availability_zones_offered(f: Factory) -> Iterator[Problem]:
    offered = catalog.availability_zones().get(f.sovereignty.region)
    if offered is not None and f.hybrid_link.availability_zones > offered:
        yield Problem("hybrid_link.availability_zones", f"{f.sovereignty.region} offers {offered} availability "
                      "zones (aifactory/catalog/regions.yaml)", f.hybrid_link.availability_zones)


@validator()
def residency(f: Factory) -> Iterator[Problem]:
    s = f.sovereignty
    zones = catalog.residency_zones()
    if s.residency not in zones:
        yield Problem("sovereignty.residency", f"unknown residency zone; one of {', '.join(zones)}", s.residency)
        return
    known = catalog.availability_zones()
    for i, region in enumerate(s.allowed_regions):
        if region in known and region not in zones[s.residency]:
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
    if xks:
        url = _url(xks.proxy_uri_endpoint)
        if url is None or url.scheme != "https" or not url.hostname or url.path not in ("", "/") or url.query \
                or url.fragment or url.username is not None or url.password is not None:
            yield Problem("sovereignty.external_key_store.proxy_uri_endpoint", "must be https://<host>[:port] only "
                          "(AWS KMS reaches an external key store proxy over TLS; the path goes in proxy_uri_path)",
                          xks.proxy_uri_endpoint)
        # AWS KMS CreateCustomKeyStore: XksProxyUriPath ends in /kms/xks/v1, optionally after a prefix.
        if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)*/kms/xks/v1", xks.proxy_uri_path):
            yield Problem("sovereignty.external_key_store.proxy_uri_path", "must be a path ending in /kms/xks/v1",
                          xks.proxy_uri_path)


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
def driver_branch_supports_platform(f: Factory) -> Iterator[Problem]:
    nvidia, minimum = f.software.nvidia, f.platform.min_driver_branch
    if nvidia and minimum and int(nvidia.driver_branch) < minimum.value:
        yield Problem("software.nvidia.driver_branch", f"{f.platform.title} needs driver branch {int(minimum.value)} "
                      f"or later ({minimum.source})", nvidia.driver_branch)


@validator()
def node_os_supported(f: Factory) -> Iterator[Problem]:
    supported = f.platform.supported_os
    if supported and f.compute.node_os not in supported.value:
        yield Problem("compute.node_os", f"{f.platform.title} nodes run {', '.join(supported.value)} "
                      f"({supported.source})", f.compute.node_os)


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
# Directories a mount may never cover: the node's own system (mounting over one cuts the node off).
SYSTEM_DIRS = ("/etc", "/bin", "/sbin", "/usr", "/var", "/boot", "/root", "/home", "/tmp", "/opt", "/srv", "/run")
# Trees nothing may be mounted inside: kernel filesystems and the system's own files.
SYSTEM_TREES = ("/proc", "/sys", "/dev", "/etc", "/bin", "/sbin", "/usr", "/boot")
LIB_DIR = re.compile(r"/lib[^/]*")  # /lib, /lib32, /lib64, /libx32


def normal_mount_point(mount: str) -> str:
    """The directory a mount point names: repeated slashes collapsed, `.` and `..` resolved."""
    return posixpath.normpath(re.sub(r"/+", "/", mount))


def _system_mount(normal: str) -> str | None:
    """Why mounting on this normalised path would break the node, or None."""
    top = "/" + normal.split("/")[1] if normal != "/" else "/"
    if normal == "/":
        return "is the root filesystem"
    if normal in SYSTEM_DIRS or LIB_DIR.fullmatch(normal):
        return f"is the system directory {normal}"
    if top in SYSTEM_TREES or LIB_DIR.fullmatch(top):
        return f"lies inside the system directory {top}"
    return None


@validator()
def mount_points(f: Factory) -> Iterator[Problem]:
    """Mount points are normalised first (`//etc`, `/scratch/../etc` are /etc), then the node's system
    directories are refused; a path not in normal form is refused too, so the roles mount what was checked."""
    mounts = [("storage.scratch.mount", f.storage.scratch.mount)]
    mounts += [(f"storage.shared.{i}.mount", m.mount) for i, m in enumerate(f.storage.shared)]
    seen: dict[str, str] = {}
    for path, mount in mounts:
        if not mount.startswith("/"):
            yield Problem(path, "must be an absolute path", mount)
            continue
        normal = normal_mount_point(mount)
        reason = _system_mount(normal)
        if reason:
            yield Problem(path, f"{reason}: mounting there would break the node; use a directory of its own "
                          "such as /scratch or /data/<name>", mount)
        elif normal != (mount.rstrip("/") or "/"):
            yield Problem(path, f"is not a plain path (repeated '/', '.' or '..'); write it as {normal}", mount)
        elif any(char.isspace() for char in mount):
            yield Problem(path, "must not hold whitespace (it is a field of /etc/fstab)", mount)
        if normal in seen:
            yield Problem(path, f"same mount point as {seen[normal]}", mount)
        seen.setdefault(normal, path)


@validator()
def shared_mount_fields(f: Factory) -> Iterator[Problem]:
    """Source and options are fields of an /etc/fstab line: no whitespace that would add fields."""
    for i, m in enumerate(f.storage.shared):
        for field in ("source", "options"):
            value = getattr(m, field)
            if value is not None and (not value or any(char.isspace() for char in value)):
                yield Problem(f"storage.shared.{i}.{field}", "must be one non-empty word without whitespace "
                              "(it is a field of /etc/fstab)", value)


# --- mirrors -----------------------------------------------------------------------------------------
# Top-level domains that never resolve on the internet (RFC 6761, RFC 6762, RFC 8375, ICANN's .internal)
# plus the private ones sites commonly use.
PRIVATE_TLDS = ("internal", "local", "localhost", "lan", "home.arpa", "corp", "intranet", "private", "localdomain")
URL_MIRRORS = ("apt", "nvidia", "neuron")
HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


def host_is_public(host: str, domain: str) -> bool:
    """Whether a mirror's host would be reached outside the site. An IP literal is public unless it is
    private, loopback or link-local; a name is private when it is the site's domain or under it, has
    one label only, or ends in a private top-level domain (PRIVATE_TLDS); any other name is public."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        name = host.lower().rstrip(".")
        if name == domain or name.endswith("." + domain) or "." not in name:
            return False
        return not any(name == tld or name.endswith("." + tld) for tld in PRIVATE_TLDS)
    return not (address.is_private or address.is_loopback or address.is_link_local)


def _url(value: str) -> SplitResult | None:
    try:
        url = urlsplit(value)
        url.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return None
    return url


@validator()
def mirror_urls(f: Factory) -> Iterator[Problem]:
    """Mirrors are http(s) URLs with a host and no credentials; an air-gapped site's are on-prem hosts."""
    mirrors = f.software.mirrors
    for field in URL_MIRRORS:
        value = getattr(mirrors, field)
        if value is None:
            continue
        path = f"software.mirrors.{field}"
        url = _url(value)
        if url is None or url.scheme not in ("http", "https") or not url.hostname:
            yield Problem(path, "must be an http:// or https:// URL with a host", value)
        elif url.username is not None or url.password is not None:
            masked = value.replace(url.netloc, "***@" + url.netloc.rsplit("@", 1)[-1], 1)
            yield Problem(path, "must not hold credentials (user:password@): they would be written to every "
                          "node's APT sources; give the mirror access by network instead", masked)
        elif url.query or url.fragment or any(char.isspace() for char in value):
            yield Problem(path, "must be a plain URL: no query, fragment or whitespace", value)
        elif f.air_gapped and host_is_public(url.hostname, f.network.domain):
            yield Problem(path, f"is a public host on an air-gapped site: use a mirror under {f.network.domain}, "
                          "a private address or an internal name, or set software.air_gapped: false", value)
    registry = mirrors.containers
    if registry is not None:
        host = registry.split("/", 1)[0].rsplit(":", 1)[0]
        if "://" in registry or not HOST_NAME.fullmatch(host):
            yield Problem("software.mirrors.containers", "must be a registry host[:port][/path] without a scheme",
                          registry)
        elif f.air_gapped and host_is_public(host, f.network.domain):
            yield Problem("software.mirrors.containers", "is a public host on an air-gapped site", registry)


@validator(level="warning")
def containers_mirror_reserved(f: Factory) -> Iterator[Problem]:
    if f.software.mirrors.containers is not None:
        yield Problem("software.mirrors.containers", "is reserved: no role pulls containers from it yet",
                      f.software.mirrors.containers)


# --- trust anchor ------------------------------------------------------------------------------------
TRUST_ANCHOR_MAX_BYTES = 64 * 1024
TRUST_ANCHOR_WARN_DAYS = 90
PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----")
EC_CURVES = ("secp256r1", "secp384r1")  # P-256 and P-384: what IAM Roles Anywhere accepts beside RSA


def _trust_anchor(f: Factory):
    """(certificate, None) or (None, problem message) for the spec's trust anchor file."""
    from cryptography import x509

    given = f.identity.trust_anchor.certificate_file
    site = f.site_dir.resolve()
    if "\0" in given:
        return None, "holds a NUL byte"
    try:
        file = (site / given).resolve()  # links followed as far as they go, `..` resolved
        if not file.is_relative_to(site):
            return None, f"must be a file inside the site directory {shown(site, 200)} (a link must not lead out of it)"
        info = os.stat(file)
    except FileNotFoundError:
        return None, f"file not found at {shown(site / given, 200)}"
    except (OSError, RuntimeError) as err:  # a symlink loop, a directory in the way
        return None, f"cannot be read ({getattr(err, 'strerror', None) or err})"
    if not stat.S_ISREG(info.st_mode):
        return None, "is not a regular file"
    if info.st_size > TRUST_ANCHOR_MAX_BYTES:
        return None, f"is {info.st_size} bytes; a CA certificate is a few kilobytes"
    data = file.read_bytes()
    if b"PRIVATE KEY" in data:
        return None, "holds a private key; the trust anchor is the public CA certificate only"
    blocks = list(PEM_CERTIFICATE.finditer(data))
    if not blocks:
        return None, "not a PEM X.509 certificate"
    if len(blocks) > 1 or data[blocks[0].end():].strip():
        return None, "holds something after the certificate's PEM block; the file is one CA certificate only"
    try:
        return x509.load_pem_x509_certificate(data), None
    except ValueError:
        return None, "not a PEM X.509 certificate"


@validator()
def trust_anchor_certificate(f: Factory) -> Iterator[Problem]:
    """One CA certificate, in its validity window, RSA >= 2048 bits or EC P-256/P-384, inside the site."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    path = "identity.trust_anchor.certificate_file"
    given = f.identity.trust_anchor.certificate_file
    cert, problem = _trust_anchor(f)
    if problem:
        yield Problem(path, problem, given)
        return
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        yield Problem(path, "is not a CA certificate (basicConstraints CA:TRUE missing)", given)
    now = datetime.datetime.now(datetime.timezone.utc)
    if now < cert.not_valid_before_utc:
        yield Problem(path, f"is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC", given)
    if now > cert.not_valid_after_utc:
        yield Problem(path, f"expired on {cert.not_valid_after_utc:%Y-%m-%d}", given)
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            yield Problem(path, f"has an RSA key of {key.key_size} bits; at least 2048", given)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_CURVES:
            yield Problem(path, f"has an EC key on {key.curve.name}; use P-256 or P-384", given)
    else:
        yield Problem(path, f"has a {type(key).__name__.removeprefix('_')} key; use RSA (2048 bits or more) or "
                      "EC P-256/P-384", given)


@validator(level="warning")
def trust_anchor_expiry(f: Factory) -> Iterator[Problem]:
    cert, problem = _trust_anchor(f)
    if cert is None:
        return
    left = cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    if datetime.timedelta(0) <= left <= datetime.timedelta(days=TRUST_ANCHOR_WARN_DAYS):
        yield Problem("identity.trust_anchor.certificate_file", f"expires in {left.days} days "
                      f"({cert.not_valid_after_utc:%Y-%m-%d}): renew the CA and update the trust anchor",
                      f.identity.trust_anchor.certificate_file)


# --- scheduler -------------------------------------------------------------------------------------
# Slurm as each node OS ships it (the scheduler stage installs the distribution's packages). Sources:
# packages.debian.org slurm-wlm (bookworm 22.05.8, trixie 24.11.5); packages.ubuntu.com slurm-wlm
# (jammy 21.08.5, noble 23.11.4).
SLURM_RELEASES = {"debian-12": (22, 5), "debian-13": (24, 11), "ubuntu-22.04": (21, 8), "ubuntu-24.04": (23, 11)}
# cgroup/v2 (slurm 22.05 release notes), topology/block (slurm 23.11 release notes).
SLURM_CGROUP_V2, SLURM_TOPOLOGY_BLOCK = (22, 5), (23, 11)
SLURM_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")


@validator()
def scheduler_partitions(f: Factory) -> Iterator[Problem]:
    """Partitions have Slurm-safe unique names, exactly one is the default, and they name racks the factory has."""
    sched = f.scheduler
    if sched.kind == "none":
        return
    if not sched.partitions:
        yield Problem("scheduler.partitions", "needs at least one partition (the default: `- {name: batch, default: true}`)",
                      "[]")
    seen: set[str] = set()
    for i, part in enumerate(sched.partitions):
        if not SLURM_NAME.fullmatch(part.name):
            yield Problem(f"scheduler.partitions.{i}.name", "must start with a lowercase letter, then lowercase "
                          "letters, digits, '_' or '-', at most 40 characters", part.name)
        elif part.name in seen:
            yield Problem(f"scheduler.partitions.{i}.name", "is already the name of another partition; rename one",
                          part.name)
        seen.add(part.name)
        if part.racks == "all":
            continue
        if not part.racks:
            yield Problem(f"scheduler.partitions.{i}.racks", "lists no rack; name racks or write `all`", "[]")
        for j, rack in enumerate(part.racks):
            if not 1 <= rack <= f.compute.racks:
                yield Problem(f"scheduler.partitions.{i}.racks.{j}", f"no such rack: the factory has racks 1 to "
                              f"{f.compute.racks} (compute.racks)", rack)
        if len(set(part.racks)) != len(part.racks):
            yield Problem(f"scheduler.partitions.{i}.racks", "names a rack twice", part.racks)
    defaults = [p.name for p in sched.partitions if p.default]
    if sched.partitions and len(defaults) != 1:
        yield Problem("scheduler.partitions", "exactly one partition must be `default: true` (where jobs go without "
                      f"--partition); {len(defaults)} are", ", ".join(defaults) or "none")


@validator()
def scheduler_fits_node_os(f: Factory) -> Iterator[Problem]:
    """The node OS's Slurm has the plugins the generated configuration uses."""
    release = SLURM_RELEASES.get(f.compute.node_os)
    if f.scheduler.kind == "none" or release is None:
        return
    shipped = f"{f.compute.node_os} ships Slurm {release[0]}.{release[1]:02d}"
    if release < SLURM_CGROUP_V2:
        yield Problem("compute.node_os", f"{shipped}, without cgroup/v2 (Slurm 22.05 or later): use a newer OS, or "
                      "scheduler.kind: none", f.compute.node_os)
    elif f.platform.nvlink_domain == "rack" and release < SLURM_TOPOLOGY_BLOCK:
        yield Problem("compute.node_os", f"{shipped}, without topology/block (Slurm 23.11 or later), which keeps a "
                      f"job inside one {f.platform.title} NVLink domain: use ubuntu-24.04 or debian-13, or "
                      "scheduler.kind: none", f.compute.node_os)


@validator()
def scheduler_state_shared(f: Factory) -> Iterator[Problem]:
    """Both controllers read one state: with a backup, scheduler.state_dir lies on a shared mount."""
    sched = f.scheduler
    state = normal_mount_point(sched.state_dir)
    if not sched.state_dir.startswith("/"):
        yield Problem("scheduler.state_dir", "must be an absolute path", sched.state_dir)
    elif sched.kind == "slurm" and sched.backup_controller and not any(
            state == m or state.startswith(m.rstrip("/") + "/")
            for m in (normal_mount_point(s.mount) for s in f.storage.shared)):
        yield Problem("scheduler.state_dir", "must lie on a storage.shared mount when scheduler.backup_controller is "
                      "true: the backup slurmctld takes over from the state the primary wrote", sched.state_dir)


@validator(level="warning")
def scheduler_partition_limits(f: Factory) -> Iterator[Problem]:
    """A partition's max_nodes above the nodes it holds limits nothing."""
    if f.scheduler.kind == "none":
        return
    for i, part in enumerate(f.scheduler.partitions):
        racks = f.compute.racks if part.racks == "all" else len(set(part.racks))
        held = racks * f.nodes_per_rack
        if part.max_nodes is not None and part.max_nodes > held:
            yield Problem(f"scheduler.partitions.{i}.max_nodes", f"the partition holds {held} nodes; a larger limit "
                          "limits nothing (lower it or leave it out)", part.max_nodes)
