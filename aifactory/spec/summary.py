"""What a spec implies, in figures: `summary(factory)` as data, `summary_rows` as labelled text.

`aifactory validate` prints it; the HTML report opens with it.
"""

from __future__ import annotations

from aifactory.spec.model import Factory


def summary(f: Factory) -> dict:
    """What the spec implies, as data: the same figures for people and for machines."""
    link = []
    if f.hybrid_link.direct_connect:
        link.append(f"Direct Connect x{len(f.hybrid_link.direct_connect)}")
    if f.hybrid_link.vpn:
        link.append(f"Site-to-Site VPN x{len(f.hybrid_link.vpn)}")
    return {
        "name": f.name,
        "platform": f.platform.title,
        "racks": f.compute.racks,
        "nodes_per_rack": f.nodes_per_rack,
        "nodes": f.node_count,
        "switch_trays": len(f.switch_trays),
        "accelerators": f.accelerator_count,
        "accelerator": f.platform.accelerator,
        "rack_power_kw": f.rack_power_kw,
        "power_kw": f.power_kw,
        "power_budget_kw": f.facility.power_budget_kw,
        "link": " + ".join(link),
        "region": f.sovereignty.region,
        "allowed_regions": list(f.sovereignty.allowed_regions),
        "residency": f.sovereignty.residency,
        "bedrock_routing": {m: list(r) for m, r in f.bedrock_routing_regions.items()},
        "air_gapped": f.air_gapped,
        "first_node": f.nodes[0].name if f.nodes else None,
    }


def summary_rows(s: dict) -> list[tuple[str, str]]:
    """The summary as (label, text) rows, for the terminal and the HTML report."""
    routing = "; ".join(f"{m} -> {', '.join(r)}" for m, r in s["bedrock_routing"].items()) or "none"
    return [
        ("platform", s["platform"]),
        ("racks", f"{s['racks']} x {s['nodes_per_rack']} nodes = {s['nodes']} nodes"
                  + (f" (+ {s['switch_trays']} NVLink switch trays)" if s["switch_trays"] else "")),
        ("accelerators", f"{s['accelerators']} x {s['accelerator']}"),
        ("power", f"{s['racks']} x {s['rack_power_kw']} kW = {s['power_kw']} kW of {s['power_budget_kw']} kW budget"),
        ("link", s["link"]),
        ("home region", f"{s['region']} (allowed: {', '.join(s['allowed_regions'])}; residency {s['residency']})"),
        ("bedrock routing", routing),
        ("packages", "on-prem mirrors only (air-gapped)" if s["air_gapped"] else "public repositories"),
    ]
