"""`aifactory rollout SITE --stage STAGE`: a disruptive stage rolled out batch by batch (aifactory.day2.rollout)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aifactory.commands.paths import record_file
from aifactory.commands.runner_options import (HOST_OVERRIDES_HELP, add_run_arguments, bad_input, checked_run_options,
                                               confirmed, is_lab, positive_int)
from aifactory.node.bringup import BringupError
from aifactory.node.inventory import InventoryInputError
from aifactory.core.output import emit_json
from aifactory.day2.rollout import (DEFAULT_DRAIN_TIMEOUT, ROLLOUT_STAGES, RolloutError, RolloutOptions, check_exit_code,
                                    check_lines, check_rollout, exit_code, prepare, record_lock, record_path,
                                    run_rollout, state_lines)
from aifactory.spec import load_spec
from aifactory.spec.naming import ABSENT

# A rollout (and a replacement) on an inventory that is not a lab drains and restarts real nodes:
# --yes, or the factory's name typed on a terminal (runner_options.confirmed).
REFUSAL = "a rollout drains and restarts real nodes; not a terminal, so nothing was asked and nothing ran: pass --yes"
PROMPT = "this drains and restarts real nodes; "

EPILOG = """Each batch: drain its nodes in Slurm (reason "aifactory rollout STAGE") and wait for their running
jobs (--drain-timeout; --force requeues them instead), apply the stage, restart through the BMC the
nodes whose change needs it (a driver upgrade) and wait for them, run acceptance, resume the nodes.
The first batch whose gate fails (a failed task, an acceptance verdict other than pass) stops the
rollout: its nodes stay drained, later batches are not touched. The record (--record, default
~/.local/state/aifactory/sites/SITE/day2/rollout.json) says which batch stopped and which nodes are drained; --resume
continues from that batch. Ctrl-C stops the running batch the same way. --check prints the batch
plan and runs each batch's playbook in Ansible check mode (what each host would change); it drains,
restarts and resumes nothing, sends no BMC power command, needs no --yes and writes no record.

exit codes:
  0    every batch passed (or --max-batches ran and the rest waits for --resume)
  1    a batch failed its gate: the rollout stopped there (--check: a batch's check run failed)
  2    bad input (spec, stage, options, record, host overrides), a real run that was not confirmed,
       or an unfinished rollout without --resume; nothing ran
  130  stopped by Ctrl-C (SIGINT); 143 by SIGTERM: the record says where"""


def register(sub) -> None:
    p = sub.add_parser("rollout", help="roll a disruptive stage out batch by batch: drain, apply, reboot, accept, resume",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", metavar="SITE", help="factory.yaml or the site directory holding it")
    p.add_argument("--stage", required=True, choices=ROLLOUT_STAGES, help="the stage to roll out")
    p.add_argument("--batch-size", type=positive_int, metavar="N",
                   help="nodes per batch after the canary (not on NVL72, where a batch is a rack; default: a rack)")
    p.add_argument("--force", action="store_true",
                   help="requeue the batch's running jobs instead of waiting for them (also with --resume)")
    p.add_argument("--drain-timeout", type=positive_int, metavar="S",
                   help=f"seconds a batch waits for its running jobs before it fails (default {DEFAULT_DRAIN_TIMEOUT}; "
                        "with --resume, the recorded one)")
    p.add_argument("--resume", action="store_true", help="continue the recorded rollout from the batch where it stopped")
    p.add_argument("--max-batches", type=positive_int, metavar="N",
                   help="run at most N batches now; --resume runs the rest")
    p.add_argument("--record", type=record_file, metavar="FILE", help="the rollout's JSON record (default ~/.local/state/aifactory/sites/SITE/day2/rollout.json)")
    p.add_argument("--check", action="store_true",
                   help="check mode: print the batch plan and run each batch's playbook in Ansible check mode to show "
                        "what it would change; nothing is drained, restarted or resumed, no record is written")
    add_run_arguments(p, brief=True,
                      host_overrides_help=f"{HOST_OVERRIDES_HELP}; hosts with {ABSENT} are skipped")
    p.set_defaults(func=run)


def run(args) -> int:
    f = load_spec(args.spec)
    try:
        bringup, overrides = checked_run_options(f, args, check=args.check)
        options = RolloutOptions(stage=args.stage, batch_size=args.batch_size, force=args.force,
                                 drain_timeout=args.drain_timeout, resume=args.resume, max_batches=args.max_batches,
                                 bringup=bringup, host_overrides=overrides, record=args.record)
        if args.check:  # reads the record, writes nothing: no lock either
            return _check(f, args, options)
        with record_lock(options.record or record_path(f.name)):
            return _run(f, args, options, overrides)
    except (InventoryInputError, BringupError, RolloutError) as err:
        return bad_input(err)


def _check(f, args, options: RolloutOptions) -> int:
    """--check: the batch plan, and each batch run in Ansible check mode; no confirmation (nothing changes)."""
    path, record = prepare(f, options)
    print(plan_lines(record, path), file=sys.stderr)
    report = check_rollout(f, options, record)
    if args.format == "json":
        emit_json(report)
    else:
        print("\n".join(check_lines(report)))
    return check_exit_code(report)


def _run(f, args, options: RolloutOptions, overrides: dict | None) -> int:
    """Plan or resume, confirm, roll out, report (RolloutError: exit 2, by run)."""
    path, record = prepare(f, options)
    print(plan_lines(record, path), file=sys.stderr)
    if not is_lab(f, overrides) and not confirmed(f.name, args.yes, REFUSAL, PROMPT):
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
