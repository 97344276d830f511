"""Each subcommand is defined by the module COMMANDS names, and a run loads only its command's module."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

from aifactory import cli
from tests.conftest import REPO


def test_commands_name_the_module_that_defines_each_subcommand():
    defined = {}
    for module in dict.fromkeys(cli.COMMANDS.values()):
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module).register(sub)
        defined.update(dict.fromkeys(sub.choices, module))
    assert defined == cli.COMMANDS


def test_a_run_loads_its_command_help_loads_all():
    assert cli.command_modules(["validate", "x", "--format", "json"]) == ["aifactory.commands.validate"]
    assert cli.command_modules(["schema"]) == ["aifactory.commands.validate"]
    every = list(dict.fromkeys(cli.COMMANDS.values()))
    for argv in ([], ["-h"], ["-h", "plan"], ["no-such-command"], ["--help"]):
        assert cli.command_modules(argv) == every
    assert cli.command_modules(["--version"]) == []
    top = cli.build_parser(["-h"]).format_help()
    assert all(name in top for name in cli.COMMANDS)


LOADED = """
import sys
from aifactory.cli import main
status = main(["validate", "inventories/lab-b200", "--format", "table"])
print(status, sorted(m for m in ("pulumi", "pulumi_aws", "moto", "boto3", "ansible_runner") if m in sys.modules))
"""


def test_validate_does_not_load_the_plan_engine():
    done = subprocess.run([sys.executable, "-c", LOADED], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.stdout.splitlines()[-1] == "0 []", done.stderr[-2000:]
