"""The replace-on-change table covers every AWS resource type the program declares, with pulumi-aws's names."""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path

import pulumi_aws
import pytest

from aifactory.reports.replace_on_change import REPLACE_ON_CHANGE
from tests.reports.conftest import REPO

# pulumi-aws registers each resource class under its type token: {"aws:ec2/vpc:Vpc": ("pulumi_aws.ec2", "Vpc")}
_MODULES = json.loads(re.search(r'resource_modules="""(.*?)"""', Path(pulumi_aws.__file__).read_text(), re.S).group(1))
TOKENS = {(m["fqn"], cls): token for m in _MODULES for token, cls in m["classes"].items()}
CLASSES = {token: key for key, token in TOKENS.items()}


def declared_types(program: Path) -> set[str]:
    """The type tokens of every `aws.<module>.<Resource>(...)` the program's files construct."""
    found = set()
    for source in program.rglob("*.py"):
        tree = ast.parse(source.read_text())
        aliases = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                   for a in node.names if a.name == "pulumi_aws"}
        for node in ast.walk(tree):
            func = getattr(node, "func", None)
            if (isinstance(node, ast.Call) and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute)
                    and isinstance(func.value.value, ast.Name) and func.value.value.id in aliases):
                token = TOKENS.get((f"pulumi_aws.{func.value.attr}", func.attr))
                if token:
                    found.add(token)
    return found


def input_names(token: str) -> set[str]:
    """The input properties pulumi-aws gives a resource type, as the plan JSON names them (camelCase)."""
    module, cls = CLASSES[token]
    init = getattr(importlib.import_module(module), cls)._internal_init
    params = init.__code__.co_varnames[:init.__code__.co_argcount]
    return {re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), p) for p in params
            if p not in ("__self__", "resource_name", "opts", "__props__")}


def test_every_type_the_program_declares_is_in_the_table():
    declared = declared_types(REPO / "infra")
    assert "aws:ssm/activation:Activation" in declared and len(declared) > 40  # the scan finds the program's types
    assert sorted(declared - REPLACE_ON_CHANGE.keys()) == []


def test_a_type_the_table_lacks_is_found(tmp_path):
    (tmp_path / "extra.py").write_text("import pulumi_aws as cloud\n\ncloud.sqs.Queue('q')\ncloud.ec2.VpcArgs()\n")
    assert declared_types(tmp_path) - REPLACE_ON_CHANGE.keys() == {"aws:sqs/queue:Queue"}


@pytest.mark.parametrize("token", sorted(REPLACE_ON_CHANGE))
def test_table_names_properties_pulumi_aws_has(token):
    source, properties = REPLACE_ON_CHANGE[token]
    assert token in CLASSES and source.endswith(".go")
    assert sorted(properties - input_names(token)) == []
