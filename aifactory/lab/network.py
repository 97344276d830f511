"""The lab's rack network: a bridge in the root namespace holding the host_cidr gateway address,
and one network namespace per node joined to it by a veth pair.

The controller (Ansible, ssh) reaches the nodes through the bridge. Nodes get no default route, so
nothing a node does can leave the namespaces the lab made.
"""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aifactory.lab.state import LabState


IFALIAS_MAX_BYTES = 255  # IFALIASZ (256) less the terminating NUL, linux/if.h


class LabNetworkError(RuntimeError):
    """The lab cannot set up its network (e.g. the node range is already in use on this machine)."""


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def short_id(site: str) -> str:
    """Six hex characters naming the site's links (interface names have at most 15 characters)."""
    return hashlib.sha256(site.encode()).hexdigest()[:6]


def bridge_name(site: str) -> str:
    return f"afbr{short_id(site)}"


def veth_name(site: str, index: int) -> str:
    return f"afv{short_id(site)}n{index}"


def netns_name(site: str, node: str) -> str:
    return f"aifactory-lab-{site}-{node}"[:200]


def gateway(host_cidr: str) -> ipaddress.IPv4Interface:
    net = ipaddress.IPv4Network(host_cidr)
    return ipaddress.IPv4Interface(f"{net.network_address + 1}/{net.prefixlen}")


def check_free(host_cidr: str) -> None:
    """Refuse to start when an address or route of this machine already overlaps the node range."""
    net = ipaddress.IPv4Network(host_cidr)
    for line in ip("-4", "-o", "route", "show").stdout.splitlines():
        dest = line.split()[0]
        if dest != "default" and ipaddress.IPv4Network(dest, strict=False).overlaps(net):
            raise LabNetworkError(f"{host_cidr} is already routed on this machine ({line.strip()}); "
                                  "is another lab up? run `aifactory lab down` for it first")


def create_bridge(state: LabState, host_cidr: str) -> str:
    check_free(host_cidr)
    name = bridge_name(state.site)
    ip("link", "add", name, "type", "bridge")
    state.record("link", name=name)
    # The bridge names its lab's state file: a lab left up by a killed process is found by it (aifactory.lab.traces).
    # The kernel keeps an alias of at most IFALIAS_MAX_BYTES; a longer path is not set (the record is found as before).
    if len(str(state.path).encode()) <= IFALIAS_MAX_BYTES:
        ip("link", "set", "dev", name, "alias", str(state.path))
    ip("addr", "add", str(gateway(host_cidr)), "dev", name)
    ip("link", "set", name, "up")
    return name


def create_node_netns(state: LabState, bridge: str, node: str, index: int, address: str, prefixlen: int) -> str:
    """A namespace for `node` with eth0 = `address`, cabled to the bridge by a veth pair."""
    ns = netns_name(state.site, node)
    ip("netns", "add", ns)
    state.record("netns", name=ns)
    host_end = veth_name(state.site, index)
    ip("link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", ns)
    state.record("link", name=host_end)
    ip("link", "set", host_end, "master", bridge, "up")
    ip("-n", ns, "link", "set", "lo", "up")
    ip("-n", ns, "addr", "add", f"{address}/{prefixlen}", "dev", "eth0")
    ip("-n", ns, "link", "set", "eth0", "up")
    return ns


def remove_link(name: str) -> None:
    ip("link", "del", name, check=False)


def remove_netns(name: str) -> None:
    ip("netns", "del", name, check=False)


def link_exists(name: str) -> bool:
    return ip("link", "show", name, check=False).returncode == 0


def netns_exists(name: str) -> bool:
    return name in ip("netns", "list").stdout.split()
