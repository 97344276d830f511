"""`aifactory validate SPEC` and `aifactory schema`: check a spec, print what it implies."""

from __future__ import annotations

import json

from aifactory.reports.formats import MACHINE_FORMATS, spec_report
from aifactory.core.output import emit_json, table
from aifactory.spec import Factory, Problem, load_spec
from aifactory.spec.model import Factory as FactoryModel


def register(sub) -> None:
    p = sub.add_parser("validate", help="check a factory spec and print what it implies")
    p.add_argument("spec", metavar="SPEC", help="factory.yaml or the site directory holding it")
    p.add_argument("--format", choices=["table", "json", *MACHINE_FORMATS], default="table",
                   help="sarif: code-scanning results at the spec's lines; junit: one test case per check")
    p.set_defaults(func=run_validate)
    s = sub.add_parser("schema", help="print the JSON Schema of factory.yaml (for editors)")
    s.set_defaults(func=run_schema)


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


def run_validate(args) -> int:
    if args.format in MACHINE_FORMATS:
        document, status = spec_report(args.spec, args.format)
        print(document, end="")
        return status
    warnings: list[Problem] = []
    f = load_spec(args.spec, warnings=warnings)  # a bad spec: the CLI prints its problems (as JSON with --format json)
    s = summary(f)
    if args.format == "json":
        emit_json({"valid": True, "summary": s, "warnings": [w.as_dict() for w in warnings]})
        return 0
    rows = summary_rows(s)
    print(f"{f.name}: valid\n")
    print(table(["", ""], rows, header=False))
    for w in warnings:
        print(f"warning: {w}")
    return 0


def run_schema(args) -> int:
    print(json.dumps(FactoryModel.model_json_schema(), indent=2))
    return 0
