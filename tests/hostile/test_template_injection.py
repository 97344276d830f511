"""Template injection (issue 27, class 1): `{{ ... }}` in a spec value is never templated.

Spec values are data. `validate` refuses Jinja syntax in every string of the spec, and the inventory plugin
marks what it hands to Ansible unsafe, so a value that a validator missed still reaches no template
evaluation: the real plugin builds the inventory, Ansible's Templar templates every variable (as a value and
through a playbook's `{{ name }}`), and the `lookup('pipe', 'touch ...')` in each field leaves no marker file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from pydantic import ValidationError

from aifactory.spec.model import Factory
from tests.conftest import REPO, put, site_dir
from tests.hostile.conftest import run_inprocess


def payload(marker) -> str:
    return "{{ lookup('pipe', 'touch " + str(marker) + "') }}"


def _string_leaves(value, path=""):
    """Dotted paths of every string in a parsed factory.yaml."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _string_leaves(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _string_leaves(item, f"{path}.{i}")


# Free-text fields the example site leaves out, set with a template: (dotted path named, mutation).
ABSENT_FIELDS = {
    "storage.shared.0.options": lambda text: put("storage.shared.0.options", text),
    "storage.scratch.devices.0": lambda text: put("storage.scratch.devices", [text]),
    "scheduler.state_dir": lambda text: lambda d: d.setdefault("scheduler", {}).update(state_dir=text),
    "scheduler.partitions.0.name": lambda text: lambda d: d.setdefault("scheduler", {}).update(
        partitions=[{"name": text, "default": True}]),
}
PARIS_SPEC = site_dir("paris-gb200") / "factory.yaml"
PARIS_STRINGS = list(_string_leaves(yaml.safe_load(PARIS_SPEC.read_text())))
# Free-text fields that reach the inventory (issue 27 found the first ten raw there; the others are names and the
# region): the test shows each one arrives, so that its lookup not running means something.
INVENTORY_FIELDS = ("storage.shared.1.source", "storage.shared.0.options", "storage.shared.1.mount",
                    "storage.scratch.mount", "storage.scratch.devices.0", "software.nvidia.doca_ofed",
                    "software.mirrors.apt", "software.mirrors.nvidia", "scheduler.state_dir", "network.domain",
                    "name", "sovereignty.region", "storage.shared.0.name", "storage.shared.0.mount",
                    "storage.shared.0.source", "storage.shared.1.name", "scheduler.partitions.0.name")


def _mutation(path: str, text: str):
    return ABSENT_FIELDS[path](text) if path in ABSENT_FIELDS else put(path, text)


def _free_text(path: str) -> bool:
    """The schema takes any text in the field: a template there passes the model, only validators refuse it."""
    data = yaml.safe_load(PARIS_SPEC.read_text())
    _mutation(path, payload("/nonexistent/marker"))(data)
    try:
        Factory.model_validate(data)
    except ValidationError:
        return False
    return True


# Every free-text field of the spec, found from the model: a new one is covered as soon as it exists.
FREE_TEXT_FIELDS = [path for path in [*PARIS_STRINGS, *ABSENT_FIELDS] if _free_text(path)]


@pytest.mark.parametrize("path", [*PARIS_STRINGS, *ABSENT_FIELDS])
def test_template_syntax_in_any_string_is_refused(site, capsys, tmp_path, path):
    """Every string of the spec, and the free-text fields the example leaves out: refused by name, by the
    template check (free text) or by the field's own type (a choice, a pattern)."""
    spec = site("paris-gb200", _mutation(path, payload(tmp_path / "marker")))
    code, out, err = run_inprocess(capsys, "validate", spec, "--format", "json")
    assert code == 2 and "Traceback" not in err, err
    # a union's schema problems name its alternatives under the field (`storage.scratch.devices.list[str]`)
    named = {p["validator"] for p in json.loads(out)["problems"]
             if p["path"] == path or (p["validator"] == "schema" and p["path"].startswith(path + "."))}
    assert named & {"no_template_syntax", "schema"}, (path, out)
    assert not (tmp_path / "marker").exists()


@pytest.mark.parametrize("marker", ["{{", "{%", "{#"])
def test_each_jinja_delimiter_is_refused(site, capsys, marker):
    code, out, err = run_inprocess(capsys, "validate", site("paris-gb200", put("description", f"a {marker} b")))
    assert code == 2 and f"description: holds the template syntax '{marker}'" in err, err


# Builds the inventory through the real plugin with the spec's validators switched off (a validator that
# missed a field), then templates every group and host variable with Ansible's Templar. Prints every string
# the inventory holds. Last, the control: the same kind of lookup, trusted as a template, does run.
TEMPLATE_ALL = """
import json, sys
import aifactory.spec
aifactory.spec.validate = lambda factory, not_run=None: []
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

def strings(value):
    if isinstance(value, str):
        yield str(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings(item)

loader = DataLoader()
inventory = InventoryManager(loader=loader, sources=[sys.argv[1]])
seen = []
for entity in [*inventory.groups.values(), *inventory.hosts.values()]:
    variables = entity.get_vars()
    templar = Templar(loader=loader, variables=variables)
    for name, value in variables.items():
        templar.template(value)
        if name.isidentifier():
            templar.template(trust_as_template("{{ " + name + " }}"))
        seen.extend(strings(value))
Templar(loader=loader).template(trust_as_template(sys.argv[2]))
print(json.dumps(sorted(set(seen))))
"""


def test_templates_in_the_inventory_are_never_evaluated(site, tmp_path):
    """A lookup in every free-text field at once: none runs, and each field that reaches the inventory is there."""
    assert set(INVENTORY_FIELDS) <= set(FREE_TEXT_FIELDS)
    markers = {path: tmp_path / f"marker-{i}" for i, path in enumerate(FREE_TEXT_FIELDS)}

    def inject(data):
        for path, marker in markers.items():
            _mutation(path, payload(marker))(data)

    spec = site("paris-gb200", inject)
    control = tmp_path / "control"
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_LOCAL_TEMP": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", TEMPLATE_ALL, str(spec / "aifactory.yml"), payload(control)],
                            cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    held = json.loads(result.stdout.strip().splitlines()[-1])
    assert control.exists(), "the control lookup did not run: this test could not see an evaluation"
    for path, marker in markers.items():
        assert path not in INVENTORY_FIELDS or any(payload(marker) in text for text in held), \
            f"{path} did not reach the inventory"
        assert not marker.exists(), f"{path}: the lookup in it ran"


def test_ansible_core_that_never_templates_inventory_data_is_required():
    """ansible-core 2.19 is the first where inventory data is not a template; pyproject requires it."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    core = next(SpecifierSet(d.removeprefix("ansible-core")) for d in deps if d.startswith("ansible-core"))
    assert "2.19.0" in core and "2.18.99" not in core
    package = next(SpecifierSet(d.removeprefix("ansible")) for d in deps if d.startswith("ansible>"))
    assert "11.99" not in package  # ansible 11 ships ansible-core 2.18
