"""`aifactory validate SPEC...` and `aifactory schema`: check specs, print what each implies.

Several sites are checked in the order given, one section each, with one verdict and one exit status
(2 when any is not valid); JSON: `{"valid", "sites": [...]}`, SARIF a run and JUnit a suite per site."""

from __future__ import annotations

import json

from aifactory.reports.formats import MACHINE_FORMATS, specs_report
from aifactory.core.output import emit_json, table
from aifactory.spec import Problem, SpecError, load_spec
from aifactory.spec.validators import shown
from aifactory.spec.model import Factory as FactoryModel
from aifactory.spec.summary import summary, summary_rows


def register(sub) -> None:
    p = sub.add_parser("validate", help="check a factory spec and print what it implies")
    p.add_argument("spec", metavar="SPEC", nargs="+",
                   help="factory.yaml or the site directory holding it; several are checked in the order given")
    p.add_argument("--format", choices=["table", "json", *MACHINE_FORMATS], default="table",
                   help="sarif: code-scanning results at the spec's lines; junit: one test case per check")
    p.set_defaults(func=run_validate)
    s = sub.add_parser("schema", help="print the JSON Schema of factory.yaml (for editors)")
    s.set_defaults(func=run_schema)


def run_validate(args) -> int:
    if args.format in MACHINE_FORMATS:
        document, status = specs_report(args.spec, args.format)
        print(document, end="")
        return status
    if len(args.spec) == 1:  # one site: a bad spec is the CLI's error (its problems on stderr, JSON on stdout)
        entry, text = validated(args.spec[0], raise_error=True)
        if args.format == "json":
            emit_json({key: value for key, value in entry.items() if key not in ("spec", "site")})
        else:
            print(text)
        return 0
    results = [validated(spec) for spec in args.spec]
    valid = all(entry["valid"] for entry, _ in results)
    if args.format == "json":
        emit_json({"valid": valid, "sites": [entry for entry, _ in results]})
    else:
        print("\n\n".join(text for _, text in results))
        print(f"\n{len(results)} sites: " + ", ".join(
            f"{entry.get('site') or entry['source']} {'valid' if entry['valid'] else 'NOT valid'}" for entry, _ in results))
    return 0 if valid else 2


def validated(spec: str, raise_error: bool = False) -> tuple[dict, str]:
    """One site's verdict as JSON ({spec, valid, site, summary, warnings} or {spec, valid, source, problems,
    not_run}) and as its section of the table output; `raise_error`: a bad spec raises its SpecError."""
    warnings: list[Problem] = []
    try:
        f = load_spec(spec, warnings=warnings)
    except SpecError as err:
        if raise_error:
            raise
        return invalid_entry(spec, err), invalid_section(err)
    s = summary(f)
    lines = [f"{f.name}: valid\n", table(["", ""], summary_rows(s), header=False), *(f"warning: {w}" for w in warnings)]
    return ({"spec": spec, "valid": True, "site": f.name, "summary": s, "warnings": [w.as_dict() for w in warnings]},
            "\n".join(lines))


def invalid_entry(spec: str, err: SpecError) -> dict:
    """A spec that is not valid, as a site's JSON entry (validate, plan of several sites)."""
    return {"spec": spec, "valid": False, "source": shown(err.source, 500), "problems": [p.as_dict() for p in err.problems],
            "not_run": [n.as_dict() for n in err.not_run]}


def invalid_section(err: SpecError) -> str:
    """A spec that is not valid, as a site's section of the table output: each problem at line:column."""
    return "\n".join([f"{shown(err.source, 500)}: NOT valid ({len(err.problems)} problem(s)):",
                      *(f"  {p.located()}" for p in err.problems), *(f"  {n}" for n in err.not_run)])


def run_schema(args) -> int:
    print(json.dumps(FactoryModel.model_json_schema(), indent=2))
    return 0
