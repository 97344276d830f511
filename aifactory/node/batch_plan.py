"""The batch plan of every bring-up stage of a site, decided by its situation: which nodes are in service.

A node is in service when the site's records hold an acceptance verdict for it (`<acceptance dir>/<node>.json`,
written by the acceptance role), or when Slurm runs jobs on it (aifactory.node.slurm_situation, asked by a real
`bringup` of the drivers stage); `--fresh` treats every node as not in service. The drivers stage, the one
whose plays run in batches (playbooks/drivers.yml), is cut by `aifactory.node.batches.situation_batches`:
the canary node, the rest of its rack, then every rack not in service at once and each rack in service on
its own. Where no node of the plan is in service, its plays go on past a share of failed trays
(`compute.fresh_batch_max_fail_percent` of the spec, as Ansible's `max_fail_percentage`): those trays are
reported failed and left out. Where a node is in service, any failure stops the stage (share 0), as in a
rollout. `aifactory bringup` hands the plan to drivers.yml as extra variables (`drivers_vars`); the other
stages run every host at once, bounded by Ansible's forks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aifactory.core.inputs import InputFileError
from aifactory.core.userstate import acceptance_dir
from aifactory.node.acceptance_gate import read_verdict
from aifactory.node.batches import SERIAL_VAR, Batch, serial_sizes, situation_batches, tolerated_failures
from aifactory.spec import Factory
from aifactory.spec.validators import shown

# The extra variable drivers.yml takes its plays' `max_fail_percentage` from (0 when not given).
MAX_FAIL_VAR = "aifactory_drivers_max_fail_percentage"
BATCHED_STAGE = "drivers"


class SituationError(Exception):
    """A record of the site cannot be read; the message names the file."""


@dataclass(frozen=True)
class StagePlan:
    """One stage's batches in order; `max_fail_percentage` None: the stage's plays set none (a failed host
    is left out, the others go on)."""

    stage: str
    batches: list[Batch]
    max_fail_percentage: int | None


def in_service_from_records(f: Factory, directory: Path | None = None) -> set[str]:
    """The nodes with a recorded acceptance verdict (default: the site's acceptance directory)."""
    directory = directory or acceptance_dir(f.name)
    names = {n.name for n in f.nodes}
    found: set[str] = set()
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        if path.stem not in names:
            continue  # a summary-<rack>.json, or a node the spec no longer has
        try:
            read_verdict(path)
        except InputFileError as err:
            raise SituationError(f"{shown(str(path), 300)}: not an acceptance verdict ({err}): fix or remove "
                                 "the file, or pass --fresh") from None
        found.add(path.stem)
    return found


def drivers_plan(f: Factory, in_service: set[str], absent: list[str]) -> StagePlan:
    """The drivers stage's batches and the share of failed trays its plays go on past."""
    batches = situation_batches(f.nodes, in_service, absent)
    fresh = all(in_service.isdisjoint(b.nodes) for b in batches)
    return StagePlan(BATCHED_STAGE, batches, f.compute.fresh_batch_max_fail_percent if fresh else 0)


def site_plan(f: Factory, stages: tuple[str, ...], in_service: set[str], absent: list[str]) -> list[StagePlan]:
    """Every stage's plan, in `stages`' order."""
    skip = set(absent)
    everyone = Batch("every host at once", tuple(n.name for n in f.nodes if n.name not in skip))
    return [drivers_plan(f, in_service, absent) if stage == BATCHED_STAGE else StagePlan(stage, [everyone], None)
            for stage in stages]


def drivers_vars(plan: StagePlan) -> dict:
    """The extra variables that give drivers.yml's plays the plan: their `serial` and `max_fail_percentage`."""
    return {SERIAL_VAR: serial_sizes(plan.batches) or [1], MAX_FAIL_VAR: plan.max_fail_percentage or 0}


def plan_dict(f: Factory, plans: list[StagePlan], in_service: set[str], fresh: bool) -> dict:
    """The plan as `--batches --format json` prints it."""
    return {"site": f.name, "situation": "fresh" if fresh else "records", "in_service": sorted(in_service),
            "stages": [{"stage": p.stage, "max_fail_percentage": p.max_fail_percentage,
                        "batches": [{"index": i, "label": b.label, "size": len(b.nodes),
                                     "may_fail": _may_fail(len(b.nodes), p.max_fail_percentage),
                                     "nodes": list(b.nodes)} for i, b in enumerate(p.batches, 1)]}
                       for p in plans]}


def plan_rows(plans: list[StagePlan]) -> list[list[object]]:
    """[stage, batch, label, nodes, may fail] per batch, for the table."""
    return [[p.stage, i, b.label, len(b.nodes), _may_fail(len(b.nodes), p.max_fail_percentage)]
            for p in plans for i, b in enumerate(p.batches, 1)]


def _may_fail(size: int, max_fail_percentage: int | None) -> int | str:
    """Failed trays a batch goes on past: a number, or `any` where the play sets no share."""
    return "any" if max_fail_percentage is None else tolerated_failures(size, max_fail_percentage)

