"""Ctrl-C at any moment of `aifactory` ends with exit 130 and one line, never a traceback: also while the command's
modules load (seconds of pydantic, Pulumi and moto imports, before main() can catch KeyboardInterrupt)."""

from __future__ import annotations

import signal
import subprocess
import sys

from tests.conftest import REPO

# Sends SIGINT to itself when aifactory.cli imports the spec package: Ctrl-C in the middle of loading.
INTERRUPT_WHILE_LOADING = """
import importlib.abc, os, signal, sys
class CtrlC(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "aifactory.spec":
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, CtrlC())
from aifactory.cli import main
print("loaded")
"""

AFTER_MAIN = """
import signal
from aifactory.cli import main
main(["validate", "inventories/lab-b200"])
print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
"""


def python(code: str) -> subprocess.CompletedProcess:
    # As a terminal's shell starts a command: SIGINT at its default (a suite run in the background ignores it).
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_ctrl_c_while_the_modules_load_is_one_line_and_exit_130():
    done = python(INTERRUPT_WHILE_LOADING)
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "interrupted\n")


def test_once_main_runs_ctrl_c_is_keyboard_interrupt_again():
    done = python(AFTER_MAIN)
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "True", done.stderr[-2000:]
