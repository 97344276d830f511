"""build(factory): every component of the AWS side, wired together; returns the stack outputs.

All resources go through one explicit AWS provider pinned to the spec's home region, so the region
comes from the spec alone (never from ambient `aws:region` config or AWS_REGION). The optional config
`aifactory:accountId` pins the provider to that account (`allowed_account_ids`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from aifactory import catalog
from aifactory.core import project
from aifactory.spec import Factory
from infra import policies
from infra.account import current_account
from infra.audit import Audit, AuditArgs
from infra.bedrock import Bedrock, BedrockArgs
from infra.hub_network import HubNetwork, HubNetworkArgs
from infra.hybrid_link import HybridLink, HybridLinkArgs
from infra.identity import Identity, IdentityArgs
from infra.keys import Keys, KeysArgs
from infra.metrics import Metrics, MetricsArgs
from infra.private_services import METRICS_SERVICE, PrivateServices, PrivateServicesArgs
from infra.region_pinning import RegionPinning, RegionPinningArgs
from infra.sagemaker import SageMaker, SageMakerArgs
from infra.state import PulumiState, stack_state

PROJECT_ROOT = project.root()  # Pulumi.yaml's directory: the checkout's, or the installed package's copy


def spec_path(configured: str) -> Path:
    """`aifactory:spec` is a factory.yaml or site directory, relative to the project root (Pulumi.yaml's)."""
    path = Path(configured)
    return path if path.is_absolute() else PROJECT_ROOT / path


def inference_profiles(factory: Factory) -> list[str]:
    profiles = catalog.bedrock().inference_profiles
    return [model for model in factory.aws_services.bedrock.models if model in profiles]


def build(factory: Factory) -> dict[str, Any]:
    """Declare the factory's AWS resources; return the outputs the playbooks consume, by name."""
    name = factory.name
    sovereignty = factory.sovereignty
    region = sovereignty.region
    account_id = pulumi.Config("aifactory").get("accountId")
    # Every taggable resource carries the factory's name: `aifactory verify` finds them by it.
    provider = aws.Provider(f"{name}-home", region=region,
                            allowed_account_ids=[account_id] if account_id else None,
                            default_tags=aws.ProviderDefaultTagsArgs(tags={"aifactory:factory": name}))
    opts = pulumi.ResourceOptions(providers=[provider])
    account = current_account(provider)

    onprem_cidr = factory.network.onprem_cidr
    PulumiState(name, stack_state(region, PROJECT_ROOT, pulumi.get_stack()), opts=opts)
    pinning = RegionPinning(name, RegionPinningArgs(sovereignty.allowed_regions), opts=opts)
    certificate = factory.acceptance.certificate
    keys = Keys(name, KeysArgs(sovereignty, account, signing_key_spec=certificate.kms_key_spec
                               if certificate is not None and certificate.signing == "kms" else None), opts=opts)
    audit = Audit(name, AuditArgs(sovereignty, keys.arns["logs"], account), opts=opts)
    hub = HubNetwork(name, HubNetworkArgs(
        region=region, link=factory.hybrid_link, onprem_cidr=onprem_cidr, logs_key_arn=keys.arns["logs"],
        boundary_arn=pinning.boundary_arn, account=account, nfs=factory.aws_services.sagemaker.domain), opts=opts)
    link = HybridLink(name, HybridLinkArgs(
        link=factory.hybrid_link, onprem_cidr=onprem_cidr, vpc_id=hub.vpc_id, subnet_ids=hub.subnet_ids,
        vpc_route_table_id=hub.route_table_id, logs_key_arn=keys.arns["logs"]), opts=opts)
    bedrock = Bedrock(name, BedrockArgs(
        sovereignty=sovereignty, guardrail=factory.aws_services.bedrock.guardrail, data_key_arn=keys.arns["data"],
        account=account, access_logs=audit.access_logs), opts=opts)
    model_arns = account.apply(lambda a: policies.bedrock_model_arns(
        a.partition, a.id, region, sovereignty.allowed_regions, factory.bedrock_foundation_models,
        inference_profiles(factory)))
    services = PrivateServices(name, PrivateServicesArgs(
        region=region, vpc_id=hub.vpc_id, vpc_cidr=hub.vpc_cidr, onprem_cidr=onprem_cidr, subnet_ids=hub.subnet_ids,
        account=account, model_arns=model_arns, guardrail_arn=bedrock.guardrail_arn,
        amp_remote_write=factory.monitoring.amp_remote_write), opts=opts)
    sagemaker = None
    if factory.aws_services.sagemaker.domain:
        sagemaker = SageMaker(name, SageMakerArgs(
            region=region, spec=factory.aws_services.sagemaker, vpc_id=hub.vpc_id, vpc_cidr=hub.vpc_cidr,
            subnet_ids=hub.subnet_ids, data_key_arn=keys.arns["data"], s3_endpoint_id=services.endpoint_ids["s3"],
            boundary_arn=pinning.boundary_arn, account=account, access_logs=audit.access_logs), opts=opts)
    identity = Identity(name, IdentityArgs(
        region=region, spec=factory.identity, ca_certificate=factory.trust_anchor_path, node_count=factory.node_count,
        model_arns=model_arns, guardrail_arn=bedrock.guardrail_arn, guardrail_key_arn=keys.arns["data"],
        boundary_arn=pinning.boundary_arn, account=account), opts=opts)
    metrics = Metrics(name, MetricsArgs(
        data_key_arn=keys.arns["data"], node_role_id=identity.node_role_id,
        endpoint_dns=services.endpoint_dns[METRICS_SERVICE]), opts=opts) if factory.monitoring.amp_remote_write else None
    # Key use pinned to the roles that need it: SageMaker's jobs use the data key; the nodes only decrypt
    # with it (the guardrail's key); the operators administer both keys.
    keys.pin_policies(administrators=identity.operator_role_arns,
                      users={"data": [sagemaker.execution_role_arn] if sagemaker else []},
                      decrypters={"data": [identity.node_role_arn]})

    amp = {"amp_remote_write_url": metrics.remote_write_url} if metrics else {}
    return {
        "region": region,
        "vpc_id": hub.vpc_id,
        "transit_gateway_id": link.transit_gateway_id,
        "vpn_connection_ids": link.vpn_connection_ids,
        "endpoint_dns": services.endpoint_dns,
        "resolver_inbound_ips": hub.resolver_inbound_ips,
        "trust_anchor_arn": identity.trust_anchor_arn,
        "node_profile_arn": identity.node_profile_arn,
        "node_role_arn": identity.node_role_arn,
        "ssm_activation_id": identity.ssm_activation_id,
        "ssm_activation_code": identity.ssm_activation_code,
        "guardrail_id": bedrock.guardrail_id,
        "guardrail_version": bedrock.guardrail_version,
        "kms_key_arns": keys.arns,
        "region_pinning_scp": pinning.scp_json,
        **amp,
    }
