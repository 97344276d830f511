"""PrivateServices: interface endpoints for every AWS service the factory uses (SOV-02).

Each endpoint is an Interface endpoint with private DNS (on-prem resolves the standard service names
through the Resolver inbound endpoint), an explicit security group that admits HTTPS from the on-prem
and hub CIDRs only, and an endpoint policy: the factory's account only, and for bedrock-runtime the
spec's models only, with the factory's guardrail. With `monitoring.amp_remote_write` the head nodes'
Prometheus writes to Amazon Managed Service for Prometheus through an `aps-workspaces` endpoint too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.account import Account

SERVICES = ("bedrock", "bedrock-runtime", "bedrock-agent-runtime", "sagemaker.api", "sagemaker.runtime", "sts",
            "kms", "logs", "ssm", "ssmmessages", "ec2messages", "s3")
# The names clients resolve (private DNS); SageMaker's differ from the endpoint suffix.
METRICS_SERVICE = "aps-workspaces"  # AMP's data plane: remote write (and queries, which the factory does not make)
PRIVATE_DNS_PREFIX = {"sagemaker.api": "api.sagemaker", "sagemaker.runtime": "runtime.sagemaker"}


def private_dns_name(service: str, region: str) -> str:
    return f"{PRIVATE_DNS_PREFIX.get(service, service)}.{region}.amazonaws.com"


def resource_suffix(service: str) -> str:
    return service.replace(".", "-")


@dataclass(frozen=True)
class PrivateServicesArgs:
    """The home region; the hub VPC, its CIDR and subnets; the on-prem CIDR; the account; the models and
    guardrail the bedrock-runtime endpoint admits; whether metrics go to AMP (its endpoint)."""

    region: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    onprem_cidr: str
    subnet_ids: Sequence[pulumi.Input[str]]
    account: pulumi.Output[Account]
    model_arns: pulumi.Output[list[str]]
    guardrail_arn: pulumi.Input[str]
    amp_remote_write: bool = False


def services(amp_remote_write: bool) -> tuple[str, ...]:
    """The services the factory reaches through an interface endpoint."""
    return SERVICES + ((METRICS_SERVICE,) if amp_remote_write else ())


class PrivateServices(pulumi.ComponentResource):
    """The interface endpoints; `endpoint_dns` maps service -> the private DNS name clients use."""

    endpoint_ids: dict[str, pulumi.Output[str]]
    endpoint_dns: dict[str, str]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: PrivateServicesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aifactory:infra:PrivateServices", f"{name}-endpoints", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        region, account = args.region, args.account
        group = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg", vpc_id=args.vpc_id, description="Interface endpoints: HTTPS from on-prem and hub",
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=443, to_port=443,
                                                      cidr_blocks=[args.onprem_cidr, args.vpc_cidr], description="HTTPS")],
            egress=[], opts=child)
        self.security_group_id = group.id
        self.endpoint_ids = {}
        self.endpoint_dns = {}
        for service in services(args.amp_remote_write):
            if service == "bedrock-runtime":
                policy = pulumi.Output.all(account, args.model_arns, args.guardrail_arn).apply(
                    lambda v: policies.bedrock_runtime_endpoint_policy(v[0].id, v[1], v[2]))
            else:
                policy = account.apply(lambda a, s=service: policies.endpoint_policy(s, a.id))
            endpoint = aws.ec2.VpcEndpoint(
                f"{name}-vpce-{resource_suffix(service)}", vpc_id=args.vpc_id,
                service_name=f"com.amazonaws.{region}.{service}", vpc_endpoint_type="Interface",
                subnet_ids=list(args.subnet_ids), security_group_ids=[group.id], private_dns_enabled=True,
                dns_options={"private_dns_only_for_inbound_resolver_endpoint": False} if service == "s3" else None,
                policy=policy, tags={"Name": f"{name}-{service}"}, opts=child)
            self.endpoint_ids[service] = endpoint.id
            self.endpoint_dns[service] = private_dns_name(service, region)
        self.register_outputs({"endpoint_ids": self.endpoint_ids, "endpoint_dns": self.endpoint_dns})
