"""The factory spec: read factory.yaml, check it, and derive what it implies.

This is the one place the spec is parsed. Pulumi, Ansible, the CLI and the tests all call
`load_spec`; it raises `SpecError` with every problem found, each as `dotted.path: message (given)`.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from aifactory.spec.model import Factory, Node, SwitchTray, rack_group
from aifactory.spec.validators import Problem, validate

SPEC_FILE = "factory.yaml"

__all__ = ["Factory", "Node", "Problem", "SpecError", "SwitchTray", "load_spec", "rack_group", "resolve_spec_path"]


class SpecError(Exception):
    """The spec cannot be used; `problems` lists every reason."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(f"  {p}" for p in problems))


def resolve_spec_path(spec: str | Path) -> Path:
    """SPEC may be a factory.yaml or the site directory that holds one."""
    path = Path(spec)
    return path / SPEC_FILE if path.is_dir() else path


def _pydantic_problems(err: ValidationError) -> list[Problem]:
    problems = []
    for e in err.errors():
        path = ".".join(str(part) for part in e["loc"]) or "(top level)"
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            message = "unknown field (check the spelling against `aifactory schema`)"
        elif e["type"] == "missing":
            message = "required field is missing"
        given = None if e["type"] == "missing" else e.get("input")
        if isinstance(given, (dict, list)):
            given = type(given).__name__
        problems.append(Problem(path, message, given, "error", "schema"))
    return problems


def load_spec(spec: str | Path, *, warnings: list[Problem] | None = None) -> Factory:
    """Parse and validate a spec; raise SpecError listing every error. Warnings go to `warnings`."""
    path = resolve_spec_path(spec)
    source = str(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(source, [Problem("(file)", "no such file", source)]) from None
    except OSError as err:
        raise SpecError(source, [Problem("(file)", f"cannot read: {err.strerror}", source)]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise SpecError(source, [Problem("(yaml)", f"not valid YAML at {where}: {getattr(err, 'problem', err)}")]) from None
    if not isinstance(data, dict):
        raise SpecError(source, [Problem("(top level)", "must be a mapping of sections", type(data).__name__)])
    try:
        factory = Factory.model_validate(data)
    except ValidationError as err:
        raise SpecError(source, _pydantic_problems(err)) from None
    factory._site_dir = path.resolve().parent
    problems = validate(factory)
    errors = [p for p in problems if p.level == "error"]
    if warnings is not None:
        warnings.extend(p for p in problems if p.level == "warning")
    if errors:
        raise SpecError(source, errors)
    return factory
