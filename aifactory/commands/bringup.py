"""`aifactory bringup SPEC`: run the site's playbooks through ansible-runner, with progress."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from aifactory.node.bringup import (EXIT_ACCEPTANCE_INCOMPLETE, STAGES, STRATEGIES, BringupError, BringupOptions,
                               BringupResult, mitogen_strategy_dir, run_bringup, runner_output_tail, stage_order)
from aifactory.core.inputs import InputFileError, parse_json, read_text
from aifactory.node.inventory import InventoryInputError, build_inventory, load_host_overrides, load_stack_outputs
from aifactory.core.output import emit_json, table
from aifactory.spec import Factory, load_spec
from aifactory.spec.validators import shown


EXIT_CODES = f"""A run without --check on an inventory that is not a lab (the lab's host overrides mark every node
`aifactory_stand_in: true`) first shows what it will touch and asks on a terminal; without a
terminal it needs --yes. Secrets come from the environment only and are never written to disk.

exit codes:
  0    every host ran cleanly and every acceptance that ran passed
  1    the run, a host or an acceptance check failed
  2    bad input (spec, stage names, stack outputs, host overrides, extra vars, options), or a real
       run that was not confirmed; nothing ran
  {EXIT_ACCEPTANCE_INCOMPLETE}    nothing failed, but acceptance is incomplete: checks the platform's expected hardware
       needs could not run on some host (tool not installed, lab stand-in); see .aifactory/acceptance/
       (not with --check: check mode runs no tool, so its acceptance is never complete)
  130  stopped by Ctrl-C (SIGINT); 143 stopped by SIGTERM: ansible-playbook was stopped, the summary
       says where"""


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
                   help="JSON from `pulumi stack output --json` (no --show-secrets: the secret activation code "
                        "goes in $AIFACTORY_SSM_ACTIVATION_CODE, never in a file)")
    p.add_argument("--host-overrides", type=Path, metavar="FILE", help="JSON {host: {var: value}} applied last")
    p.add_argument("--extra-vars", "-e", action="append", default=[], metavar="JSON|@FILE",
                   help="extra variables as a JSON object or @file.json (never secrets: they are kept in the artifacts)")
    p.add_argument("--forks", type=_positive_int, help="parallel hosts (default: ansible.cfg)")
    add_strategy_argument(p)
    p.add_argument("--yes", action="store_true",
                   help="run without asking, also when the inventory is not a lab (needed without a terminal)")
    p.add_argument("--artifacts-dir", type=Path, help="where run directories go (default .artifacts/bringup)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=run)


def add_strategy_argument(p) -> None:
    """--strategy, shared by bringup and rehearse."""
    p.add_argument("--strategy", choices=STRATEGIES,
                   help="Ansible strategy: linear (Ansible's own) or mitogen (Mitogen for Ansible's mitogen_linear: "
                        "one Python per host, modules shipped once; a third-party plugin, so Ansible prints a "
                        "deprecation warning). Default: ansible.cfg's, linear; see the README")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 10000: {value}")
    return value


def run(args) -> int:
    f = load_spec(args.spec)  # a bad spec raises SpecError: the CLI prints it and exits 2
    try:
        options = run_options(args, stages=[s.strip() for s in args.stages.split(",")] if args.stages is not None
                              else None, playbook=args.playbook, limit=args.limit, check=args.check)
        overrides = checked_inputs(f, options)
        if not options.check and not is_lab(f, overrides) and not confirmed(f, options, args.yes):
            return 2
        result = run_bringup(f, options)
    except InventoryInputError as err:
        print(f"error: {shown(err.source, 300)}:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except BringupError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    if result.interrupted_by is not None:
        print(interrupted_line(result), file=sys.stderr)
    if args.format == "json":
        emit_json(result.as_dict())
        if result.acceptance_incomplete:
            print(incomplete_line(result), file=sys.stderr)
        return result.exit_code
    if result.hosts:
        rows = [[host, *counts.values()] for host, counts in result.hosts.items()]
        rows.append(["TOTAL", *result.totals.values()])
        print(table(["host", *next(iter(result.hosts.values()))], rows))
    elif result.interrupted_by is None:
        print(f"ansible-playbook ended ({result.status}, rc {result.rc}) before any host ran; its last output:",
              file=sys.stderr)
        print(runner_output_tail(result), file=sys.stderr)
    for name in result.unscrubbable:
        print(f"warning: {name} is too short to be scrubbed from output and artifacts", file=sys.stderr)
    if result.acceptance_incomplete:
        print(incomplete_line(result))
    mode = " (check mode: nothing changed)" if result.check else ""
    verdict = {0: "ok", EXIT_ACCEPTANCE_INCOMPLETE: "acceptance INCOMPLETE", 130: "INTERRUPTED (Ctrl-C)",
               143: "INTERRUPTED (SIGTERM)"}.get(result.exit_code, "FAILED")
    tags = f" --tags {','.join(result.stages)}" if result.stages else ""
    print(f"\n{f.name}: {verdict}{mode}; {result.playbook}{tags}")
    print(f"artifacts: {result.run_dir}")
    return result.exit_code


def interrupted_line(result: BringupResult) -> str:
    """Where a run was when a signal stopped it, and what its hosts had done by then."""
    at = result.interrupted_at
    counts = ", ".join(f"{k} {at[k]}" for k in ("ok", "changed", "failed", "unreachable", "skipped") if k in at)
    name = signal.Signals(result.interrupted_by).name
    return (f"interrupted by {name}: ansible-playbook was stopped during play {at.get('play') or '-'!r}, task "
            f"{at.get('task') or '-'!r}; task results until then: {counts or 'none'}. Hosts may be part-way "
            "through that task; a re-run converges them.")


def is_lab(f: Factory, overrides: dict | None) -> bool:
    """A lab inventory: the host overrides mark every node of the factory as a stand-in, or as absent (left
    out of the inventory: a lab that boots only some trays of a rack), and at least one as a stand-in."""
    marks = [overrides.get(n.name) or {} for n in f.nodes] if overrides else []
    return (any(m.get("aifactory_stand_in") is True for m in marks)
            and all(m.get("aifactory_stand_in") is True or m.get("aifactory_absent") is True for m in marks))


def touch_summary(f: Factory, options: BringupOptions) -> str:
    """What a real run will touch: hosts, stages and the power actions of the racks stage."""
    stages = stage_order(options.stages) if options.stages is not None else list(STAGES)
    nodes = len(f.nodes)
    bmcs = len(f.nodes) + len(f.switch_trays)
    power = options.extra_vars.get("bmc_power_action", "on")  # playbooks/racks.yml's: powers on what is off
    pxe = bool(options.extra_vars.get("bmc_pxe_boot_once", False))
    lines = [f"bringup of {f.name} WITHOUT --check: this changes real machines",
             f"  hosts: {nodes} nodes and {bmcs} BMCs" + (f", limited to {options.limit!r}" if options.limit else ""),
             f"  playbook: {options.playbook or 'playbooks/site.yml'}; stages: {', '.join(stages)}"]
    if "racks" in stages:
        lines.append(f"  power (racks stage, Redfish on the BMCs): power action {power!r}, one-time PXE boot "
                     f"{'yes' if pxe else 'no'}")
    return "\n".join(lines)


def confirmed(f: Factory, options: BringupOptions, yes: bool) -> bool:
    """A real run on an inventory that is not a lab goes ahead with --yes, or when the user types the
    factory's name on a terminal."""
    if yes:
        return True
    print(touch_summary(f, options), file=sys.stderr)
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        print("error: not a terminal, so nothing was asked and nothing ran: pass --yes to run for real, or --check",
              file=sys.stderr)
        return False
    try:
        answer = input(f"type the factory's name ({f.name}) to go on: ")
    except EOFError:
        answer = ""
    if answer.strip() != f.name:
        print("not confirmed: nothing ran", file=sys.stderr)
        return False
    return True


def incomplete_line(result: BringupResult) -> str:
    """One line naming the hosts whose acceptance is incomplete and the checks that could not run."""
    hosts = result.acceptance_incomplete
    checks = sorted({c for h in hosts for c in result.acceptance[h].get("skipped") or {}})
    return (f"acceptance incomplete on {len(hosts)} host{'s' if len(hosts) != 1 else ''}: checks that need hardware "
            f"could not run ({', '.join(checks)}) on {', '.join(hosts[:5])}{' ...' if len(hosts) > 5 else ''}"
            + (" (check mode runs no tool: not counted in the exit code)" if result.check else ""))


def run_options(args, **fields) -> BringupOptions:
    """The run options every command that runs playbooks takes (bringup, rollout, replace) from its arguments,
    plus its own `fields`."""
    options = BringupOptions(stack_outputs=args.stack_outputs, host_overrides=args.host_overrides,
                             extra_vars=_extra_vars(args.extra_vars), forks=getattr(args, "forks", None),
                             strategy=args.strategy, **fields)
    if args.strategy == "mitogen":
        mitogen_strategy_dir()  # not installed: exit 2 before anything runs
    if args.artifacts_dir:
        options.artifacts_root = args.artifacts_dir
    return options


def checked_inputs(f: Factory, options: BringupOptions) -> dict | None:
    """Read the inputs the inventory plugin will read, so that bad ones stop here with exit 2; the host overrides."""
    overrides = load_host_overrides(options.host_overrides) if options.host_overrides else None
    build_inventory(f, stack_outputs=load_stack_outputs(options.stack_outputs) if options.stack_outputs else None,
                    host_overrides=overrides)
    return overrides


def _extra_vars(values: list[str]) -> dict:
    merged: dict = {}
    for value in values:
        source = shown(value)
        try:
            data = parse_json(read_text(value[1:]) if value.startswith("@") else value)
        except InputFileError as err:
            raise BringupError(f"--extra-vars {source}: {err}") from None
        if not isinstance(data, dict):
            raise BringupError(f"--extra-vars {source}: not a JSON object")
        merged.update(data)
    return merged
