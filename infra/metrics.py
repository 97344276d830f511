"""Metrics: an Amazon Managed Service for Prometheus workspace the head nodes' Prometheus also writes to.

Only with `monitoring.amp_remote_write` (metrics otherwise stay on the head nodes). The workspace lives in
the home region (the program's provider) under the factory's data key (SOV-04, SOV-09); Prometheus reaches it
through the `aps-workspaces` interface endpoint (infra/private_services.py) with the node role's credentials,
which may only `aps:RemoteWrite` into this workspace. AMP uses the key through grants it creates as the
deployer, a user of the data key (infra/keys.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies


def remote_write_url(endpoint_dns: str, workspace_id: str) -> str:
    """The workspace's remote-write URL (AMP user guide) at the endpoint's private DNS name: on-prem resolves it to
    the interface endpoint through the Resolver inbound endpoint, so the metrics take the private link."""
    return f"https://{endpoint_dns}/workspaces/{workspace_id}/api/v1/remote_write"


@dataclass(frozen=True)
class MetricsArgs:
    """The key the workspace is encrypted with, the node role that writes into it, the aps-workspaces endpoint's
    private DNS name."""

    data_key_arn: pulumi.Input[str]
    node_role_id: pulumi.Input[str]
    endpoint_dns: str


class Metrics(pulumi.ComponentResource):
    """The AMP workspace and the node role's remote-write policy; `remote_write_url` is Prometheus's target."""

    workspace_arn: pulumi.Output[str]
    remote_write_url: pulumi.Output[str]

    def __init__(self, name: str, args: MetricsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aifactory:infra:Metrics", f"{name}-metrics", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        workspace = aws.amp.Workspace(f"{name}-metrics", alias=f"{name}-metrics", kms_key_arn=args.data_key_arn,
                                      opts=child)
        aws.iam.RolePolicy(f"{name}-node-metrics", role=args.node_role_id,
                           policy=workspace.arn.apply(policies.amp_remote_write_policy), opts=child)
        self.workspace_arn = workspace.arn
        self.remote_write_url = workspace.id.apply(lambda workspace_id: remote_write_url(args.endpoint_dns, workspace_id))
        self.register_outputs({"workspace_arn": self.workspace_arn, "remote_write_url": self.remote_write_url})
