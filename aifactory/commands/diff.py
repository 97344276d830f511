"""`aifactory diff SITE --against REF`: the change preview of a site (hosts, scheduler and AWS resources).

Exit 0 when nothing moves, 1 when a host's or head node's name or address would move, 2 on a bad spec or a ref or
saved plan that cannot be read, 4 when a side's plan stopped without a verdict (AWS's stand-in unreachable or failed).
"""

from __future__ import annotations

import sys

from aifactory.commands.paths import input_dir
from aifactory.commands.aws import EXIT_NOT_CHECKED
from aifactory.reports.diff import DiffError, DiffNotChecked, has_errors, markdown, site_diff
from aifactory.core.output import emit_json, progress


def register(sub) -> None:
    p = sub.add_parser("diff", help="preview a change: hosts added/removed/moved, scheduler changes, "
                                         "AWS resources created/updated/replaced/deleted")
    p.add_argument("spec", metavar="SITE", help="factory.yaml or the site directory holding it")
    p.add_argument("--against", metavar="REF", required=True,
                   help="a git ref of the site's repository (e.g. origin/main), or a saved `aifactory plan --format json`")
    p.add_argument("--program", metavar="DIR", type=input_dir, help="Pulumi program of the new side (default: infra/); the ref's infra/ plans the old")
    p.add_argument("--format", choices=["markdown", "json"], default="markdown")
    p.set_defaults(func=run_diff)


def run_diff(args) -> int:
    try:
        with progress(f"diff of {args.spec} against {args.against}") as step:
            diff = site_diff(args.spec, args.against, args.program, progress=step)
    except DiffNotChecked as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_NOT_CHECKED
    except DiffError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.format == "json":
        emit_json(diff)
    else:
        print(markdown(diff), end="")
    return 1 if has_errors(diff) else 0
