"""The roles' defaults are plain, documented values: the spec reaches them through the inventory
(`aifactory.node.role_vars`), never through `aifactory_*` variables read inside a role."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from aifactory.node.inventory import build_inventory
from aifactory.node.role_vars import HOST_CAPABILITIES, ROLE_CAPABILITIES
from aifactory.spec import load_spec
from tests.conftest import site_dir

ROLES = Path(__file__).resolve().parents[2] / "playbooks" / "roles"
# The roles whose meta/argument_specs.yml is kept in step with defaults/main.yml by this test.
SYNCED_ROLES = ("os_baseline", "nvidia_gpu", "neuron", "rdma_fabric", "shared_storage", "aws_node_identity", "bmc")
TYPES = {"str": str, "bool": bool, "int": int, "list": list, "dict": dict}


def role_files(pattern: str) -> list[Path]:
    return sorted(p for p in ROLES.rglob(pattern) if p.is_file())


def options(role: str) -> dict:
    spec = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"]


def test_no_role_default_reads_a_factory_variable():
    """Only the per-host facts the inventory sets on each node (its rack, ...) may appear, as the
    contract allows for what is inherently about the inventory."""
    f = load_spec(site_dir("paris-gb200"))
    per_host = {k for k in build_inventory(f).hostvars[f.nodes[0].name] if k.startswith("aifactory_")}
    found = {(p.relative_to(ROLES).as_posix(), name) for p in role_files("defaults/main.yml")
             for name in re.findall(r"\baifactory_\w+", p.read_text()) if name not in per_host}
    assert found == set()


def test_no_default_or_empty_chains_and_no_container_detection_in_any_role():
    offenders = [p.relative_to(ROLES).as_posix() for p in role_files("*.yml")
                 if re.search(r"default\(\{\}\) or \{\}|virtualization_type|_container_types", p.read_text())]
    assert offenders == []


@pytest.mark.parametrize("role", ROLE_CAPABILITIES)
def test_every_capability_of_a_role_defaults_to_what_a_machine_of_a_site_has(role):
    """A machine loads kernel modules, applies sysctl, ...: true; it lacks no kernel for a check: []."""
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
    for name in ROLE_CAPABILITIES[role]:
        production = [] if options(role)[name]["type"] == "list" else True
        assert defaults[name] == production == options(role)[name]["default"], name


def test_inventory_level_capabilities_feed_only_role_capabilities_and_no_role_names_the_lab():
    fed = {v for names in HOST_CAPABILITIES.values() for v in names}
    assert fed <= {v for names in ROLE_CAPABILITIES.values() for v in names}
    named = [p.relative_to(ROLES).as_posix() for p in role_files("*")
             if p.suffix in (".yml", ".py", ".j2", ".md") and re.search(r"_stand_in\b|lab stand-in", p.read_text())]
    assert named == []


@pytest.mark.parametrize("role", SYNCED_ROLES)
def test_argument_specs_document_every_default_with_its_type_and_value(role):
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text()) or {}
    documented = options(role)
    required = {name for name, o in documented.items() if o.get("required")}
    assert set(documented) - required == set(defaults)
    for name, value in defaults.items():
        option = documented[name]
        assert option["default"] == value, name
        assert isinstance(value, TYPES[option["type"]]) and not (option["type"] == "int" and isinstance(value, bool)), name
        assert option["description"].strip(), name
        if "choices" in option:
            assert value in option["choices"], name
    assert not any(name in defaults for name in required)


@pytest.mark.parametrize("role", SYNCED_ROLES)
def test_per_os_vars_files_differ_from_each_other(role):
    """Identical Debian/Ubuntu vars files are one vars/main.yml."""
    files = {p.name: yaml.safe_load(p.read_text()) for p in (ROLES / role / "vars").glob("*.yml") if p.name != "main.yml"}
    assert len(files) != 1, f"{role}: a single per-OS vars file belongs in vars/main.yml"
    contents = list(files.values())
    assert all(a != b for i, a in enumerate(contents) for b in contents[i + 1:])
