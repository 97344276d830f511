"""The aifactory sovereignty policy pack: `pulumi preview --policy-pack policies/`.

Every control is MANDATORY. The controls themselves are `aifactory.aws.plan.controls.POLICIES`, the
same objects `aifactory plan` evaluates offline; this file only packs them.
"""

import sys
from pathlib import Path

try:
    from aifactory.aws.plan.controls import POLICIES
except ImportError:  # run from a checkout without aifactory installed in the pack's environment
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from aifactory.aws.plan.controls import POLICIES

from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name="aifactory-sovereignty", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
