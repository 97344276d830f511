"""SageMaker: a VPC-only domain encrypted with the data key, its execution role, the model registry's
groups and a private artifact bucket reachable only through the hub's S3 endpoint or the factory's roles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.account import Account
from aifactory.spec.model import SageMaker as SageMakerSpec
from infra.buckets import PrivateBucket, PrivateBucketArgs


@dataclass(frozen=True)
class SageMakerArgs:
    """The home region and the spec's SageMaker section; the hub VPC, its CIDR and subnets; the data key; the
    hub's S3 endpoint; the permission boundary; the account; the bucket that receives access logs."""

    region: str
    spec: SageMakerSpec
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    subnet_ids: Sequence[pulumi.Input[str]]
    data_key_arn: pulumi.Input[str]
    s3_endpoint_id: pulumi.Input[str]
    boundary_arn: pulumi.Input[str]
    account: pulumi.Output[Account]
    access_logs: PrivateBucket | None = None


class SageMaker(pulumi.ComponentResource):
    """Created only when `aws_services.sagemaker.domain` is true."""

    domain_id: pulumi.Output[str]
    execution_role_arn: pulumi.Output[str]
    artifact_bucket: pulumi.Output[str]

    def __init__(self, name: str, args: SageMakerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aifactory:infra:SageMaker", f"{name}-sagemaker", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        region, account, vpc_id, subnet_ids = args.region, args.account, args.vpc_id, args.subnet_ids

        bucket = PrivateBucket(f"{name}-artifacts", PrivateBucketArgs(
            args.data_key_arn, access_logs=args.access_logs,
            policy=lambda arn: pulumi.Output.all(account, args.s3_endpoint_id).apply(
                lambda v: policies.artifact_bucket_policy(
                    arn, v[1], policies.factory_role_arn_pattern(v[0].partition, v[0].id, name)))),
            opts=child)
        groups = [aws.sagemaker.ModelPackageGroup(
            f"{name}-{group}", model_package_group_name=f"{name}-{group}",
            model_package_group_description=f"aifactory {name}: {group}", opts=child)
            for group in args.spec.model_groups]

        role = aws.iam.Role(
            f"{name}-sagemaker-execution",
            assume_role_policy=account.apply(lambda a: policies.service_trust_policy("sagemaker.amazonaws.com", a.id)),
            permissions_boundary=args.boundary_arn, opts=child)
        aws.iam.RolePolicy(
            f"{name}-sagemaker-execution", role=role.id,
            policy=pulumi.Output.all(account, bucket.bucket.arn, args.data_key_arn, vpc_id, pulumi.Output.all(*subnet_ids)).apply(
                lambda v: policies.sagemaker_execution_policy(
                    v[1], v[2], [f"arn:{v[0].partition}:sagemaker:{region}:{v[0].id}:model-package-group/{name}-*",
                                 f"arn:{v[0].partition}:sagemaker:{region}:{v[0].id}:model-package/{name}-*"],
                    partition=v[0].partition, account_id=v[0].id, region=region, vpc_id=v[3], subnet_ids=v[4])),
            opts=child)

        group_sg = aws.ec2.SecurityGroup(
            f"{name}-sagemaker-sg", vpc_id=vpc_id, description="SageMaker domain: own traffic and HTTPS to endpoints",
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="-1", from_port=0, to_port=0, self=True,
                                                      description="between the domain's apps")],
            egress=[aws.ec2.SecurityGroupEgressArgs(protocol="tcp", from_port=443, to_port=443, cidr_blocks=[args.vpc_cidr],
                                                    description="HTTPS to the interface endpoints"),
                    aws.ec2.SecurityGroupEgressArgs(protocol="-1", from_port=0, to_port=0, self=True,
                                                    description="between the domain's apps")],
            opts=child)
        domain = aws.sagemaker.Domain(
            f"{name}-domain", domain_name=f"{name}", auth_mode="IAM",
            app_network_access_type="VpcOnly", vpc_id=vpc_id, subnet_ids=list(subnet_ids), kms_key_id=args.data_key_arn,
            default_user_settings={"execution_role": role.arn, "security_groups": [group_sg.id]},
            domain_settings={"security_group_ids": [group_sg.id]},
            retention_policy={"home_efs_file_system": "Retain"},
            opts=child)
        self.domain_id = domain.id
        self.execution_role_arn = role.arn
        self.artifact_bucket = bucket.bucket.id
        self.register_outputs({"domain_id": self.domain_id, "artifact_bucket": self.artifact_bucket})
