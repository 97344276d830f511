"""`aifactory plan SPEC...`: run the Pulumi program offline against moto and check the sovereignty controls.

Several sites (`aifactory plan inventories/*/`) are planned in one process, one after the other, with
one report in the order given (JSON: `{"sites": [...]}`; SARIF: one run per site; JUnit: two suites per
site) and one exit status, the worst of the sites'. A site whose spec is not valid is not planned: its
problems take its place in the report (exit 2), and the other sites are planned all the same.

Exit 0 when the plan is clean, 1 on plan errors or control violations, 2 on a bad spec or a bad
program directory, 4 when the AWS stand-in cannot be reached, is not set up or fails mid-plan (no verdict).
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict

from aifactory.commands.paths import input_dir, output_file
from aifactory.reports.formats import MACHINE_FORMATS, spec_document
from aifactory.reports.formats.junit import merged_junit, plans_junit
from aifactory.reports.formats.sarif import merged_sarif, plan_sarif
from aifactory.aws.plan import JSON_VERSION, Plan, PlanError, StandInUnavailable, make_plans
from aifactory.commands.aws import EXIT_NOT_CHECKED
from aifactory.commands.validate import invalid_entry, invalid_section
from aifactory.aws.plan.engine import API_MODEL, MOCK_ONLY, MOTO, REJECTED
from aifactory.catalog.aws_api import botocore_version
from aifactory.core.output import emit_json, progress, table
from aifactory.spec import SpecError, load_spec


def register(sub) -> None:
    p = sub.add_parser("plan", help="plan the AWS side offline (Pulumi mocks + moto) and check SOV-01..15")
    p.add_argument("spec", metavar="SPEC", nargs="+", help="factory.yaml or the site directory holding it; several plan in one run")
    p.add_argument("--program", metavar="DIR", type=input_dir, help="Pulumi program directory with __main__.py (default: infra/)")
    p.add_argument("--aws-endpoint", metavar="URL", help="a running moto_server instead of a moto worker process")
    p.add_argument("--format", choices=["table", "json", *MACHINE_FORMATS], default="table",
                   help="sarif: code-scanning results at the declaring program line; junit: a test case per control and resource")
    p.add_argument("--stack-outputs", metavar="FILE", type=output_file,
                   help="write the stack outputs the playbooks consume (no secret) to FILE, in the format of "
                        "`pulumi stack output --json`, for `bringup --stack-outputs` (one site only)")
    for fmt in MACHINE_FORMATS:  # CI: one plan, the table in the log and both documents as files
        p.add_argument(f"--{fmt}", metavar="FILE", type=output_file, help=f"also write the {fmt.upper()} document to FILE")
    p.set_defaults(func=run_plan)


def run_plan(args) -> int:
    if args.stack_outputs and len(args.spec) > 1:
        print("error: --stack-outputs: one site only (the file holds one stack's outputs)", file=sys.stderr)
        return 2
    invalid = spec_errors(args.spec)
    planned = [spec for spec in args.spec if spec not in invalid] or args.spec  # none valid: the first one's error
    try:
        with progress(f"planning {', '.join(planned)}") as step:
            plans = dict(zip(planned, make_plans(planned, args.program, args.aws_endpoint, progress=step)))
    except StandInUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_NOT_CHECKED
    except (PlanError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except SpecError as err:
        write_documents(args, lambda fmt: spec_document(err.source, err.problems, fmt, "plan", err.not_run))
        if args.format not in MACHINE_FORMATS:
            raise
        print(spec_document(err.source, err.problems, args.format, "plan", err.not_run), end="")
        return 2

    # Each site in the order given: its plan, or the problems of its spec.
    sites = [plans.get(spec) or invalid[spec] for spec in args.spec]

    def document(fmt: str) -> str:
        if fmt == "sarif":
            return json.dumps(merged_sarif([plan_sarif(site) if isinstance(site, Plan) else json.loads(
                spec_document(site.source, site.problems, fmt, "plan", site.not_run)) for site in sites]), indent=2) + "\n"
        return merged_junit([plans_junit([site]) if isinstance(site, Plan) else
                             spec_document(site.source, site.problems, fmt, "plan", site.not_run) for site in sites])

    clean = not invalid and all(plan.clean for plan in plans.values())
    write_documents(args, document)
    if args.stack_outputs:
        args.stack_outputs.write_text(json.dumps(sites[0].stack_output_file(), indent=2) + "\n", encoding="utf-8")
    if args.format == "json":
        emit_json(sites[0].as_dict() if len(sites) == 1 else
                  {"version": JSON_VERSION, "clean": clean, "sites": [
                      site.as_dict() if isinstance(site, Plan) else invalid_entry(spec, site)
                      for spec, site in zip(args.spec, sites)]})
    elif args.format in MACHINE_FORMATS:
        print(document(args.format), end="")
    else:
        print("\n\n".join(render(site) if isinstance(site, Plan) else invalid_section(site) for site in sites))
        if len(sites) > 1:
            print(f"\n{len(sites)} sites: " + ", ".join(
                f"{site.factory.name} {'clean' if site.clean else 'NOT clean'}" if isinstance(site, Plan)
                else f"{spec} NOT valid (not planned)" for spec, site in zip(args.spec, sites)))
    return 2 if invalid else 0 if clean else 1


def spec_errors(specs: list[str]) -> dict[str, SpecError]:
    """The specs that are not valid, each with its error (their sites are not planned)."""
    errors = {}
    for spec in specs:
        try:
            load_spec(spec)
        except SpecError as err:
            errors[spec] = err
    return errors


def write_documents(args, document) -> None:
    """The SARIF and JUnit documents asked for with --sarif FILE / --junit FILE."""
    for fmt in MACHINE_FORMATS:
        if getattr(args, fmt):
            getattr(args, fmt).write_text(document(fmt), encoding="utf-8")


def render(plan: Plan) -> str:
    """The plan for people: resources by component, what moto checked, the controls, the errors."""
    per_component: dict[str, Counter] = defaultdict(Counter)
    for r in plan.resources:
        per_component[r.component][r.checked_by] += 1
    rows = [(c, sum(n.values()), n[MOTO], n[API_MODEL], n[MOCK_ONLY], n[REJECTED]) for c, n in sorted(per_component.items())]
    mock_only = Counter(r.type for r in plan.resources if r.checked_by == MOCK_ONLY)
    out = [f"{plan.factory.name}: plan of {plan.program} against {plan.backend}, account {plan.account} "
           "(stand-in for AWS; Pulumi mock engine)", ""]
    out.append(table(["component", "resources", "moto", "api-model", "mock only", "rejected"], rows))
    model_checked = Counter(r.type for r in plan.resources if r.checked_by == API_MODEL)
    if model_checked:
        out += ["", f"api-model (not created in moto; inputs checked against the AWS API's model, botocore "
                    f"{botocore_version()}):"]
        out += [f"  {n} x {t}" for t, n in sorted(model_checked.items())]
    if mock_only:
        out += ["", "mock only (neither in moto nor in the API model's mapping; inputs checked by the controls only):"]
        out += [f"  {n} x {t}" for t, n in sorted(mock_only.items())]
    if plan.placeholders:
        out += ["", "mock settings (offline placeholders, not the site's values): " + ", ".join(plan.placeholders)]
    if plan.outputs:
        out += ["", "stack outputs the playbooks consume (values of this offline plan):"]
        out += [f"  {name}: " + (f"{len(o['value'])} names (--format json lists them)" if isinstance(o["value"], dict)
                                 else o["value"]) + ("  (mock only)" if o["mock_only"] else "")
                for name, o in plan.outputs.items()]
    control_rows = []
    for c in plan.controls:
        control_rows.append((c.id, "pass" if c.passed else "FAIL", c.statement if c.passed else ""))
        control_rows += [("", "", f"{v.resource or '(stack)'}: {v.message}") for v in c.violations]
    out += ["", table(["control", "result", "statement / violation"], control_rows)]
    errors = plan.errors + [f"{r.name} ({r.type}): {r.error}" for r in plan.resource_errors]
    if errors:
        out += ["", f"{len(errors)} plan error(s):"] + [f"  {e}" for e in errors]
    failed = sum(not c.passed for c in plan.controls)
    verdict = "clean" if plan.clean else f"{len(errors)} error(s), {failed} control(s) failed"
    out += ["", f"{len(plan.resources)} resources ({sum(r.checked_by == MOTO for r in plan.resources)} created in moto); {verdict}"]
    return "\n".join(out)
