"""Evaluate the sovereignty controls offline, on the resources of a plan.

The planned resources are handed to the same pulumi_policy policy objects the policy pack serves to
the Pulumi engine: resource validations see each resource's inputs, stack validations see every
resource's outputs (inputs plus the ids moto gave them), as in `pulumi preview --policy-pack`. Each
result keeps its evidence: the properties of each resource the control read, with their values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)
from pulumi_policy.policy import _NotApplicableError

from aifactory.core.batch_gc import fewer_collections
from aifactory.aws.plan.controls import CONTROLS
from aifactory.aws.plan.engine import PlannedResource


@dataclass
class Violation:
    resource: str | None  # the resource's name; None for the stack as a whole
    type: str | None
    message: str


@dataclass
class ControlResult:
    id: str
    statement: str
    violations: list[Violation] = field(default_factory=list)
    # {resource name: {property the control read: its value}}; values as the control saw them (secrets
    # included: mask them with aifactory.aws.plan.masked before they leave the process)
    evidence: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.violations


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


class _Reads(dict):
    """A resource's properties that remember which of them a control read."""

    def __init__(self, values: dict):
        super().__init__(values)
        self.seen: set[str] = set()

    def get(self, key, default=None):
        if key in self:
            self.seen.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.seen.add(key)
        return super().__getitem__(key)

    def read(self) -> dict[str, object]:
        """The properties read, by name, with their values."""
        return {k: dict.__getitem__(self, k) for k in sorted(self.seen) if k in self}


def evaluate(resources: list[PlannedResource], config: dict | None = None,
             components: list[PlannedResource] | None = None) -> list[ControlResult]:
    """Every control's result on these resources, one per control id (resource validations see custom
    resources only, like the engine; stack validations see the components too)."""
    with fewer_collections():  # right after a plan the heap is large: default collections walk it often
        return _evaluate(resources, config, components or [])


def _evaluate(resources: list[PlannedResource], config: dict | None,
              components: list[PlannedResource]) -> list[ControlResult]:
    # Stack validations see component resources too, as under `pulumi preview` (their registered outputs).
    stack_members = [*resources, *components]
    by_urn = {r.urn: r for r in stack_members}
    results: dict[str, ControlResult] = {}  # a control may be checked by several policies (resource and stack)
    for control in CONTROLS:
        result = results.setdefault(control.id, ControlResult(control.id, control.statement))
        policy_config = (config or {}).get(control.policy.name, {})

        def report(message, urn=None, resource: PlannedResource | None = None):
            target = resource or by_urn.get(urn)
            result.violations.append(Violation(target.name if target else None, target.type if target else None, message))

        def keep(r: PlannedResource, props: _Reads) -> None:
            if props.seen:
                result.evidence.setdefault(r.name, {}).update(props.read())

        if isinstance(control.policy, ResourceValidationPolicy):
            for r in resources:
                props = _Reads(r.inputs)
                args = ResourceValidationArgs(r.type, props, r.urn, r.name, _options(), None, policy_config)
                try:
                    control.policy.validate(args, lambda message, urn=None, r=r: report(message, resource=r))
                except _NotApplicableError:
                    pass
                keep(r, props)
        else:
            reads = [_Reads(r.outputs) for r in stack_members]
            stack = [PolicyResource(r.type, props, r.urn, r.name, _options(), None, None, [], {})
                     for r, props in zip(stack_members, reads)]
            try:
                control.policy.validate(StackValidationArgs(stack, policy_config), report)
            except _NotApplicableError:
                pass
            for r, props in zip(stack_members, reads):
                keep(r, props)
    return list(results.values())
