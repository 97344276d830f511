"""Ansible inventory plugin `aifactory`: the hosts and groups of a factory, read from factory.yaml.

The inventory itself is built by `aifactory.node.inventory` from the spec that `aifactory.spec` parses
(the only parser of factory.yaml), with the monitoring roles' variables (`aifactory.monitoring.role_vars`, a
layer above the node's); this module only hands it to Ansible. It imports the installed
aifactory: the Python that runs Ansible is the one aifactory is installed in.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin
from ansible.utils.unsafe_proxy import wrap_var

from aifactory.monitoring.role_vars import with_monitoring_vars
from aifactory.node.inventory import (InventoryInputError, build_inventory, load_host_overrides,
                                 load_stack_outputs)
from aifactory.spec import SpecError, load_spec

DOCUMENTATION = r"""
name: aifactory
short_description: hosts and groups of an AI factory, from its factory.yaml
description:
  - Reads C(factory.yaml) through C(aifactory.spec) and builds the groups nodes, rackNN, gpu_nodes or
    trainium_nodes, platform_*, factory_*, bmcs, switch_tray_bmcs and node_bmcs, with their vars.
  - "Enabled by a file named C(aifactory.yml) (or C(aifactory.yaml)) holding C(plugin: aifactory)."
  - Relative paths in that file are relative to the file; relative paths from the environment are
    relative to the working directory.
options:
  plugin:
    description: marks the file as an aifactory inventory source
    required: true
    choices: [aifactory]
  spec:
    description: the factory spec
    type: str
    default: factory.yaml
  stack_outputs:
    description:
      - JSON file of Pulumi stack outputs (C(pulumi stack output --json --show-secrets)).
      - Only the non-secret outputs named in C(aifactory.node.inventory.AWS_OUTPUT_KEYS) reach the roles' variables.
    type: str
    env:
      - name: AIFACTORY_STACK_OUTPUTS
  host_overrides:
    description: "JSON file C({hostname: {var: value}}) applied after everything else"
    type: str
    env:
      - name: AIFACTORY_HOST_OVERRIDES
"""

EXAMPLES = r"""
# inventories/paris-gb200/aifactory.yml
plugin: aifactory
spec: factory.yaml
"""


class InventoryModule(BaseInventoryPlugin):
    NAME = "aifactory"
    # Spec values are data: never trusted as templates (ansible-core 2.19 and later), and each one marked
    # unsafe as it is set (wrap_var: AnsibleUnsafe before 2.19), so a `{{ ... }}` in the spec is never run.
    trusted_by_default = False

    def verify_file(self, path):
        return super().verify_file(path) and os.path.basename(path) in ("aifactory.yml", "aifactory.yaml")

    def parse(self, inventory, loader, path, cache=False):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        base = Path(path).resolve().parent
        try:
            factory = load_spec(self._path_option("spec", base))
            outputs = self._path_option("stack_outputs", base)
            overrides = self._path_option("host_overrides", base)
            built = with_monitoring_vars(build_inventory(
                factory,
                stack_outputs=load_stack_outputs(outputs) if outputs else None,
                host_overrides=load_host_overrides(overrides) if overrides else None,
                controller_python=sys.executable,
            ), factory)
        except (SpecError, InventoryInputError) as err:
            lines = [f"{err.source}: {len(err.problems)} problem(s)"] + [f"  {p}" for p in err.problems]
            raise AnsibleParserError("\n".join(lines)) from None
        self._populate(built)

    def _path_option(self, name: str, base: Path) -> Path | None:
        value, origin = self.get_option_and_origin(name)
        if not value:
            return None
        path = Path(os.path.expanduser(str(value)))
        if path.is_absolute() or str(origin).startswith("env"):
            return path.resolve()
        return base / path

    def _populate(self, built) -> None:
        """Groups and their links first, so each host is placed once with its ancestors known."""
        inv = self.inventory
        for group in built.groups.values():
            inv.add_group(group.name)
        for group in built.groups.values():
            for child in group.children:
                inv.add_child(group.name, child)
            for key, value in group.vars.items():
                inv.set_variable(group.name, key, wrap_var(value))
        for group in built.groups.values():
            for host in group.hosts:
                inv.add_host(host, group=group.name)
                for key, value in built.hostvars[host].items():
                    inv.set_variable(host, key, wrap_var(value))
