"""`aifactory validate SPEC` and `aifactory schema`: check a spec, print what it implies."""

from __future__ import annotations

import json

from aifactory.reports.formats import MACHINE_FORMATS, spec_report
from aifactory.core.output import emit_json, table
from aifactory.spec import Problem, load_spec
from aifactory.spec.model import Factory as FactoryModel
from aifactory.spec.summary import summary, summary_rows


def register(sub) -> None:
    p = sub.add_parser("validate", help="check a factory spec and print what it implies")
    p.add_argument("spec", metavar="SPEC", help="factory.yaml or the site directory holding it")
    p.add_argument("--format", choices=["table", "json", *MACHINE_FORMATS], default="table",
                   help="sarif: code-scanning results at the spec's lines; junit: one test case per check")
    p.set_defaults(func=run_validate)
    s = sub.add_parser("schema", help="print the JSON Schema of factory.yaml (for editors)")
    s.set_defaults(func=run_schema)


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
