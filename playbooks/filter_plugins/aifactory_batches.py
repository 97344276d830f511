"""The batch plan of a disruptive stage as a play's `serial`, wrapping `aifactory.node.batches` (the plan
`aifactory rollout` runs batch by batch):

    serial: "{{ groups | aifactory_batch_serial }}"    canary, rest of its rack, one rack per batch

`groups` is what a play keyword can read of the inventory (host and group variables cannot reach
`serial`); the plan is computed in Python from its rack groups.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from aifactory.node.batches import inventory_serial


def batch_serial(groups):
    """[batch size, ...] of the inventory's present nodes, in the plays' host order."""
    if not isinstance(groups, Mapping):
        raise AnsibleFilterError("aifactory_batch_serial: expected the `groups` magic variable")
    return inventory_serial({str(name): list(hosts) for name, hosts in groups.items()})


class FilterModule:
    def filters(self):
        return {"aifactory_batch_serial": batch_serial}
