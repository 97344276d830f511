"""Address ranges: on-prem ranges usable, inside the site's range, apart, holding the racks; the hub VPC's size."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterator

from aifactory.spec.model import RESERVED_LEADING_ADDRESSES, Factory
from aifactory.spec.validators.registry import Problem, validator

ONPREM_RANGES = ("bmc_cidr", "host_cidr", "storage_cidr")
# Blocks no on-prem host can use, from IANA's IPv4 Special-Purpose Address Registry (RFC 6890): no
# interface may take an address in them, or traffic to them never leaves the host.
UNUSABLE_BLOCKS = {
    "0.0.0.0/8": "'this network' block (RFC 1122)",
    "127.0.0.0/8": "loopback block (RFC 1122)",
    "169.254.0.0/16": "link-local block (RFC 3927)",
    "224.0.0.0/4": "multicast block (RFC 5771)",
    "240.0.0.0/4": "reserved block, with the broadcast address (RFC 1112, RFC 919)",
}


def _net(cidr: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(cidr)


@validator()
def ranges_usable(f: Factory) -> Iterator[Problem]:
    """On-prem ranges lie clear of the blocks no host can use (UNUSABLE_BLOCKS).

    Fix: Move the range into private address space (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16) clear of loopback,
    link-local, multicast and reserved blocks."""
    for field in ("onprem_cidr", *ONPREM_RANGES):
        cidr = getattr(f.network, field)
        for block, what in UNUSABLE_BLOCKS.items():
            if _net(cidr).overlaps(_net(block)):
                yield Problem(f"network.{field}", f"overlaps the {what} {block}, which no host can use: choose a "
                              "private range such as 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 (RFC 1918)", cidr)
                break


@validator()
def ranges_inside_onprem(f: Factory) -> Iterator[Problem]:
    """Every on-prem range (management, BMC, fabric, storage and the others of network) lies inside
    network.onprem_cidr, the block the hybrid link routes to AWS.

    Fix: Move the range inside network.onprem_cidr, or widen network.onprem_cidr so that it holds every on-prem
    range."""
    onprem = _net(f.network.onprem_cidr)
    for field in ONPREM_RANGES:
        cidr = getattr(f.network, field)
        if not _net(cidr).subnet_of(onprem):
            yield Problem(f"network.{field}", f"must lie inside network.onprem_cidr {onprem}", cidr)


@validator()
def ranges_do_not_overlap(f: Factory) -> Iterator[Problem]:
    """The on-prem ranges do not overlap one another, and the AWS VPC (hybrid_link.vpc_cidr) overlaps none of them,
    so every address routes to one place.

    Fix: Give each on-prem range a block of its own, and pick a hybrid_link.vpc_cidr outside network.onprem_cidr."""
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
    a spec of 10**30 racks is refused without building a node.

    Fix: Widen the range the problem names (keep its first address so that no host moves), or plan fewer racks."""
    for field, capacity in f.rack_capacity.items():
        if f.compute.racks > capacity:
            block = f.rack_block[field]
            needed = RESERVED_LEADING_ADDRESSES + f.compute.racks * block + 2
            yield Problem(f"network.{field}", f"holds at most {capacity} racks of {f.platform.title} ({block} "
                          f"addresses per rack after the first {RESERVED_LEADING_ADDRESSES}); {f.compute.racks} "
                          f"racks need {_prefix_for(needed)}: widen the range or remove racks", getattr(f.network, field))


@validator(level="warning")
def ranges_hold_the_power_budget(f: Factory) -> Iterator[Problem]:
    """The racks the power budget allows should fit the ranges, so growing never needs new ranges.

    Fix: Widen the smallest range now, keeping its first address (no address moves), so that it holds every rack
    facility.power_budget_kw allows."""
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
    """The AWS VPC (hybrid_link.vpc_cidr) is between /16 and /28, as AWS allows, and large enough for one subnet of
    at least /28 per availability zone.

    Fix: Choose a hybrid_link.vpc_cidr between /16 and /28 with room for a /28 subnet in each of
    hybrid_link.availability_zones, or use fewer availability zones."""
    vpc = _net(f.hybrid_link.vpc_cidr)
    if not 16 <= vpc.prefixlen <= 28:
        yield Problem("hybrid_link.vpc_cidr", "must be between /16 and /28 (AWS VPC limits)", f.hybrid_link.vpc_cidr)
    elif not az_subnets(f.hybrid_link.vpc_cidr, f.hybrid_link.availability_zones):
        yield Problem("hybrid_link.vpc_cidr", f"too small for {f.hybrid_link.availability_zones} availability "
                      "zone subnets of at least /28 each", f.hybrid_link.vpc_cidr)
