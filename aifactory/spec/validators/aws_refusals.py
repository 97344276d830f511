"""Values that pass the spec's types but that an AWS call would refuse, held against the AWS API's model and
the sourced table of limits it lacks (aifactory.catalog.aws_api): the same reference the offline plan uses."""

from __future__ import annotations

from collections.abc import Iterator

from aifactory.catalog import aws_api
from aifactory.spec.model import Factory
from aifactory.spec.validators.registry import Problem, validator
from aifactory.spec.validators.text import DNS_LABEL

# The longest bucket name the program derives from the factory's name: infra/bedrock.py's
# `<factory>-bedrock-logs`, autonamed by Pulumi with a 7-character suffix; and `aifactory bootstrap`'s state bucket.
BUCKET_NAMES = ("{factory}-bedrock-logs-0000000", "{factory}-pulumi-state")


def _refusals(service: str, operation: str, member: str, value) -> list[str]:
    return [r.message for r in aws_api.check_member(service, operation, member, value)]


@validator()
def external_key_store_accepted_by_kms(f: Factory) -> Iterator[Problem]:
    """The external key store's proxy endpoint, path and VPC endpoint service name are values AWS KMS
    CreateCustomKeyStore accepts (its API model: lengths and patterns).

    Fix: Write proxy_uri_endpoint as https://<host> (no port, no path), proxy_uri_path as /kms/xks/v1 or
    /<prefix of letters, digits, '/', '_', '-'>/kms/xks/v1, and vpc_endpoint_service_name as
    com.amazonaws.vpce.<region>.vpce-svc-<id>."""
    xks = f.sovereignty.external_key_store
    if xks is None:
        return
    for field, member, value in (("proxy_uri_endpoint", "XksProxyUriEndpoint", xks.proxy_uri_endpoint),
                                 ("proxy_uri_path", "XksProxyUriPath", xks.proxy_uri_path),
                                 ("vpc_endpoint_service_name", "XksProxyVpcEndpointServiceName", xks.vpc_endpoint_service_name)):
        if value is not None:
            for message in _refusals("kms", "CreateCustomKeyStore", member, value):
                yield Problem(f"sovereignty.external_key_store.{field}", message, value)


@validator()
def operator_principals_accepted_by_iam(f: Factory) -> Iterator[Problem]:
    """Each operator principal is in the home region's AWS partition, and its role or user name is one IAM takes
    (CreateRole RoleName / CreateUser UserName: at most 64 characters of letters, digits and +=,.@_-).

    Fix: Name a role or user of the factory's own partition (arn:aws:... for a commercial region) whose name
    is at most 64 characters."""
    partition = aws_api.partition_of(f.sovereignty.region)
    for i, arn in enumerate(f.identity.operator_principals):
        path = f"identity.operator_principals.{i}"
        principal_partition = arn.split(":")[1]
        if partition and principal_partition != partition:
            yield Problem(path, f"is in the partition {principal_partition}, the home region {f.sovereignty.region} "
                                f"in {partition}: IAM refuses a trust policy naming it", arn)
        kind, _, name = arn.split(":", 5)[5].partition("/")
        name = name.rsplit("/", 1)[-1]
        operation, member = ("CreateRole", "RoleName") if kind == "role" else ("CreateUser", "UserName")
        for message in _refusals("iam", operation, member, name):
            yield Problem(path, f"its {kind} name {message}", arn)


@validator()
def customer_gateway_asn_accepted_by_ec2(f: Factory) -> Iterator[Problem]:
    """With a VPN, the on-prem ASN is one EC2 takes as a customer gateway's BGP ASN (CreateCustomerGateway BgpAsn).

    Fix: Choose a hybrid_link.onprem_asn in EC2's customer gateway range (a 16-bit private ASN 64512-65534
    always is)."""
    if not f.hybrid_link.vpn:
        return
    for message in _refusals("ec2", "CreateCustomerGateway", "BgpAsn", f.hybrid_link.onprem_asn):
        yield Problem("hybrid_link.onprem_asn", f"as the VPN's customer gateway ASN {message}", f.hybrid_link.onprem_asn)


@validator()
def factory_name_accepted_by_s3(f: Factory) -> Iterator[Problem]:
    """The factory's name makes bucket names S3 accepts (S3's bucket naming rules: reserved prefixes, length).

    Fix: Rename the factory so that it does not start with a prefix S3 reserves (xn--, sthree-, amzn-s3-demo-)."""
    if not DNS_LABEL.fullmatch(f.name):
        return  # dns_safe_names says what to change
    for pattern in BUCKET_NAMES:
        problem = aws_api.bucket_name_problem(pattern.format(factory=f.name))
        if problem:
            yield Problem("name", f"makes the bucket name {pattern.format(factory=f.name)!r}, which S3 refuses: "
                                  f"{problem}", f.name)
            return


@validator()
def model_groups_accepted_by_sagemaker(f: Factory) -> Iterator[Problem]:
    """Each SageMaker model group appears once, and `<factory>-<group>` is a name SageMaker takes
    (CreateModelPackageGroup ModelPackageGroupName: at most 63 characters).

    Fix: Remove the repeated group, or shorten the group (or the factory's) name."""
    groups = f.aws_services.sagemaker.model_groups
    named = DNS_LABEL.fullmatch(f.name)  # else dns_safe_names reports the name, not each group it spoils
    for i, group in enumerate(groups):
        path = f"aws_services.sagemaker.model_groups.{i}"
        if groups.index(group) != i:
            yield Problem(path, "repeats an earlier model group (each becomes one resource)", group)
            continue
        if not named:
            continue
        for message in _refusals("sagemaker", "CreateModelPackageGroup", "ModelPackageGroupName", f"{f.name}-{group}"):
            yield Problem(path, f"makes the model package group name {f.name}-{group}, which {message}", group)


@validator()
def vpc_range_clear_of_aws_reserved_blocks(f: Factory) -> Iterator[Problem]:
    """The hub VPC's range (hybrid_link.vpc_cidr) overlaps no block AWS reserves or says not to use.

    Fix: Choose a hybrid_link.vpc_cidr in private address space (10.0.0.0/8, 172.16.0.0/12 other than
    172.17.0.0/16, or 192.168.0.0/16)."""
    overlap = aws_api.vpc_reserved_overlap(f.hybrid_link.vpc_cidr)
    if overlap:
        yield Problem("hybrid_link.vpc_cidr", overlap, f.hybrid_link.vpc_cidr)
