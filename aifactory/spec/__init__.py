"""The factory spec: read factory.yaml, check it, and derive what it implies.

This is the one place the spec is parsed. Pulumi, Ansible, the CLI and the tests all call
`load_spec`; it raises `SpecError` with every problem found, each as `dotted.path: message (given)` at its
line and column. A schema error hides no other problem: the validators run on what could be read
(`aifactory.spec.partial`), and the error says which of them could not run for want of which field.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import yaml
from pydantic import ValidationError

from aifactory.core.inputs import MAX_INPUT_BYTES, InputFileError, read_text
from aifactory.spec.model import Factory, Node, SwitchTray
from aifactory.spec.naming import rack_group
from aifactory.spec.partial import readable_factory
from aifactory.spec.positions import position
from aifactory.spec.validators import NotRun, Problem, validate
from aifactory.spec.validators.registry import Kind

SPEC_FILE = "factory.yaml"
# A factory.yaml is a few kilobytes; anything past this is refused before it is parsed.
MAX_SPEC_BYTES = MAX_INPUT_BYTES
# Integers past this many digits are kept as text, so the field refuses them (no huge-number arithmetic).
MAX_INT_DIGITS = 40

__all__ = ["Factory", "Node", "NotRun", "Problem", "SpecError", "SwitchTray", "load_spec", "rack_group", "resolve_spec_path"]


class SpecError(Exception):
    """The spec cannot be used; `problems` lists every reason, `not_run` the validators a schema error stopped."""

    def __init__(self, source: str, problems: list[Problem], not_run: list[NotRun] | None = None):
        self.source = source
        self.problems = problems
        self.not_run = not_run or []
        super().__init__(f"{source}: {len(problems)} problem(s)\n"
                         + "\n".join(f"  {p.located()}" for p in problems)
                         + "".join(f"\n  {n}" for n in self.not_run))


def resolve_spec_path(spec: str | Path) -> Path:
    """SPEC may be a factory.yaml or the site directory that holds one."""
    path = Path(spec)
    try:
        is_dir = path.is_dir()
    except (OSError, ValueError):  # an over-long path, a NUL byte: reading it says why
        is_dir = False
    return path / SPEC_FILE if is_dir else path


class StrictLoader(yaml.SafeLoader):
    """YAML as a spec needs it: a duplicate key, an anchor or alias is an error; only `true`/`false` are
    booleans and only plain decimals are numbers, so `yes`, `0755`, `0x1F`, `1_000` or `1:30` stay text
    and a numeric field refuses them by name (YAML 1.1 would turn them into numbers silently)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent) or getattr(self.peek_event(), "anchor", None):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(None, None, "anchors and aliases (& and *) are not accepted in a factory spec",
                                       event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.MarkedYAMLError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
StrictLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                   list("tTfF"))
StrictLoader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(rf"^[-+]?(?:0|[1-9][0-9]{{0,{MAX_INT_DIGITS - 1}}})$"),
                                   list("-+0123456789"))
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


def _read_spec_text(path: Path) -> str:
    """The spec's text: a regular file, at most MAX_SPEC_BYTES, UTF-8. Raises SpecError otherwise."""
    try:
        return read_text(path, MAX_SPEC_BYTES)
    except InputFileError as err:
        raise SpecError(str(path), [Problem("(file)", str(err), str(path), line=1, column=1)]) from None


def _parse_yaml(text: str, source: str) -> tuple[object, yaml.Node | None]:
    """The spec's data and its composed YAML (which keeps each field's line and column)."""
    loader = StrictLoader(text)
    try:
        root = loader.get_single_node()
        return (None if root is None else loader.construct_document(root)), root
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecError(source, [Problem("(yaml)", f"not valid YAML at {where}: {getattr(err, 'problem', None) or err}",
                                         line=line, column=column)]) from None
    except RecursionError:
        raise SpecError(source, [Problem("(yaml)", "nested too deeply", line=1, column=1)]) from None
    finally:
        loader.dispose()


def _pydantic_problems(err: ValidationError) -> list[Problem]:
    problems = []
    for e in err.errors():
        path = ".".join(str(part) for part in e["loc"]) or "(top level)"
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            message = "unknown field (check the spelling against `aifactory schema`)"
        elif e["type"] == "missing":
            message = "required field is missing"
        elif e["type"] == "int_type" and isinstance(e.get("input"), str) and e["input"].lstrip("+-").isdigit():
            message = (f"must be a plain decimal integer of at most {MAX_INT_DIGITS} digits "
                       "(no leading zero, octal or other YAML number forms)")
        elif e["type"] in ("int_type", "float_type", "bool_type") and isinstance(e.get("input"), str):
            message += " (a number or boolean written as text or in a YAML 1.1 form such as yes/on/0o7 is refused)"
        given = None if e["type"] == "missing" else e.get("input")
        if isinstance(given, (dict, list)):
            given = Kind(type(given).__name__)
        problems.append(Problem(path, message, given, "error", "schema"))
    return problems


def load_spec(spec: str | Path, *, warnings: list[Problem] | None = None) -> Factory:
    """Parse and validate a spec; raise SpecError listing every error, each at its line and column, even
    past schema errors (the validators run on what could be read). Warnings go to `warnings`."""
    path = resolve_spec_path(spec)
    source = str(path)
    data, root = _parse_yaml(_read_spec_text(path), source)
    if not isinstance(data, dict):
        raise SpecError(source, [Problem("(top level)", "must be a mapping of sections", Kind(type(data).__name__),
                                         line=1, column=1)])
    try:
        factory, schema = Factory.model_validate(data), []
    except ValidationError as err:
        factory, schema = readable_factory(data), _pydantic_problems(err)
    factory._site_dir = path.resolve().parent
    not_run: list[NotRun] = []
    problems = [replace(p, line=line, column=column) for p in [*schema, *validate(factory, not_run)]
                for line, column in [position(root, p.path)]]
    errors = [p for p in problems if p.level == "error"]
    if warnings is not None:
        warnings.extend(p for p in problems if p.level == "warning")
    if errors:
        raise SpecError(source, errors, not_run)
    return factory
