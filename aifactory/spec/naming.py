"""Host names and host-override marks: pure functions of names, the one place each name is made or read.

Racks are `<factory>-r001` (three digits whatever the rack count, so no name changes as racks are added)
and their inventory groups `rack01`; nodes `<rack>-n01`, switch trays `<rack>-sw01`, head nodes
`<factory>-head01`; a node's or tray's BMC is the inventory host `<name>-bmc`. Host overrides
(`{host: {var: value}}`) mark hosts with `aifactory_absent: true` (not booted, out for repair: left out
of the inventory); `aifactory_dedicated_resources: false` (CPUs, memory and cgroups not its own) says a
host is a container (the lab's nodes), one of the capabilities of aifactory.node.role_vars.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Rack numbers in host names: `r001`; a factory past rack 999 names rack 1000 `r1000`, renaming none.
RACK_NAME_DIGITS = 3
BMC_SUFFIX = "-bmc"
ABSENT = "aifactory_absent"
DEDICATED = "aifactory_dedicated_resources"
MARKS = (ABSENT, DEDICATED)


def rack_name(factory: str, rack: int) -> str:
    return f"{factory}-r{rack:0{RACK_NAME_DIGITS}d}"


def rack_group(rack: int) -> str:
    """The rack's inventory group (and its label in batches and diagrams)."""
    return f"rack{rack:02d}"


def node_name(factory: str, rack: int, slot: int) -> str:
    return f"{rack_name(factory, rack)}-n{slot:02d}"


def switch_tray_name(factory: str, rack: int, slot: int) -> str:
    return f"{rack_name(factory, rack)}-sw{slot:02d}"


def head_node_name(factory: str, index: int) -> str:
    return f"{factory}-head{index:02d}"


def bmc_host(name: str) -> str:
    """The inventory host of a node's or switch tray's BMC."""
    return f"{name}{BMC_SUFFIX}"


def is_marked(host_vars: Mapping | None, mark: str) -> bool:
    """Whether one host's overrides set the mark (ABSENT) to true."""
    return isinstance(host_vars, Mapping) and host_vars.get(mark) is True


def marked_hosts(host_overrides: Mapping | None, mark: str) -> list[str]:
    """The hosts the overrides mark (ABSENT), sorted."""
    return sorted(h for h, host_vars in (host_overrides or {}).items() if is_marked(host_vars, mark))


def absent_hosts(host_overrides: Mapping | None) -> list[str]:
    return marked_hosts(host_overrides, ABSENT)


def is_container(host_vars: Mapping | None) -> bool:
    """Whether one host's overrides say its CPUs, memory and cgroups are not its own: a container."""
    return isinstance(host_vars, Mapping) and host_vars.get(DEDICATED) is False


def is_lab(nodes: Iterable[str], host_overrides: Mapping | None) -> bool:
    """A lab inventory: the overrides say every one of the nodes is a container, or absent (a lab that
    boots only some trays of a rack), and at least one a container."""
    marks = [(host_overrides or {}).get(n) for n in nodes] if host_overrides else []
    return any(is_container(m) for m in marks) and all(is_container(m) or is_marked(m, ABSENT) for m in marks)


def mark_problems(host_overrides: Mapping) -> list[tuple[str, str, object]]:
    """(host, message, given) for each mark set to something other than true or false."""
    return [(host, f"{mark} must be true or false", host_vars[mark])
            for host, host_vars in host_overrides.items() if isinstance(host_vars, Mapping)
            for mark in MARKS if mark in host_vars and not isinstance(host_vars[mark], bool)]
