"""The `aifactory` command: one subcommand per job, each defined in its own module.

Every subcommand that takes SPEC accepts a factory.yaml or the site directory holding one. A bad
spec exits 2 with every problem listed; a Python traceback is a bug.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from aifactory.spec import SpecError

# Modules that define subcommands: each has `register(subparsers)` and sets `func` on its parser.
COMMAND_MODULES = [
    "aifactory.commands.validate",
    "aifactory.commands.lab",
    "aifactory.commands.rehearse",
    "aifactory.commands.plan",
    "aifactory.commands.verify",
    "aifactory.commands.bootstrap",
    "aifactory.commands.bringup",
    "aifactory.commands.diff",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aifactory", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def print_spec_error(err: SpecError) -> None:
    print(f"error: {err.source} is not a valid factory spec ({len(err.problems)} problem(s)):", file=sys.stderr)
    for problem in err.problems:
        print(f"  {problem}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SpecError as err:
        print_spec_error(err)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
