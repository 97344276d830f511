"""Identity: how on-prem nodes and operators get AWS credentials (SOV-03, SOV-06).

Nodes authenticate with X.509 certificates issued by the customer's CA through IAM Roles Anywhere: the
trust anchor holds the CA certificate; the node role trusts only that anchor and certificates whose CN
starts with `<factory>-`. Operators assume one role per configured principal. Every role carries the
region-pinning permission boundary. With `ssm_hybrid_activation`, an SSM activation registers the nodes
as managed instances; its activation code is a secret output.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.account import Account
from aifactory.spec.model import Identity as IdentitySpec

SSM_MANAGED_INSTANCE_POLICY = "policy/AmazonSSMManagedInstanceCore"


def activation_expiry(now: datetime, days: int) -> str:
    """The activation's expiry, RFC 3339 in UTC, `days` after `now` (the spec allows 1-30, SSM's limit)."""
    return (now.astimezone(timezone.utc) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class IdentityArgs:
    """The home region, the spec's identity section, the CA certificate the trust anchor holds, the number of
    nodes; the models, guardrail and guardrail key the node role may use; the permission boundary; the account."""

    region: str
    spec: IdentitySpec
    ca_certificate: Path
    node_count: int
    model_arns: pulumi.Output[list[str]]
    guardrail_arn: pulumi.Input[str]
    guardrail_key_arn: pulumi.Input[str]
    boundary_arn: pulumi.Input[str]
    account: pulumi.Output[Account]


class Identity(pulumi.ComponentResource):
    """Roles Anywhere trust anchor, node role + profile, operator roles, optional SSM activation."""

    trust_anchor_arn: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    node_role_id: pulumi.Output[str]  # the role's name, as aws.iam.RolePolicy takes it
    node_profile_arn: pulumi.Output[str]
    operator_role_arns: list[pulumi.Output[str]]
    ssm_activation_id: pulumi.Output[str] | None
    ssm_activation_code: pulumi.Output[str] | None

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aifactory:infra:Identity", f"{name}-identity", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        region, spec, boundary_arn = args.region, args.spec, args.boundary_arn

        anchor = aws.rolesanywhere.TrustAnchor(
            f"{name}-trust-anchor", name=f"{name}-ca", enabled=True,
            source={"source_type": "CERTIFICATE_BUNDLE",
                    "source_data": {"x509_certificate_data": args.ca_certificate.read_text()}},
            opts=child)
        node_role = aws.iam.Role(
            f"{name}-node", description=f"aifactory {name}: on-prem nodes via Roles Anywhere",
            assume_role_policy=anchor.arn.apply(lambda arn: policies.roles_anywhere_trust_policy(arn, name)),
            permissions_boundary=boundary_arn, max_session_duration=3600, opts=child)
        aws.iam.RolePolicy(
            f"{name}-node", role=node_role.id,
            policy=pulumi.Output.all(args.account, args.model_arns, args.guardrail_arn, args.guardrail_key_arn).apply(
                lambda v: policies.node_role_policy(
                    v[1], v[2], f"arn:{v[0].partition}:sagemaker:{region}:{v[0].id}:endpoint/{name}-*", v[3])),
            opts=child)
        profile = aws.rolesanywhere.Profile(
            f"{name}-node-profile", name=f"{name}-nodes", enabled=True, role_arns=[node_role.arn],
            duration_seconds=3600, opts=child)

        self.operator_role_arns = []
        for index, principal in enumerate(spec.operator_principals, start=1):
            role = aws.iam.Role(
                f"{name}-operator-{index}", description=f"aifactory {name}: operators ({principal})",
                assume_role_policy=policies.operator_trust_policy(principal),
                permissions_boundary=boundary_arn, max_session_duration=3600, opts=child)
            aws.iam.RolePolicy(f"{name}-operator-{index}", role=role.id,
                               policy=policies.operator_role_policy(), opts=child)
            self.operator_role_arns.append(role.arn)

        self.ssm_activation_id = self.ssm_activation_code = None
        if spec.ssm_hybrid_activation:
            self._ssm_activation(name, region, args.node_count, spec.ssm_activation_expiry_days, boundary_arn, args.account)

        self.trust_anchor_arn = anchor.arn
        self.node_role_arn = node_role.arn
        self.node_role_id = node_role.id
        self.node_profile_arn = profile.arn
        self.register_outputs({"trust_anchor_arn": self.trust_anchor_arn, "node_role_arn": self.node_role_arn,
                               "node_profile_arn": self.node_profile_arn})

    def _ssm_activation(self, name: str, region: str, node_count: int, expiry_days: int,
                        boundary_arn: pulumi.Input[str], account: pulumi.Output[Account]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-ssm", description=f"aifactory {name}: SSM hybrid-activated nodes",
            assume_role_policy=account.apply(lambda a: policies.service_trust_policy(
                "ssm.amazonaws.com", a.id, f"arn:{a.partition}:ssm:{region}:{a.id}:*")),
            permissions_boundary=boundary_arn, opts=child)
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-ssm-core", role=role.name,
            policy_arn=account.apply(lambda a: f"arn:{a.partition}:iam::aws:{SSM_MANAGED_INSTANCE_POLICY}"), opts=child)
        # The SDK does not mark the activation code secret; the program does. The expiry is set when the
        # activation is created and not moved by later runs (a new expiry would replace the activation).
        activation = aws.ssm.Activation(
            f"{name}-activation", name=f"{name}-nodes", iam_role=role.name,
            description=f"aifactory {name}: registers the on-prem nodes", registration_limit=node_count,
            expiration_date=activation_expiry(datetime.now(timezone.utc), expiry_days),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment], ignore_changes=["expirationDate"],
                                        additional_secret_outputs=["activationCode"]))
        self.ssm_activation_id = activation.id
        self.ssm_activation_code = pulumi.Output.secret(activation.activation_code)
