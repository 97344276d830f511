"""What every command that runs playbooks (bringup, rollout, replace) shares: its run options, the
checks of its inputs before anything runs, the confirmation of a real run, and how bad input is told."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from aifactory.commands.paths import input_file, output_dir
from aifactory.core.inputs import InputFileError, parse_extra_vars, read_text
from aifactory.node.bringup import STRATEGIES, BringupError, BringupOptions, mitogen_strategy_dir
from aifactory.node.inventory import InventoryInputError, build_inventory, load_host_overrides, load_stack_outputs
from aifactory.spec import Factory, naming
from aifactory.spec.validators import shown

EXIT_BAD_INPUT = 2
HOST_OVERRIDES_HELP = "JSON {host: {var: value}} applied last"


def positive_int(text: str) -> int:
    """An argparse type: a whole number from 1 to 10000."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 10000: {value}")
    return value


def add_strategy_argument(p, brief: bool = False) -> None:
    """--strategy (bringup, rollout, replace and rehearse); `brief`: help that points to bringup's."""
    p.add_argument("--strategy", choices=STRATEGIES, help="Ansible strategy, as for bringup" if brief else
                   "Ansible strategy: linear (Ansible's own) or mitogen (Mitogen for Ansible's mitogen_linear: "
                   "one Python per host, modules shipped once; a third-party plugin, so Ansible prints a "
                   "deprecation warning). Default: ansible.cfg's, linear; see the README")


def add_run_arguments(p, brief: bool = False, forks: bool = True, host_overrides_help: str = HOST_OVERRIDES_HELP) -> None:
    """The run options, in this order: --stack-outputs, --host-overrides, --extra-vars, --forks (unless
    `forks` is False), --strategy, --yes, --artifacts-dir, --format. `brief`: help that points to bringup's."""
    p.add_argument("--stack-outputs", type=input_file, metavar="FILE", help="as for bringup" if brief else
                   "JSON from `pulumi stack output --json` (no --show-secrets: the secret activation code "
                   "goes in $AIFACTORY_SSM_ACTIVATION_CODE, never in a file)")
    p.add_argument("--host-overrides", type=input_file, metavar="FILE", help=host_overrides_help)
    p.add_argument("--extra-vars", "-e", action="append", default=[], metavar="K=V|JSON|@FILE",
                   help="extra variables as for bringup (never secrets)" if brief else
                   "extra variables as key=value pairs, a JSON object or @file.json, as ansible-playbook -e takes "
                   "them (data, never templates; never secrets: they are kept in the artifacts)")
    if forks:
        p.add_argument("--forks", type=positive_int, help="parallel hosts (default: ansible.cfg)")
    add_strategy_argument(p, brief)
    p.add_argument("--yes", action="store_true", help="run without asking, also when the inventory is not a lab"
                   + ("" if brief else " (needed without a terminal)"))
    p.add_argument("--artifacts-dir", type=output_dir,
                   help="where run directories go: DIR/SITE/ (default ~/.local/state/aifactory/sites/SITE/bringup/)")
    p.add_argument("--format", choices=["table", "json"], default="table")


def run_options(args, **fields) -> BringupOptions:
    """The run options from the command's arguments, plus the command's own `fields`."""
    options = BringupOptions(stack_outputs=args.stack_outputs, host_overrides=args.host_overrides,
                             extra_vars=extra_vars(args.extra_vars), forks=getattr(args, "forks", None),
                             strategy=args.strategy, **fields)
    if args.strategy == "mitogen":
        mitogen_strategy_dir()  # not installed: exit 2 before anything runs
    if args.artifacts_dir:
        options.artifacts_root = args.artifacts_dir
    return options


def checked_run_options(f: Factory, args, **fields) -> tuple[BringupOptions, dict | None]:
    """run_options, and the inputs the inventory plugin will read, read now so that bad ones stop here
    with exit 2; returns the options and the host overrides."""
    options = run_options(args, **fields)
    overrides = load_host_overrides(options.host_overrides) if options.host_overrides else None
    build_inventory(f, stack_outputs=load_stack_outputs(options.stack_outputs) if options.stack_outputs else None,
                    host_overrides=overrides)
    return options, overrides


def extra_vars(values: list[str]) -> dict:
    """--extra-vars: each key=value pairs, a JSON object or @file.json (aifactory.core.inputs.parse_extra_vars),
    merged in order."""
    merged: dict = {}
    for value in values:
        source = shown(value, 300)
        try:
            merged.update(parse_extra_vars(read_text(value[1:]) if value.startswith("@") else value))
        except InputFileError as err:
            raise BringupError(f"--extra-vars {source}: {err}") from None
    return merged


def is_lab(f: Factory, overrides: dict | None) -> bool:
    """A lab inventory (aifactory.spec.naming.is_lab over the factory's nodes): a real run needs no confirmation."""
    return naming.is_lab([n.name for n in f.nodes], overrides)


def confirmed(site: str, yes: bool, refusal: str, prompt: str = "", summary: Callable[[], str] | None = None) -> bool:
    """A real run on an inventory that is not a lab goes ahead with --yes, or when the user types the
    factory's name on a terminal. `refusal`: why nothing ran without a terminal; `prompt`: what the
    question says first; `summary`: what the run will touch, shown before anything is asked."""
    if yes:
        return True
    if summary is not None:
        print(summary(), file=sys.stderr)
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        print(f"error: {refusal}", file=sys.stderr)
        return False
    try:
        answer = input(f"{prompt}type the factory's name ({site}) to go on: ")
    except EOFError:
        answer = ""
    if answer.strip() != site:
        print("not confirmed: nothing ran", file=sys.stderr)
        return False
    return True


def bad_input(err: Exception) -> int:
    """Tell bad input on stderr (an InventoryInputError with each of its problems) and return exit code 2."""
    if isinstance(err, InventoryInputError):
        print(f"error: {shown(err.source, 300)}:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
    else:
        print(f"error: {err}", file=sys.stderr)
    return EXIT_BAD_INPUT
