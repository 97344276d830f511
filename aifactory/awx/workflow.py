"""The bring-up as an AWX workflow: site.yml's stages in their order, one node each, except the stage that
runs in batches (aifactory.node.batch_plan: the site's plan by situation): it becomes one node per batch,
each handed the batch as its `limit` and the plan's variables for it (drivers_vars: its `serial`, and the
share of trays it may lose), each followed by the acceptance gate on that batch (the acceptance stage's
template limited to the batch; it fails when a check fails: acceptance_fail_on_failure). The next batch
runs only on the gate's success. A batch that may lose trays leads to its gate whatever its job's status
(AWX calls a job with a failed host failed): the gate then judges every tray of the batch. Each batch
runs on the instance group of its rack row, so execution nodes beside that row reach it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from aifactory.node.batch_plan import BATCHED_STAGE, StagePlan, drivers_vars
from aifactory.node.batches import Batch, tolerated_failures
from aifactory.node.stages import ACCEPTANCE_STAGE
from aifactory.spec import Factory
from aifactory.spec.naming import rack_group

GATE_STAGE = ACCEPTANCE_STAGE
SUCCESS, ALWAYS = "success_nodes", "always_nodes"


@dataclass(frozen=True)
class Node:
    """One workflow node: the stage whose job template it runs, on which hosts (`limit`: all when empty),
    and the edge to the node after it (`then`: success_nodes, or always_nodes)."""

    identifier: str
    stage: str
    limit: str = ""
    extra_data: dict = field(default_factory=dict)
    instance_groups: tuple[str, ...] = ()
    then: str = SUCCESS


def row_of(rack: int, racks_per_row: int) -> int:
    return (rack - 1) // racks_per_row + 1


def row_group(site: str, row: int) -> str:
    """The instance group of a rack row: its execution nodes run the jobs of that row's batches."""
    return f"{site} row {row:02d}"


def rows(f: Factory, racks_per_row: int) -> list[int]:
    return sorted({row_of(rack, racks_per_row) for rack in range(1, f.compute.racks + 1)})


def batch_limit(by_rack: dict[int, list[str]], batch: Batch) -> str:
    """The batch as an Ansible limit: a rack whose every node is in the batch by its rack group, the others'
    nodes by name; `, `-separated, so that a long limit folds in YAML. `by_rack`: each rack's nodes."""
    chosen = set(batch.nodes)
    parts: list[str] = []
    for rack, rack_nodes in by_rack.items():
        members = [name for name in rack_nodes if name in chosen]
        parts += [rack_group(rack)] if members == rack_nodes else members
    return ", ".join(parts)


def workflow_nodes(f: Factory, plans: list[StagePlan], racks_per_row: int) -> list[Node]:
    """The workflow's nodes in the order they run, from the site's plan (one StagePlan per stage, in stage
    order); each node leads to the next."""
    racks = {n.name: n.rack for n in f.nodes}
    by_rack: dict[int, list[str]] = {}
    for n in sorted(f.nodes, key=lambda n: (n.rack, n.slot)):
        by_rack.setdefault(n.rack, []).append(n.name)
    nodes: list[Node] = []
    for number, plan in enumerate(plans, 1):
        prefix = f"{number:02d}-{plan.stage}"
        if plan.stage != BATCHED_STAGE:
            nodes.append(Node(prefix, plan.stage))
            continue
        for index, batch in enumerate(plan.batches, 1):
            limit = batch_limit(by_rack, batch)
            groups = tuple(row_group(f.name, row) for row in sorted({row_of(racks[n], racks_per_row) for n in batch.nodes}))
            name = f"{prefix}-batch-{index:03d}"
            nodes.append(Node(name, plan.stage, limit, drivers_vars(replace(plan, batches=[batch])), groups,
                              ALWAYS if tolerated_failures(len(batch.nodes), plan.max_fail_percentage or 0) else SUCCESS))
            nodes.append(Node(f"{name}-gate", GATE_STAGE, limit, {}, groups))
    return nodes
