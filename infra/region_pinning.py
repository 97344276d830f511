"""RegionPinning: the permission boundary every factory role carries, and the matching SCP document."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies


@dataclass(frozen=True)
class RegionPinningArgs:
    """The regions the factory may use (`sovereignty.allowed_regions`)."""

    allowed_regions: Sequence[str]


class RegionPinning(pulumi.ComponentResource):
    """An IAM policy that denies every non-global action outside `allowed_regions` (SOV-03)."""

    boundary_arn: pulumi.Output[str]
    scp_json: str

    def __init__(self, name: str, args: RegionPinningArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aifactory:infra:RegionPinning", f"{name}-region-pinning", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        boundary = aws.iam.Policy(
            f"{name}-region-boundary",
            description="aifactory region pinning: factory services only, allowed regions only",
            policy=policies.region_pinning_boundary(args.allowed_regions),
            opts=child,
        )
        self.boundary_arn = boundary.arn
        self.scp_json = policies.region_pinning_scp(args.allowed_regions)
        self.register_outputs({"boundary_arn": self.boundary_arn, "scp_json": self.scp_json})
