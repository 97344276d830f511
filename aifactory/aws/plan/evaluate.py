"""Evaluate the sovereignty controls offline, on the resources of a plan.

The planned resources are handed to the same pulumi_policy policy objects the policy pack serves to
the Pulumi engine: resource validations see each resource's inputs, stack validations see every
resource's outputs (inputs plus the ids moto gave them), as in `pulumi preview --policy-pack`.
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

    @property
    def passed(self) -> bool:
        return not self.violations


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def evaluate(resources: list[PlannedResource], config: dict | None = None,
             components: list[PlannedResource] | None = None) -> list[ControlResult]:
    """Every control's result on these resources, one per control id (resource validations see custom
    resources only, like the engine; stack validations see the components too)."""
    with fewer_collections():  # right after a plan the heap is large: default collections walk it often
        return _evaluate(resources, config, components or [])


def _evaluate(resources: list[PlannedResource], config: dict | None,
              components: list[PlannedResource]) -> list[ControlResult]:
    by_urn = {r.urn: r for r in [*resources, *components]}
    # Stack validations see component resources too, as under `pulumi preview` (their registered outputs).
    stack = [PolicyResource(r.type, r.outputs, r.urn, r.name, _options(), None, None, [], {}) for r in [*resources, *components]]
    results: dict[str, ControlResult] = {}  # a control may be checked by several policies (resource and stack)
    for control in CONTROLS:
        result = results.setdefault(control.id, ControlResult(control.id, control.statement))
        policy_config = (config or {}).get(control.policy.name, {})

        def report(message, urn=None, resource: PlannedResource | None = None):
            target = resource or by_urn.get(urn)
            result.violations.append(Violation(target.name if target else None, target.type if target else None, message))

        try:
            if isinstance(control.policy, ResourceValidationPolicy):
                for r in resources:
                    args = ResourceValidationArgs(r.type, r.inputs, r.urn, r.name, _options(), None, policy_config)
                    try:
                        control.policy.validate(args, lambda message, urn=None, r=r: report(message, resource=r))
                    except _NotApplicableError:
                        pass
            else:
                control.policy.validate(StackValidationArgs(stack, policy_config), report)
        except _NotApplicableError:
            pass
    return list(results.values())
