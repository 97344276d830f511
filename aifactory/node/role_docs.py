"""Role READMEs' variable tables, generated from each role's `meta/argument_specs.yml` (`make role-docs`).

The argument specs are the single source of a role's documentation: Ansible checks them when the
role starts, and this module writes them as the table between the README's two marker comments,
leaving the prose around it alone. `python -m aifactory.node.role_docs --check` rewrites nothing and exits
1 when a README differs from what would be generated.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from aifactory.core import project

ROLES = project.playbooks() / "roles"
BEGIN = "<!-- BEGIN ROLE VARIABLES (generated from meta/argument_specs.yml by make role-docs) -->"
END = "<!-- END ROLE VARIABLES -->"
ENTRY_POINT = "main"


class RoleDocsError(Exception):
    """A README or argument spec the generator cannot work with."""


def argument_specs(role: Path) -> dict:
    """The role's `argument_specs` mapping: entry point -> spec."""
    data = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text()) or {}
    return data.get("argument_specs") or {}


def flow(value) -> str:
    """A value as YAML flow text, the way it would be written in defaults/main.yml."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).strip()
    return text.removesuffix("\n...").strip()


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _type(option: dict) -> str:
    kind = option.get("type", "str")
    if kind == "list" and option.get("elements"):
        kind = f"list of {option['elements']}"
    if option.get("choices"):
        kind += ": " + ", ".join(f"`{flow(choice)}`" for choice in option["choices"])
    return kind


def _default(option: dict) -> str:
    if "default" in option:
        return f"`{flow(option['default'])}`"
    return "required" if option.get("required") else "none"


def variables_table(spec: dict) -> str:
    """The markdown table of one entry point's options, in the spec's order."""
    rows = ["| variable | type | default | what it is |", "| --- | --- | --- | --- |"]
    for name, option in (spec.get("options") or {}).items():
        description = option.get("description", "")
        if isinstance(description, list):
            description = " ".join(description)
        rows.append(f"| `{name}` | {_cell(_type(option))} | {_cell(_default(option))} | {_cell(description)} |")
    return "\n".join(rows)


def generated_block(specs: dict) -> str:
    """The text between (and including) the markers: the main entry point's table, then any other's."""
    parts = [BEGIN]
    for entry, spec in specs.items():
        if entry != ENTRY_POINT:
            parts.append(f"Entry point `{entry}`:")
        parts.append(variables_table(spec))
    parts.append(END)
    return "\n\n".join(parts)


def render(readme: str, specs: dict) -> str:
    """The README with its marked block regenerated; everything outside the markers is kept."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise RoleDocsError(f"no '{BEGIN}' ... '{END}' pair: put one where the variable table goes")
    return readme[:start] + generated_block(specs) + readme[end + len(END):]


def roles(root: Path = ROLES) -> list[Path]:
    """Every role directory that has argument specs."""
    return sorted(p.parent.parent for p in root.glob("*/meta/argument_specs.yml"))


def regenerate(root: Path = ROLES, write: bool = True) -> list[Path]:
    """Regenerate every role README (or only compare, write=False); return those that differ(ed)."""
    stale = []
    for role in roles(root):
        readme = role / "README.md"
        try:
            text = readme.read_text()
            new = render(text, argument_specs(role))
        except (OSError, RoleDocsError) as err:
            raise RoleDocsError(f"{readme}: {err}") from None
        if new != text:
            stale.append(readme)
            if write:
                readme.write_text(new)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aifactory.node.role_docs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a README is stale")
    parser.add_argument("--roles", type=Path, default=ROLES, help="the roles directory (default: playbooks/roles)")
    args = parser.parse_args(argv)
    try:
        stale = regenerate(args.roles, write=not args.check)
    except RoleDocsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for readme in stale:
        print(f"{'stale' if args.check else 'rewrote'}: {readme}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
