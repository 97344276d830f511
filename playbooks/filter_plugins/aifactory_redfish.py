"""Jinja filters over redfish_info results, wrapping `aifactory.node.redfish` (the one implementation):

    {{ systems.redfish_facts.system.entries | aifactory_redfish_system(bmc_system_id) }}        the host's system
    {{ firmware.redfish_facts.firmware.entries | aifactory_redfish_firmware }}                 {component: version}
    {{ firmware.redfish_facts.firmware.entries | aifactory_redfish_firmware_mismatches(baseline) }}
    {{ bmc_system | aifactory_redfish_power_command(bmc_power_action, bmc_power_off_command) }}   "" or a command

The bmc role and playbooks/replace.yml call these; no selection or comparison is written in Jinja.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from aifactory.node.redfish import (RedfishDataError, firmware_mismatches, firmware_versions, power_command,
                                    select_system)


def _filter(read):
    def run(*args):
        try:
            return read(*(_plain(a) for a in args))
        except RedfishDataError as err:
            raise AnsibleFilterError(f"aifactory_redfish: {err}") from None
    run.__name__ = read.__name__
    return run


def _plain(value):
    """Ansible's lazy containers as plain lists and dicts."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class FilterModule:
    def filters(self):
        return {
            "aifactory_redfish_system": _filter(select_system),
            "aifactory_redfish_firmware": _filter(firmware_versions),
            "aifactory_redfish_firmware_mismatches": _filter(firmware_mismatches),
            "aifactory_redfish_power_command": _filter(power_command),
        }
