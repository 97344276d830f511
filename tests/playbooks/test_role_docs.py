"""Role docs from one source: every role README's variable table is what `make role-docs` generates from
meta/argument_specs.yml, and the argument specs document exactly the variables of defaults/main.yml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from aifactory.node.role_docs import BEGIN, END, ROLES, RoleDocsError, argument_specs, main, regenerate, render, roles

ROLE_DIRS = roles()


def test_every_role_has_argument_specs():
    assert sorted(p.name for p in ROLE_DIRS) == sorted(p.name for p in ROLES.iterdir() if (p / "tasks").is_dir())


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda p: p.name)
def test_readme_table_is_generated_from_argument_specs(role):
    readme = (role / "README.md").read_text()
    assert render(readme, argument_specs(role)) == readme, f"{role.name}/README.md is stale: run `make role-docs`"


def _defaults(role: Path) -> dict:
    return yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # 1 and true differ here


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda p: p.name)
def test_argument_specs_document_exactly_the_defaults(role):
    """Every default is an option with its type, description and the same default; every option has a
    default, or is required (a value only the user can give)."""
    defaults, options = _defaults(role), argument_specs(role)["main"].get("options") or {}
    assert sorted(set(defaults) - set(options)) == [], f"{role.name}: defaults missing from argument_specs"
    no_default = [name for name, option in options.items() if name not in defaults and not option.get("required")]
    assert no_default == [], f"{role.name}: options neither in defaults/main.yml nor required"
    undocumented = [name for name, option in options.items() if not option.get("type") or not option.get("description")]
    assert undocumented == [], f"{role.name}: options without a type or description"
    differ = {name: (options[name].get("default", "(no default)"), value) for name, value in defaults.items()
              if not _same(options[name].get("default"), value) or "default" not in options[name]}
    assert differ == {}, f"{role.name}: argument_specs default != defaults/main.yml (spec, defaults)"


def _role(root: Path, readme: str, options: dict) -> Path:
    role = root / "demo"
    (role / "meta").mkdir(parents=True)
    (role / "meta" / "argument_specs.yml").write_text(
        yaml.safe_dump({"argument_specs": {"main": {"options": options}}}, sort_keys=False))
    (role / "README.md").write_text(readme)
    return role


def test_generator_rewrites_only_the_marked_table(tmp_path):
    options = {
        "demo_mode": {"type": "str", "choices": ["a", "b|c"], "default": "a", "description": "Which mode."},
        "demo_list": {"type": "list", "elements": "str", "default": [], "description": ["Two", "lines."]},
        "demo_url": {"type": "str", "required": True, "description": "Where it lives."},
        "demo_flag": {"type": "bool", "default": False, "description": "A flag."},
        "demo_mode_bits": {"type": "str", "default": "1777", "description": "A string that looks like a number."},
    }
    readme = f"# Role\n\nProse kept.\n\n{BEGIN}\nstale table\n{END}\n\nMore prose.\n"
    role = _role(tmp_path, readme, options)
    assert main(["--roles", str(tmp_path), "--check"]) == 1
    assert (role / "README.md").read_text() == readme  # --check writes nothing
    assert regenerate(tmp_path) == [role / "README.md"]
    text = (role / "README.md").read_text()
    assert text.startswith("# Role\n\nProse kept.\n\n" + BEGIN) and text.endswith(END + "\n\nMore prose.\n")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert rows == [
        "| `demo_mode` | str: `a`, `b\\|c` | `a` | Which mode. |",
        "| `demo_list` | list of str | `[]` | Two lines. |",
        "| `demo_url` | str | required | Where it lives. |",
        "| `demo_flag` | bool | `false` | A flag. |",
        "| `demo_mode_bits` | str | `'1777'` | A string that looks like a number. |",
    ]
    assert regenerate(tmp_path) == [] and main(["--roles", str(tmp_path), "--check"]) == 0


def test_a_readme_without_markers_is_an_error(tmp_path):
    _role(tmp_path, "# Role\n\n| variable | default |\n", {})
    with pytest.raises(RoleDocsError, match="demo/README.md"):
        regenerate(tmp_path)
    assert main(["--roles", str(tmp_path)]) == 2
