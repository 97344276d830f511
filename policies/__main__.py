"""The aifactory sovereignty policy pack: `pulumi preview --policy-pack policies/`.

Every control is MANDATORY. The controls themselves are `aifactory.aws.plan.controls.POLICIES`, the
same objects `aifactory plan` evaluates offline; this file only packs them.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from aifactory.aws.plan.controls import POLICIES  # aifactory is installed in the pack's environment

PolicyPack(name="aifactory-sovereignty", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
