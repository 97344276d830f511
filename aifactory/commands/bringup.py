"""`aifactory bringup SPEC`: run the site's playbooks through ansible-runner, with progress."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from aifactory.bringup import (EXIT_ACCEPTANCE_INCOMPLETE, STAGES, BringupError, BringupOptions, BringupResult,
                               run_bringup, runner_output_tail)
from aifactory.inventory import InventoryInputError, build_inventory, load_host_overrides, load_stack_outputs
from aifactory.report import emit_json, table
from aifactory.spec import load_spec


EXIT_CODES = f"""exit codes:
  0  every host ran cleanly and every acceptance that ran passed
  1  the run, a host or an acceptance check failed
  2  bad input (spec, stage names, stack outputs, host overrides, extra vars)
  {EXIT_ACCEPTANCE_INCOMPLETE}  nothing failed, but acceptance is incomplete: checks the platform's expected hardware
     needs could not run on some host (tool not installed, lab stand-in); see .aifactory/acceptance/"""


def register(sub) -> None:
    p = sub.add_parser("bringup", help="bring the site's nodes up with Ansible (site.yml or chosen stages)",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", metavar="SPEC", help="factory.yaml or the site directory holding it")
    p.add_argument("--stages", help=f"comma-separated stages to run, as site.yml's tags (they run in this order): "
                                    f"{','.join(STAGES)}")
    p.add_argument("--playbook", type=Path, help="run this playbook instead of site.yml (--stages become its --tags)")
    p.add_argument("--limit", help="Ansible host pattern to limit the run to")
    p.add_argument("--check", action="store_true", help="check mode: report what would change, change nothing")
    p.add_argument("--stack-outputs", type=Path, metavar="FILE",
                   help="JSON from `pulumi stack output --json --show-secrets` (secret outputs are ignored)")
    p.add_argument("--host-overrides", type=Path, metavar="FILE", help="JSON {host: {var: value}} applied last")
    p.add_argument("--extra-vars", "-e", action="append", default=[], metavar="JSON|@FILE",
                   help="extra variables as a JSON object or @file.json (never secrets: they are kept in the artifacts)")
    p.add_argument("--forks", type=int, help="parallel hosts (default: ansible.cfg)")
    p.add_argument("--artifacts-dir", type=Path, help="where run directories go (default .artifacts/bringup)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=run)


def run(args) -> int:
    f = load_spec(args.spec)  # a bad spec raises SpecError: the CLI prints it and exits 2
    try:
        options = _options(args)
        # Read the inputs the inventory plugin will read, so that bad ones stop here with exit 2.
        build_inventory(
            f,
            stack_outputs=load_stack_outputs(options.stack_outputs) if options.stack_outputs else None,
            host_overrides=load_host_overrides(options.host_overrides) if options.host_overrides else None,
        )
        result = run_bringup(f, options)
    except InventoryInputError as err:
        print(f"error: {err.source}:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except BringupError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    if args.format == "json":
        emit_json(result.as_dict())
        if result.acceptance_incomplete:
            print(incomplete_line(result), file=sys.stderr)
        return result.exit_code
    if result.hosts:
        rows = [[host, *counts.values()] for host, counts in result.hosts.items()]
        rows.append(["TOTAL", *result.totals.values()])
        print(table(["host", *next(iter(result.hosts.values()))], rows))
    else:
        print(f"ansible-playbook ended ({result.status}, rc {result.rc}) before any host ran; its last output:",
              file=sys.stderr)
        print(runner_output_tail(result), file=sys.stderr)
    for name in result.unscrubbable:
        print(f"warning: {name} is too short to be scrubbed from output and artifacts", file=sys.stderr)
    if result.acceptance_incomplete:
        print(incomplete_line(result))
    mode = " (check mode: nothing changed)" if result.check else ""
    verdict = {0: "ok", EXIT_ACCEPTANCE_INCOMPLETE: "acceptance INCOMPLETE"}.get(result.exit_code, "FAILED")
    tags = f" --tags {','.join(result.stages)}" if result.stages else ""
    print(f"\n{f.name}: {verdict}{mode}; {result.playbook}{tags}")
    print(f"artifacts: {result.run_dir}")
    return result.exit_code


def incomplete_line(result: BringupResult) -> str:
    """One line naming the hosts whose acceptance is incomplete and the checks that could not run."""
    hosts = result.acceptance_incomplete
    checks = sorted({c for h in hosts for c in result.acceptance[h].get("skipped") or {}})
    return (f"acceptance incomplete on {len(hosts)} host{'s' if len(hosts) != 1 else ''}: checks that need hardware "
            f"could not run ({', '.join(checks)}) on {', '.join(hosts[:5])}{' ...' if len(hosts) > 5 else ''}")


def _options(args) -> BringupOptions:
    options = BringupOptions(
        stages=[s.strip() for s in args.stages.split(",")] if args.stages is not None else None,
        playbook=args.playbook,
        limit=args.limit,
        check=args.check,
        stack_outputs=args.stack_outputs,
        host_overrides=args.host_overrides,
        extra_vars=_extra_vars(args.extra_vars),
        forks=args.forks,
    )
    if args.artifacts_dir:
        options.artifacts_root = args.artifacts_dir
    return options


def _extra_vars(values: list[str]) -> dict:
    merged: dict = {}
    for value in values:
        source = value
        try:
            text = Path(value[1:]).read_text() if value.startswith("@") else value
            data = json.loads(text)
        except OSError as err:
            raise BringupError(f"--extra-vars {source}: cannot read: {err.strerror}") from None
        except json.JSONDecodeError as err:
            raise BringupError(f"--extra-vars {source}: not a JSON object ({err.msg})") from None
        if not isinstance(data, dict):
            raise BringupError(f"--extra-vars {source}: not a JSON object")
        merged.update(data)
    return merged
