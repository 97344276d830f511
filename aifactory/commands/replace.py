"""`aifactory replace SITE NODE`: a swapped tray or server read, re-installed, accepted and resumed (aifactory.day2.replace)."""

from __future__ import annotations

import argparse

from aifactory.commands.rollout import PROMPT, REFUSAL
from aifactory.commands.paths import input_file, record_file
from aifactory.commands.runner_options import (add_run_arguments, bad_input, checked_run_options, confirmed, is_lab,
                                               positive_int)
from aifactory.node.bringup import STAGES, BringupError, stage_order, would_change_lines
from aifactory.core.inputs import InputFileError, read_text
from aifactory.node.inventory import InventoryInputError
from aifactory.day2.replace import (DEFAULT_BOOT_TIMEOUT, ReplaceError, ReplaceOptions, check_exit_code, check_node,
                                    check_replace, exit_code, load_records, public_key, record_path, run_replace)
from aifactory.core.output import emit_json
from aifactory.spec import load_spec
from aifactory.spec.validators import shown

EPILOG = """After a tray or server swap: drain the node in Slurm (reason "aifactory replace"), read the new
hardware through its BMC (serial, model, firmware versions; recorded in
~/.local/state/aifactory/sites/SITE/day2/replace.json
with the previous hardware), boot it once from the network and power-cycle it, forget the old
machine's cached facts and SSH host key, learn the new key (checked against --host-key when given,
trusted on first use otherwise, with its fingerprint shown), bring only that node up, run acceptance
and resume it in Slurm. --check runs the two playbooks in Ansible check mode (no drain, no PXE boot, no
power cycle) and names the other steps; it forgets no key, resumes nothing, needs no --yes and writes
no record.

exit codes:
  0    the node is back in service
  1    a step failed (the record and the output say which); the node stays drained
       (--check: a check run failed)
  2    bad input (spec, node, options, host overrides, --host-key), or a real run that was not
       confirmed; nothing ran
  130  stopped by Ctrl-C"""


def register(sub) -> None:
    p = sub.add_parser("replace", help="return a swapped node to service: read it, PXE boot, bring up, accept, resume",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", metavar="SITE", help="factory.yaml or the site directory holding it")
    p.add_argument("node", metavar="NODE", help="the compute node whose hardware was replaced")
    p.add_argument("--host-key", type=input_file, metavar="FILE",
                   help="the new machine's SSH host public key (from its installer or console); without it the key "
                        "is trusted on first use")
    p.add_argument("--boot-timeout", type=positive_int, default=DEFAULT_BOOT_TIMEOUT, metavar="S",
                   help=f"seconds for the network install and first boot (default {DEFAULT_BOOT_TIMEOUT})")
    p.add_argument("--stages", help=f"the stages of the node's bring-up, comma-separated (default all: {','.join(STAGES)})")
    p.add_argument("--record", type=record_file, metavar="FILE", help="the replacements' JSON record (default ~/.local/state/aifactory/sites/SITE/day2/replace.json)")
    p.add_argument("--check", action="store_true",
                   help="check mode: run the replacement's playbooks in Ansible check mode and name each step; nothing "
                        "is drained, power-cycled, forgotten or resumed, no record is written")
    add_run_arguments(p, brief=True, forks=False)
    p.set_defaults(func=run)


def run(args) -> int:
    f = load_spec(args.spec)
    try:
        bringup, overrides = checked_run_options(f, args, check=args.check)
        host_key = None
        if args.host_key is not None:
            try:
                host_key = public_key(read_text(str(args.host_key)))
            except InputFileError as err:
                raise ReplaceError(f"--host-key {shown(args.host_key)}: {err}") from None
        stages = stage_order([s.strip() for s in args.stages.split(",")]) if args.stages is not None else None
        options = ReplaceOptions(node=args.node, host_key=host_key, boot_timeout=args.boot_timeout, stages=stages,
                                 bringup=bringup, host_overrides=overrides, record=args.record)
        check_node(f, options)
        load_records(options.record or record_path(f.name), f)  # a record that is not this site's stops here
    except (InventoryInputError, BringupError, ReplaceError) as err:
        return bad_input(err)
    if args.check:  # nothing changes: no confirmation
        return _check(f, args, options)
    if not is_lab(f, overrides) and not confirmed(f.name, args.yes, REFUSAL, PROMPT):
        return 2
    entry = run_replace(f, options)
    if args.format == "json":
        emit_json(entry)
    else:
        print_steps(entry["steps"])
        print(f"{entry['node']}: {entry['outcome']}")
        print(f"record: {args.record or record_path(f.name)}")
    return exit_code(entry)


def print_steps(steps: dict[str, str]) -> None:
    for name, outcome in steps.items():
        print(f"  {name}: {outcome}")


def _check(f, args, options: ReplaceOptions) -> int:
    report = check_replace(f, options)
    if args.format == "json":
        emit_json(report)
    else:
        print_steps(report["steps"])
        for run in report["runs"]:
            for line in would_change_lines(run["would_change"], "  ", run["playbook"]):
                print(line)
        print(f"{report['node']}: check mode, nothing changed, no record written")
    return check_exit_code(report)
