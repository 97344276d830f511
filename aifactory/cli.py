"""The `aifactory` command: one subcommand per job, each defined in its own module.

Every subcommand that takes SPEC accepts a factory.yaml or the site directory holding one. A bad
spec, an unusable file or option exits 2 with every problem listed; a Python traceback is a bug.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import threading
from urllib.parse import urlsplit


def _interrupted_while_loading(signum, frame) -> None:
    """Ctrl-C while the command's modules load (seconds: pydantic, Pulumi, moto): one line, not a traceback."""
    sys.stderr.write("interrupted\n")
    os._exit(130)  # EXIT_INTERRUPTED, defined below the imports this may interrupt


# From here until main() has built its parser; then Ctrl-C is KeyboardInterrupt again (main says "interrupted").
if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _interrupted_while_loading)

from aifactory import __version__  # noqa: E402 - after the handler above
from aifactory.core.exits import EXIT_NOT_CHECKED  # noqa: E402
from aifactory.core.inputs import BadInput  # noqa: E402
from aifactory.spec import SpecError  # noqa: E402
from aifactory.spec.validators import shown  # noqa: E402

# The module that defines each subcommand (`register(subparsers)`, setting `func` on its parser), in the order
# `aifactory --help` lists them. A run loads only its command's module (a plan's Pulumi, moto and boto3 are not
# loaded to validate a spec); --help, no command or an unknown one loads them all.
COMMANDS = {
    "validate": "aifactory.commands.validate", "schema": "aifactory.commands.validate",
    "lab": "aifactory.commands.lab",
    "rehearse": "aifactory.commands.rehearse",
    "plan": "aifactory.commands.plan",
    "verify": "aifactory.commands.verify",
    "bootstrap": "aifactory.commands.bootstrap",
    "bringup": "aifactory.commands.bringup",
    "diff": "aifactory.commands.diff",
    "rollout": "aifactory.commands.rollout",
    "replace": "aifactory.commands.replace",
    "report": "aifactory.commands.report",
    "acceptance": "aifactory.commands.acceptance",
    "awx": "aifactory.commands.awx",
    "monitoring": "aifactory.commands.monitoring",
    "monitoring-receiver": "aifactory.commands.monitoring_receiver",
    "mirror": "aifactory.commands.mirror",
}
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT), as shells report it
EXIT_TERMINATED = 143  # SIGTERM
# What exit 1 means for each command; 0, 2 and the signals mean the same everywhere.
FAILURE_MEANING = {
    "validate": "not used (a bad spec is 2)",
    "schema": "not used",
    "plan": "non-compliant: the plan has errors or violated sovereignty controls (several sites: any of them)",
    "verify": "non-compliant: a check of the deployed AWS side failed",
    "bootstrap": "AWS refused or could not be reached",
    "lab": "a stand-in failed to start, is gone, or no lab is up (status)",
    "rehearse": "a stage of the rehearsal failed",
    "diff": "a host's or head node's name or address would move (a ref or saved plan that cannot be read is 2)",
    "report": "the page could not be written (Graphviz missing, no program)",
    "awx": "not used (a bad site, option or --out is 2)",
    "monitoring": "not used (a bad site, host overrides or --out is 2)",
    "monitoring-receiver": "not used (a bad site, option or file is 2; it serves until stopped)",
    "mirror": "bom: a package the roles install is in no index (each is named; the BOM printed lacks it), or an "
              "index cannot be fetched; verify: the bundle is refused (bad signature, an altered, missing or "
              "unlisted file, an APT index or package its Release or Packages does not list so); build: a file or "
              "index does not match its upstream index or Release (refused, not written), an upstream's Release is "
              "not signed by its --upstream-keyring, or a package is in no index (nothing signed); join: a part is "
              "missing, extra or altered, an entry unsafe, or the restored bundle does not verify; keyring: not used",
    "acceptance": "certificate: the certificate to append to does not verify, or KMS refused; verify: the "
                  "certificate does not verify against the site's public key",
}
# Commands that give a verdict on AWS: what their EXIT_NOT_CHECKED means (no verdict, as against 1).
NOT_CHECKED_MEANING = {
    "plan": "could not check: the AWS stand-in cannot be reached, lacks managed policies or fails mid-plan",
    "verify": "could not check: AWS cannot be asked (no credentials, unreachable, refused)",
    "diff": "could not check: a side's plan stopped without a verdict (AWS's stand-in unreachable or failed)",
}
EXIT_CODES = """exit codes:
  0    success
  1    {failure}
  2    bad input: an invalid spec, an unusable file (missing, not a regular file, not UTF-8, too
       large, malformed JSON), a bad option; nothing was changed{not_checked}
  130  interrupted (Ctrl-C); 143 terminated (SIGTERM)"""


def exit_codes(failure: str, not_checked: str | None = None) -> str:
    """The exit-code epilog of a command: what 1 means for it and, for a command that gives a verdict on
    AWS, what EXIT_NOT_CHECKED means."""
    line = f"\n  {EXIT_NOT_CHECKED}    {not_checked}; no verdict" if not_checked else ""
    return EXIT_CODES.format(failure=failure, not_checked=line)


def _with_exit_codes(parser: argparse.ArgumentParser, command: str) -> None:
    """Give a subcommand (and its own subcommands) an epilog with its exit codes, unless it has one."""
    if parser.epilog is None:
        parser.epilog = exit_codes(FAILURE_MEANING.get(command, "the command failed"), NOT_CHECKED_MEANING.get(command))
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _with_exit_codes(child, command)


def command_modules(argv: list[str]) -> list[str]:
    """The modules to load for a run with `argv`: its command's alone, or every one (help, none or unknown)."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command is None and "--version" in argv and not {"-h", "--help"} & set(argv):
        return []
    if command in COMMANDS and not {"-h", "--help"} & set(argv[:argv.index(command)]):
        return [COMMANDS[command]]
    return list(dict.fromkeys(COMMANDS.values()))


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser with the subcommands `argv` needs (default: every one)."""
    parser = argparse.ArgumentParser(prog="aifactory", description=__doc__.splitlines()[0],
                                     epilog=exit_codes("the command ran and found failures (see `aifactory COMMAND --help`)",
                                                       "plan, verify: could not check (AWS or its stand-in unreachable, "
                                                       "refusing or failing)"),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in command_modules(argv or []):
        importlib.import_module(name).register(sub)
    for name, child in sub.choices.items():
        _with_exit_codes(child, name)
    return parser


def print_spec_error(err: SpecError) -> None:
    """Each problem as `line:column: path: message (given)`, then the checks a schema error stopped."""
    print(f"error: {shown(err.source, 500)} is not a valid factory spec ({len(err.problems)} problem(s)):",
          file=sys.stderr)
    for problem in err.problems:
        print(f"  {problem.located()}", file=sys.stderr)
    for not_run in err.not_run:
        print(f"  {not_run}", file=sys.stderr)


def aws_endpoint_problem(url: str) -> str | None:
    """Why an --aws-endpoint value cannot be an endpoint URL, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError as err:
        return f"not a URL ({err})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host, such as http://127.0.0.1:5000"
    if any(not char.isprintable() or char.isspace() for char in url):
        return "must not hold spaces or control characters"
    return None


def check_options(args: argparse.Namespace) -> str | None:
    """Options every command shares that argparse cannot check: a message when one is unusable."""
    endpoint = getattr(args, "aws_endpoint", None)
    if endpoint is not None:
        problem = aws_endpoint_problem(endpoint)
        if problem:
            return f"--aws-endpoint {shown(endpoint)}: {problem}"
    return None


def _terminate(signum, frame):
    """SIGTERM unwinds like Ctrl-C does, so `finally` blocks (secret scrubbing) run."""
    raise SystemExit(EXIT_TERMINATED)


def last_resort_off() -> bool:
    """Under the test suite (and with AIFACTORY_DEBUG set) an unexpected exception keeps its traceback."""
    return bool(os.environ.get("PYTEST_CURRENT_TEST") or os.environ.get("AIFACTORY_DEBUG"))


def scrub_killed_runs() -> None:
    """Every command first scrubs what a bring-up killed before its own cleanup left (and says so)."""
    from aifactory.node.bringup import scrub_leftovers

    refused: list[str] = []
    try:
        scrubbed = scrub_leftovers(dict(os.environ), refused)
    except (OSError, RuntimeError) as err:  # RuntimeError: no home directory to keep state in
        print(f"warning: cannot check for run directories left by killed bring-ups: {err}", file=sys.stderr)
        return
    for line in refused:
        print(f"warning: {shown(line, 600)}", file=sys.stderr)
    for run_dir in scrubbed:
        print(f"note: scrubbed {shown(run_dir, 300)}: a bring-up there was killed before it could clean up "
              "(secrets FIFO removed, this environment's secret values masked)", file=sys.stderr)


def move_legacy_records() -> bool:
    """Every command first moves the records an older aifactory kept in the checkout (`.aifactory/`,
    `.lab/`) into the user's state directory (and says so); False when that is refused."""
    from aifactory.core import project, userstate

    try:
        moved = userstate.migrate_legacy(project.checkout())
    except userstate.LegacyStateError as err:
        print(f"error: {err}", file=sys.stderr)
        return False
    except (OSError, RuntimeError) as err:  # RuntimeError: no home directory to keep state in
        print(f"warning: cannot move the records left in the checkout: {err}", file=sys.stderr)
        return True
    for line in moved:
        print(f"note: {line}", file=sys.stderr)
    return True


def state_directory_problem() -> str | None:
    """Every command keeps state in the directories the environment names: a message when one is unusable."""
    from aifactory.core.userstate import directory_problem

    problem = directory_problem()
    if problem is None:
        return None
    variable, why = problem
    return (f"{variable}={shown(os.environ[variable], 300)}: {why}: set {variable} to an absolute path of a "
            "directory (or of one aifactory may create), or unset it")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    if signal.getsignal(signal.SIGINT) is _interrupted_while_loading:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    problem = state_directory_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if not move_legacy_records():
        return 2
    scrub_killed_runs()
    problem = check_options(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    own_sigterm = (threading.current_thread() is threading.main_thread()
                   and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
    if own_sigterm:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args) or 0)
    except SpecError as err:
        if getattr(args, "format", None) == "json":  # machines read the problems on stdout
            print(json.dumps({"valid": False, "source": shown(err.source, 500),
                              "problems": [p.as_dict() for p in err.problems],
                              "not_run": [n.as_dict() for n in err.not_run]}, indent=2))
        print_spec_error(err)
        return 2
    except BadInput as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        # What an interrupted SDK leaves half torn down (an asyncio loop whose self-pipe is already closed)
        # is collected at exit and would print "Exception ignored" tracebacks after this line: not for people.
        sys.unraisablehook = lambda unraisable: None
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - the last resort: a message, not a traceback
        if last_resort_off():
            raise
        print(f"error: unexpected {type(err).__name__}: {shown(err, 300)} (a bug in aifactory; "
              "AIFACTORY_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 2
    finally:
        if own_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
