"""`aifactory report SITE`: one self-contained HTML page (summary, topology, plan, controls, acceptance).

Exit 0 when the page was written (whatever the plan found: the page shows it), 1 when it could not be.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aifactory.aws.plan import make_plan
from aifactory.commands.paths import input_dir, output_file
from aifactory.core.output import progress
from aifactory.reports.html import ReportError, build_report, default_page, graphviz_dot
from aifactory.spec import load_spec


def register(sub) -> None:
    p = sub.add_parser("report", help="write one self-contained HTML page of a factory (topology, plan, controls, acceptance)")
    p.add_argument("spec", metavar="SITE", help="factory.yaml or the site directory holding it")
    p.add_argument("-o", "--output", metavar="FILE", type=output_file, help="where to write the page (default: ~/.local/state/aifactory/sites/<factory>/report.html)")
    p.add_argument("--program", metavar="DIR", type=input_dir, help="Pulumi program directory with __main__.py (default: infra/)")
    p.add_argument("--acceptance", metavar="DIR", type=input_dir,
                   help="acceptance results of the last bring-up (default: ~/.local/state/aifactory/sites/<factory>/acceptance/)")
    p.set_defaults(func=run_report)


def run_report(args) -> int:
    load_spec(args.spec)  # a bad SITE exits 2 whatever this machine lacks
    try:
        graphviz_dot()  # missing: said before the plan, not after it
        with progress(f"planning {args.spec}") as step:
            plan = make_plan(args.spec, args.program, progress=step)
        document = build_report(plan, args.acceptance)
    except (FileNotFoundError, ReportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    output = Path(args.output) if args.output else default_page(plan.factory)
    try:
        if not args.output:
            output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(document, encoding="utf-8")
    except OSError as err:
        print(f"error: {'-o ' if args.output else ''}{output}: the page could not be written ({err.strerror or err}): give another --output",
              file=sys.stderr)
        return 1
    print(f"{output}: {plan.factory.name} report ({'clean plan' if plan.clean else 'plan with findings'})")
    return 0
