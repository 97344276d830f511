"""`aifactory rollout SITE --stage STAGE`: a disruptive stage rolled out batch by batch (aifactory.day2.rollout)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aifactory.node.bringup import STRATEGIES, BringupError
from aifactory.commands.bringup import _positive_int, checked_inputs, is_lab, run_options
from aifactory.node.inventory import InventoryInputError
from aifactory.core.output import emit_json
from aifactory.day2.rollout import (DEFAULT_DRAIN_TIMEOUT, ROLLOUT_STAGES, RolloutError, RolloutOptions, exit_code, prepare,
                               record_lock, record_path, run_rollout, state_lines)
from aifactory.spec import load_spec
from aifactory.spec.validators import shown

EPILOG = """Each batch: drain its nodes in Slurm (reason "aifactory rollout STAGE") and wait for their running
jobs (--drain-timeout; --force requeues them instead), apply the stage, restart through the BMC the
nodes whose change needs it (a driver upgrade) and wait for them, run acceptance, resume the nodes.
The first batch whose gate fails (a failed task, an acceptance verdict other than pass) stops the
rollout: its nodes stay drained, later batches are not touched. The record (--record, default
.aifactory/day2/rollout/SITE.json) says which batch stopped and which nodes are drained; --resume
continues from that batch. Ctrl-C stops the running batch the same way.

exit codes:
  0    every batch passed (or --max-batches ran and the rest waits for --resume)
  1    a batch failed its gate: the rollout stopped there
  2    bad input (spec, stage, options, record, host overrides), a real run that was not confirmed,
       or an unfinished rollout without --resume; nothing ran
  130  stopped by Ctrl-C (SIGINT); 143 by SIGTERM: the record says where"""


def register(sub) -> None:
    p = sub.add_parser("rollout", help="roll a disruptive stage out batch by batch: drain, apply, reboot, accept, resume",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", metavar="SITE", help="factory.yaml or the site directory holding it")
    p.add_argument("--stage", required=True, choices=ROLLOUT_STAGES, help="the stage to roll out")
    p.add_argument("--batch-size", type=_positive_int, metavar="N",
                   help="nodes per batch after the canary (not on NVL72, where a batch is a rack; default: a rack)")
    p.add_argument("--force", action="store_true",
                   help="requeue the batch's running jobs instead of waiting for them (also with --resume)")
    p.add_argument("--drain-timeout", type=_positive_int, metavar="S",
                   help=f"seconds a batch waits for its running jobs before it fails (default {DEFAULT_DRAIN_TIMEOUT}; "
                        "with --resume, the recorded one)")
    p.add_argument("--resume", action="store_true", help="continue the recorded rollout from the batch where it stopped")
    p.add_argument("--max-batches", type=_positive_int, metavar="N",
                   help="run at most N batches now; --resume runs the rest")
    p.add_argument("--record", type=Path, metavar="FILE", help="the rollout's JSON record (default .aifactory/day2/rollout/SITE.json)")
    p.add_argument("--stack-outputs", type=Path, metavar="FILE", help="as for bringup")
    p.add_argument("--host-overrides", type=Path, metavar="FILE",
                   help="JSON {host: {var: value}} applied last; hosts with aifactory_absent are skipped")
    p.add_argument("--extra-vars", "-e", action="append", default=[], metavar="JSON|@FILE",
                   help="extra variables as for bringup (never secrets)")
    p.add_argument("--forks", type=_positive_int, help="parallel hosts (default: ansible.cfg)")
    p.add_argument("--strategy", choices=STRATEGIES, help="Ansible strategy, as for bringup")
    p.add_argument("--yes", action="store_true", help="run without asking, also when the inventory is not a lab")
    p.add_argument("--artifacts-dir", type=Path, help="where run directories go (default .artifacts/bringup)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=run)


def run(args) -> int:
    f = load_spec(args.spec)
    try:
        bringup = run_options(args)
        overrides = checked_inputs(f, bringup)
        options = RolloutOptions(stage=args.stage, batch_size=args.batch_size, force=args.force,
                                 drain_timeout=args.drain_timeout, resume=args.resume, max_batches=args.max_batches,
                                 bringup=bringup, host_overrides=overrides, record=args.record)
        with record_lock(options.record or record_path(f.name)):
            return _run(f, args, options, overrides)
    except InventoryInputError as err:
        print(f"error: {shown(err.source, 300)}:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except (BringupError, RolloutError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(f, args, options: RolloutOptions, overrides: dict | None) -> int:
    """Plan or resume, confirm, roll out, report (RolloutError: exit 2, by run)."""
    path, record = prepare(f, options)
    print(plan_lines(record, path), file=sys.stderr)
    if not is_lab(f, overrides) and not confirmed(f.name, args.yes):
        return 2
    record = run_rollout(f, options, path, record)
    command = f"aifactory rollout {args.spec} --stage {args.stage}"
    if args.format == "json":
        emit_json(record)
        for line in state_lines(record, command):
            print(line, file=sys.stderr)
    else:
        print("\n".join(state_lines(record, command)))
        print(f"record: {path}")
    return exit_code(record)


def plan_lines(record: dict, path: Path) -> str:
    todo = [b for b in record["batches"] if b["outcome"] != "passed"]
    lines = [f"rollout of {record['stage']} on {record['site']}: {len(todo)} of {len(record['batches'])} batches to run "
             f"(record {path})"]
    lines += [f"  batch {b['index']}: {b['label']}: {len(b['nodes'])} node(s)" for b in todo]
    return "\n".join(lines)


def confirmed(site: str, yes: bool) -> bool:
    """A rollout on an inventory that is not a lab drains and restarts real nodes: --yes, or the factory's
    name typed on a terminal."""
    if yes:
        return True
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        print("error: a rollout drains and restarts real nodes; not a terminal, so nothing was asked and nothing "
              "ran: pass --yes", file=sys.stderr)
        return False
    try:
        answer = input(f"this drains and restarts real nodes; type the factory's name ({site}) to go on: ")
    except EOFError:
        answer = ""
    if answer.strip() != site:
        print("not confirmed: nothing ran", file=sys.stderr)
        return False
    return True
