"""Every option and argument that names a file or directory, of every subcommand, enumerated from the parser
(issue 27, class 7): given a FIFO or an oversized file (an output: a FIFO or a directory), the command exits 2
with a message naming that path, within 10 seconds. A new path option is covered as soon as it is added."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
from pathlib import Path

import pytest

from aifactory import cli
from aifactory.commands.paths import PATH_TYPES, output_dir, output_file
from aifactory.core.inputs import MAX_PACKAGE_BYTES, MAX_RECORD_BYTES
from tests.hostile.conftest import REPO

LAB = str(REPO / "inventories" / "lab-b200")
# Metavars that say an option or argument names a file or directory (a REF may be a saved plan file).
PATH_METAVARS = ("SPEC", "SITE", "FILE", "DIR", "REF", "BUNDLE")
# Values of required arguments that are not under test, by metavar.
# A required output DIR (awx export --out): the cases stop at the input under test, before anything is written.
SAMPLE = {"SPEC": LAB, "SITE": LAB, "NODE": "lab-b200-r001-n01", "REF": "HEAD", "FILE": str(REPO / "README.md"),
          "DIR": str(Path(tempfile.gettempdir()) / "aifactory-path-options-out"),
          "BUNDLE": LAB,  # mirror verify: an existing directory
          "PARTS_DIR": LAB,  # mirror join: an existing directory
          "DELTA": LAB, "SERVED": LAB,  # mirror apply: existing directories
          "ADDR:PORT": "127.0.0.1:9099"}  # monitoring-receiver --listen
GUARD_SECONDS = 10


def takes_path(action: argparse.Action) -> bool:
    return (action.type in PATH_TYPES or action.type is Path
            or any(word in (action.metavar or "") for word in PATH_METAVARS))


def commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(command words, its parser) of every subcommand, nested ones included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from commands(child, (*prefix, name))
    if prefix and not parser._subparsers:
        yield prefix, parser


def sample(action: argparse.Action) -> str:
    if action.choices:
        return next(iter(action.choices))
    assert action.metavar in SAMPLE, f"give a sample value for {action.metavar} in SAMPLE"
    return SAMPLE[action.metavar]


def argv_with(words: tuple[str, ...], parser: argparse.ArgumentParser, target: argparse.Action, value: str) -> list[str]:
    """The command line with `value` for the target and sample values for the other required arguments."""
    argv = list(words)
    for action in parser._actions:
        if action.option_strings:
            if action is target:
                argv += [action.option_strings[0], value]
            elif action.required:
                argv += [action.option_strings[0], sample(action)]
        elif action.nargs not in ("*", "?") and not isinstance(action, argparse._SubParsersAction):
            argv.append(value if action is target else sample(action))
    return argv


def cases():
    for words, parser in commands(cli.build_parser()):
        for action in parser._actions:
            if not takes_path(action):
                continue
            name = action.option_strings[0] if action.option_strings else action.metavar
            kinds = ("fifo", "directory") if action.type in (output_file,) else ("fifo", "oversized")
            if action.type is output_dir:
                kinds = ("fifo", "oversized")  # a regular file where a directory belongs
            for kind in kinds:
                yield pytest.param(words, name, kind, id=f"{' '.join(words)} {name} {kind}")


def find(parser: argparse.ArgumentParser, name: str) -> argparse.Action:
    return next(a for a in parser._actions if name in a.option_strings or (not a.option_strings and a.metavar == name))


def subparser(words: tuple[str, ...]) -> argparse.ArgumentParser:
    return dict(commands(cli.build_parser()))[words]


def _child(argv: list[str], stderr_path: str, codes) -> None:
    """Run the command in this forked process with stderr in a file; report its exit code."""
    fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 2)
    os.environ.pop("PYTEST_CURRENT_TEST", None)  # the last resort prints its message, as for users
    import sys
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    sys.stdin = open(os.devnull)  # noqa: SIM115 - no terminal: nothing is asked
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    sys.stderr.flush()
    codes.put(code)


@pytest.fixture
def hostile(tmp_path):
    made = {"fifo": tmp_path / "hostile-fifo", "oversized": tmp_path / "hostile-oversized",
            "directory": tmp_path / "hostile-directory"}
    os.mkfifo(made["fifo"])
    with made["oversized"].open("wb") as out:  # sparse: past every cap without writing it
        out.truncate(max(MAX_RECORD_BYTES, MAX_PACKAGE_BYTES) + 1)
    made["directory"].mkdir()
    return made


@pytest.mark.parametrize("words, name, kind", list(cases()))
def test_every_path_option_refuses_a_fifo_and_an_oversized_file(tmp_path, hostile, words, name, kind):
    parser = subparser(words)
    value = str(hostile[kind])
    action = find(parser, name)
    if "@FILE" in (action.metavar or ""):
        value = f"@{value}"
    argv = argv_with(words, parser, action, value)
    context = multiprocessing.get_context("fork")
    codes = context.Queue()
    err_file = tmp_path / "stderr"
    child = context.Process(target=_child, args=(argv, str(err_file), codes))
    child.start()
    child.join(GUARD_SECONDS)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail(f"{' '.join(argv)} still ran after {GUARD_SECONDS} s (a hang on the {kind})")
    err = err_file.read_text()
    assert not codes.empty(), err
    code = codes.get()
    assert code == 2, err
    assert "Traceback" not in err and "a bug in aifactory" not in err, err
    assert hostile[kind].name in err, err


def test_the_enumeration_finds_the_known_path_options():
    """The enumeration is not empty by accident: the options named in the README are among the cases."""
    found = {(" ".join(p.values[0]), p.values[1]) for p in cases()}
    for case in [("rollout", "--record"), ("replace", "--host-key"), ("plan", "--sarif"), ("report", "--acceptance"),
                 ("bringup", "--extra-vars"), ("diff", "--against"), ("validate", "SPEC"), ("lab up", "SPEC")]:
        assert case in found, case
