"""The batch plan of a disruptive stage: a canary node first, then the rest of its rack, then one rack per
batch (an NVL72 rack is one NVLink domain, so it is never split further); on other platforms a batch
size makes batches of N nodes after the canary. Hosts marked absent are skipped. A bring-up cuts its
nodes by situation (`situation_batches`, for aifactory.node.batch_plan): after the canary's rack, the
racks with no node in service go at once, each rack in service on its own.

One plan for both ways a disruptive stage runs: `aifactory rollout` runs one batch per run
(aifactory.day2.rollout) and hands the drivers plays that batch whole as their `serial`
(`aifactory_drivers_serial`); a plain site.yml run gives them the plan's batch sizes (`inventory_serial`,
the `aifactory_batch_serial` filter of playbooks/filter_plugins), planned from the inventory's rack groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from aifactory.spec.naming import rack_group

# The extra variable a rollout batch's run hands the drivers plays as their `serial` (playbooks/drivers.yml).
SERIAL_VAR = "aifactory_drivers_serial"


class BatchPlanError(ValueError):
    """A batch size the platform refuses, or one below 1."""


@dataclass(frozen=True)
class Batch:
    label: str
    nodes: tuple[str, ...]


def plan_batches(nodes: Sequence, rack_domain: bool, batch_size: int | None = None,
                 absent: Iterable[str] = ()) -> list[Batch]:
    """The batches, in order. `nodes` carry name, rack and slot; `rack_domain` is True where a rack is one
    NVLink domain (NVL72), which refuses a batch size (a batch is a rack). Without a batch size the other
    platforms also go rack by rack."""
    if batch_size is not None and batch_size < 1:
        raise BatchPlanError(f"--batch-size must be at least 1, not {batch_size}")
    if rack_domain and batch_size is not None:
        raise BatchPlanError("--batch-size: on this platform a rack is one NVLink domain, so a batch is a rack")
    present = _present(nodes, absent)
    if not present:
        return []
    canary, rest = present[0], present[1:]
    batches = [Batch(f"canary {canary.name}", (canary.name,))]
    if batch_size is not None:
        for start in range(0, len(rest), batch_size):
            chunk = rest[start:start + batch_size]
            batches.append(Batch(f"nodes {chunk[0].name}..{chunk[-1].name}" if len(chunk) > 1 else chunk[0].name,
                                 tuple(n.name for n in chunk)))
        return batches
    for rack in sorted({n.rack for n in rest}):
        members = tuple(n.name for n in rest if n.rack == rack)
        batches.append(Batch(rack_group(rack) + (" (after the canary)" if rack == canary.rack else ""), members))
    return batches


def _present(nodes: Sequence, absent: Iterable[str]) -> list:
    """The nodes not marked absent, in rack and slot order."""
    skip = set(absent)
    return sorted((n for n in nodes if n.name not in skip), key=lambda n: (n.rack, n.slot))


def situation_batches(nodes: Sequence, in_service: Iterable[str], absent: Iterable[str] = ()) -> list[Batch]:
    """The batches of a bring-up by situation, in rack and slot order (a play's `serial` cuts its sorted
    hosts in order): the canary node, then the rest of its rack; after them each rack with a node in service
    is a batch of its own (the rollout's rack by rack), and each run of consecutive racks with no node in
    service is one batch (Ansible's forks bound how many hosts of it run at once). With no node in service
    that is at most three batches; with every rack in service it is the rollout plan."""
    present = _present(nodes, absent)
    if not present:
        return []
    busy = set(in_service)
    canary, rest = present[0], present[1:]
    batches = [Batch(f"canary {canary.name}", (canary.name,))]
    first = tuple(n.name for n in rest if n.rack == canary.rack)
    if first:
        batches.append(Batch(rack_group(canary.rack) + " (after the canary)", first))
    run: list[int] = []  # consecutive racks with no node in service, not yet a batch
    for rack in sorted({n.rack for n in rest} - {canary.rack}):
        members = tuple(n.name for n in rest if n.rack == rack)
        if busy.isdisjoint(members):
            run.append(rack)
            continue
        batches += _fresh_batch(rest, run)
        run = []
        batches.append(Batch(rack_group(rack) + " (in service)", members))
    return batches + _fresh_batch(rest, run)


def _fresh_batch(nodes: Sequence, racks: list[int]) -> list[Batch]:
    """One batch of the racks' nodes (none when there are no racks)."""
    if not racks:
        return []
    label = rack_group(racks[0]) if len(racks) == 1 else f"{rack_group(racks[0])}..{rack_group(racks[-1])}"
    chosen = set(racks)
    return [Batch(f"{label} (not in service, at once)", tuple(n.name for n in nodes if n.rack in chosen))]


def tolerated_failures(size: int, max_fail_percentage: int) -> int:
    """How many failed hosts a batch of `size` goes on with under Ansible's `max_fail_percentage` (the play
    stops when failed / batch size is above the share)."""
    return size * max_fail_percentage // 100


def serial_sizes(batches: Sequence[Batch]) -> list[int]:
    """The batches as an Ansible `serial` list: each batch's size, in order (a play's hosts `order: sorted`
    are in rack and slot order: names sort so)."""
    return [len(b.nodes) for b in batches]


class InventoryNode(NamedTuple):
    name: str
    rack: int
    slot: int


def inventory_serial(groups: Mapping[str, Sequence[str]]) -> list[int]:
    """The plan's batch sizes from the inventory as Ansible holds it (`groups`): each rack group's hosts,
    in slot order, are its present nodes (absent ones are not in the inventory). An inventory without
    rack groups (not aifactory's) goes one host at a time."""
    nodes: list[InventoryNode] = []
    rack = 1
    while rack_group(rack) in groups:
        nodes += [InventoryNode(str(name), rack, slot) for slot, name in enumerate(groups[rack_group(rack)], 1)]
        rack += 1
    return serial_sizes(plan_batches(nodes, rack_domain=False)) or [1]
