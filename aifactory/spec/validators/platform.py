"""The platform and the facility: rack shape, fabric, power and cooling agree with the catalog's platform."""

from __future__ import annotations

from collections.abc import Iterator

from aifactory.spec.model import MAX_NODES, MAX_RACKS, Factory
from aifactory.spec.validators.registry import Problem, validator


@validator()
def factory_size_is_bounded(f: Factory) -> Iterator[Problem]:
    """At most MAX_RACKS racks and MAX_NODES nodes (sourced in aifactory.spec.model): arithmetic only, so a
    spec asking for 10**30 racks is refused without building a node, every other problem still listed.

    Fix: Lower compute.racks or compute.nodes_per_rack, or split the site into several factories."""
    if f.compute.racks > MAX_RACKS:
        yield Problem("compute.racks", f"at most {MAX_RACKS} racks (MAX_RACKS: 1.5x the largest AI factory "
                      "announced); split the site into several factories", f.compute.racks)
    if f.compute.racks * f.nodes_per_rack > MAX_NODES:
        path = "compute.nodes_per_rack" if f.compute.nodes_per_rack is not None else "compute.racks"
        yield Problem(path, f"{f.compute.racks} racks x {f.nodes_per_rack} nodes = {f.compute.racks * f.nodes_per_rack} "
                      f"nodes; at most {MAX_NODES} (MAX_NODES: 2.5x the servers of the largest AI factory announced)",
                      getattr(f.compute, path.split(".")[1]))


@validator()
def nodes_per_rack_fits_platform(f: Factory) -> Iterator[Problem]:
    """compute.nodes_per_rack fits the platform: the fixed count of a rack-scale system, or at most the node slots a
    rack's address block holds.

    Fix: Leave compute.nodes_per_rack out for a rack-scale platform, or lower it to the platform's node slots per
    rack."""
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
    """The platform's expected-hardware profile agrees with its software stack and rack shape.

    Fix: Correct the platform's entry in aifactory/catalog/platforms.yaml (a catalog error, not the site's)."""
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
    """The network fabric (network.fabric) is one the platform's servers connect over: EFA platforms need Ethernet,
    not InfiniBand.

    Fix: Set network.fabric to ethernet-rocev2 for an EFA platform."""
    if f.platform.expected.fabric == "efa" and f.network.fabric.startswith("infiniband"):
        yield Problem("network.fabric", f"{f.platform.title} servers connect over EFA, which runs on Ethernet, not "
                      "InfiniBand: use ethernet-rocev2", f.network.fabric)


@validator()
def power_within_budget(f: Factory) -> Iterator[Problem]:
    """The racks' power (racks x the platform's kW per rack) stays within facility.power_budget_kw.

    Fix: Raise facility.power_budget_kw to what the facility supplies, or remove racks."""
    if f.power_kw > f.facility.power_budget_kw:
        yield Problem("facility.power_budget_kw", f"{f.compute.racks} racks x {f.rack_power_kw} kW = {f.power_kw} kW "
                      "exceeds the budget; add power or remove racks", f.facility.power_budget_kw)


@validator()
def cooling_fits_platform(f: Factory) -> Iterator[Problem]:
    """The facility's cooling (facility.cooling) can cool the platform: liquid-cooled platforms need liquid cooling.

    Fix: Set facility.cooling to liquid for a liquid-cooled platform, or choose an air-cooled platform."""
    if f.platform.cooling.value == "liquid" and f.facility.cooling == "air":
        yield Problem("facility.cooling", f"{f.platform.title} needs liquid cooling ({f.platform.cooling.source})",
                      f.facility.cooling)
