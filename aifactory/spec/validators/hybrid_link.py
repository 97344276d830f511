"""The link to AWS: private BGP ASNs, at least one Direct Connect or VPN, no duplicates, public VPN peers."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from aifactory.spec.model import Factory
from aifactory.spec.validators.registry import Problem, validator

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


def _private_asn(asn: int) -> bool:
    return any(low <= asn <= high for low, high in PRIVATE_ASN_RANGES)


@validator()
def private_asns(f: Factory) -> Iterator[Problem]:
    """The BGP autonomous system numbers of both sides of the hybrid link are private ASNs, and they differ (eBGP
    needs two).

    Fix: Set hybrid_link.aws_asn and hybrid_link.onprem_asn to two different private ASNs (64512-65534 or
    4200000000-4294967294)."""
    for field in ("aws_asn", "onprem_asn"):
        asn = getattr(f.hybrid_link, field)
        if not _private_asn(asn):
            yield Problem(f"hybrid_link.{field}", "must be a private ASN (64512-65534 or 4200000000-4294967294)", asn)
    if f.hybrid_link.aws_asn == f.hybrid_link.onprem_asn:
        yield Problem("hybrid_link.onprem_asn", "must differ from hybrid_link.aws_asn (eBGP needs two ASNs)",
                      f.hybrid_link.onprem_asn)


@validator()
def link_present(f: Factory) -> Iterator[Problem]:
    """The factory reaches AWS over at least one private link: a Direct Connect connection or a Site-to-Site VPN.

    Fix: Add a hybrid_link.direct_connect entry (connection id and VLAN) or a hybrid_link.vpn entry (on-prem peer
    address)."""
    if not f.hybrid_link.direct_connect and not f.hybrid_link.vpn:
        yield Problem("hybrid_link", "needs at least one of direct_connect or vpn", "neither")


@validator()
def direct_connect_unique(f: Factory) -> Iterator[Problem]:
    """Each Direct Connect connection id appears once, and no VLAN is used twice on one connection.

    Fix: Remove the repeated hybrid_link.direct_connect entry, or give the virtual interface a VLAN of its own."""
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
    """Each Site-to-Site VPN peer is a public IPv4 address (AWS reaches the on-prem IKE endpoint over the internet),
    and no peer appears twice.

    Fix: Set hybrid_link.vpn[].peer_ip to the public address of the on-prem IKE endpoint, once per tunnel pair."""
    seen = set()
    for i, vpn in enumerate(f.hybrid_link.vpn):
        address = ipaddress.IPv4Address(vpn.peer_ip)
        for kind, ranges in NON_PUBLIC_PEER_RANGES.items():
            if any(address in ipaddress.IPv4Network(r) for r in ranges):
                yield Problem(f"hybrid_link.vpn.{i}.peer_ip", f"is in {kind} address space; a Site-to-Site VPN "
                              "peer needs the public address of the on-prem IKE endpoint", vpn.peer_ip)
        if vpn.peer_ip in seen:
            yield Problem(f"hybrid_link.vpn.{i}.peer_ip", "appears twice", vpn.peer_ip)
        seen.add(vpn.peer_ip)
