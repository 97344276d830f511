"""`aifactory rehearse SPEC`: lab up, plan against moto, bringup twice, acceptance, lab down; one report."""

from __future__ import annotations

import sys

from aifactory.node.bringup import BringupError, mitogen_strategy_dir
from aifactory.commands.runner_options import add_strategy_argument
from aifactory.commands.lab import add_fault_argument, parse_fault_options
from aifactory.lab import preflight
from aifactory.lab.rehearsal import rehearse
from aifactory.core.output import emit_json, table
from aifactory.spec import load_spec


def register(sub) -> None:
    p = sub.add_parser("rehearse", help="dress-rehearse a whole deployment offline against the lab's stand-ins")
    p.add_argument("spec", metavar="SPEC", help="factory.yaml or the site directory holding it")
    p.add_argument("--limit", metavar="PATTERN", help="bring up only these hosts (Ansible --limit)")
    p.add_argument("--trays-per-rack", type=int, metavar="N",
                   help="boot only the first N nodes of each rack (default: as `aifactory lab up`)")
    add_strategy_argument(p)
    add_fault_argument(p)
    p.add_argument("--fault-in-service", action="append", default=[], metavar="NODE:KIND",
                   help="inject a fault into a node's stand-in hardware once the factory is in service (after the "
                        "performance stage, and after five quiet minutes where no --fault is given): the monitoring "
                        "stage expects its alerts and the alert receiver's action, and checks that action in Slurm "
                        "(repeatable; needs monitoring.enabled; KIND: a --fault kind that raises an alert)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=run_rehearse)


def run_rehearse(args) -> int:
    f = load_spec(args.spec)
    faults = parse_fault_options(args, f)
    in_service = parse_fault_options(args, f, in_service=True)
    if faults is None or in_service is None:
        return 2
    if args.strategy == "mitogen":
        try:
            mitogen_strategy_dir()
        except BringupError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    problems = preflight.missing()
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    as_json = args.format == "json"
    report = rehearse(f, args.spec, progress=(lambda line: print(line, file=sys.stderr, flush=True)) if as_json
                      else (lambda line: print(line, flush=True)), limit=args.limit,
                       trays_per_rack=args.trays_per_rack, strategy=args.strategy, faults=faults,
                       in_service=in_service)
    if as_json:
        emit_json(report.as_dict())
    else:
        print(f"\nrehearsal of {f.name} (stand-ins: moto_server for AWS, sushy-emulator for BMCs, "
              "systemd-nspawn containers for nodes)\n")
        print(table(["stage", "outcome", "seconds", "detail"],
                    [(s.name, s.outcome, f"{s.seconds:.1f}", s.detail) for s in report.stages]))
        print_details(report)
        print(f"\n{f.name}: rehearsal {'passed' if report.passed else 'FAILED'}")
    return 0 if report.passed else 1


def print_details(report) -> None:
    """The first bring-up per stage (its wall seconds, the steps the roles reported not run) and the acceptance checks."""
    if report.bringup_stages:
        print("\nbring-up by stage (host-tasks)\n")
        print(table(["stage", "seconds", "run", "changed", "failed", "skipped", "reported not run (hosts): reason"],
                    [(stage, f"{r['seconds']:.1f}", r["tasks"], r["changed"], r["failed"] + r["unreachable"], r["skipped"],
                      "; ".join(f"{n['step']} ({len(n['hosts'])})" for n in r["not_run"]) or "-")
                     for stage, r in report.bringup_stages.items()]))
    if report.checks:
        print("\nacceptance checks (hosts)\n")
        print(table(["check", "passed", "failed", "could not run", "against a stand-in tool"],
                    [(name, c["pass"], c["fail"], c["skipped"], c["stand_in"]) for name, c in report.checks.items()]))
