"""Post-deployment verification: boto3 checks of the AWS side, against real AWS or against moto.

The same checks run after `pulumi up` (real credentials from the environment) and after
`aifactory plan --aws-endpoint URL` (moto_server). Resources are found the way an auditor would:
the hub VPC by the tag `aifactory:factory=<name>` or else its Name tag `<name>-hub`; buckets and
key aliases by the factory's name prefix. Every check is a few targeted describe calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import botocore.exceptions

from aifactory.spec import Factory

# The interface endpoints DESIGN.md requires in the hub (PrivateServices).
ENDPOINT_SERVICES = ("bedrock", "bedrock-runtime", "bedrock-agent-runtime", "sagemaker.api", "sagemaker.runtime", "sts",
                     "kms", "logs", "ssm", "ssmmessages", "ec2messages", "s3")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


Clients = Callable[[str], object]  # service -> boto3 client in the factory's region


def find_hub_vpc(ec2, factory: Factory) -> dict | None:
    for filters in ([{"Name": "tag:aifactory:factory", "Values": [factory.name]}],
                    [{"Name": "tag:Name", "Values": [f"{factory.name}-hub"]}]):
        vpcs = ec2.describe_vpcs(Filters=filters)["Vpcs"]
        if vpcs:
            return vpcs[0]
    return None


def check_no_internet(ec2, vpc_id: str) -> list[Check]:
    igws = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]
    nats = [n for n in ec2.describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["NatGateways"]
            if n.get("State") not in ("deleted", "deleting", "failed")]
    return [
        Check("hub has no internet gateway", not igws, ", ".join(g["InternetGatewayId"] for g in igws) or "none attached"),
        Check("hub has no NAT gateway", not nats, ", ".join(n["NatGatewayId"] for n in nats) or "none"),
    ]


def check_endpoints(ec2, vpc_id: str, region: str) -> list[Check]:
    found = {e["ServiceName"]: e for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]}
    checks = []
    for service in ENDPOINT_SERVICES:
        e = found.get(f"com.amazonaws.{region}.{service}")
        if e is None:
            checks.append(Check(f"endpoint {service}", False, "missing"))
            continue
        problems = []
        if e.get("VpcEndpointType") != "Interface":
            problems.append(f"type {e.get('VpcEndpointType')}")
        if not e.get("PrivateDnsEnabled"):
            problems.append("private DNS off")
        if not _restrictive(e.get("PolicyDocument")):
            problems.append("no restrictive policy")
        checks.append(Check(f"endpoint {service}", not problems, "; ".join(problems) or f"{e['VpcEndpointId']}, private DNS, policy"))
    return checks


def _restrictive(document: str | None) -> bool:
    """A policy other than AWS's default full-access one."""
    if not document:
        return False
    statements = json.loads(document).get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    return not any(s.get("Effect") == "Allow" and s.get("Principal") in ("*", {"AWS": "*"}) and s.get("Action") == "*"
                   and s.get("Resource") == "*" and not s.get("Condition") for s in statements)


def check_transit_gateway(ec2, vpc_id: str) -> list[Check]:
    attachments = [a for a in ec2.describe_transit_gateway_vpc_attachments(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["TransitGatewayVpcAttachments"]
                   if a.get("State") not in ("deleted", "deleting")]
    if not attachments:
        return [Check("transit gateway attachment", False, "the hub VPC is not attached to a transit gateway")]
    att = attachments[0]
    tables = ec2.describe_transit_gateway_route_tables(
        Filters=[{"Name": "transit-gateway-id", "Values": [att["TransitGatewayId"]]}])["TransitGatewayRouteTables"]
    own = [t for t in tables if not t.get("DefaultAssociationRouteTable")]
    associated = ""
    for t in own:
        found = ec2.get_transit_gateway_route_table_associations(TransitGatewayRouteTableId=t["TransitGatewayRouteTableId"])["Associations"]
        if any(a["TransitGatewayAttachmentId"] == att["TransitGatewayAttachmentId"] for a in found):
            associated = t["TransitGatewayRouteTableId"]
    return [
        Check("transit gateway attachment", True, f"{att['TransitGatewayAttachmentId']} on {att['TransitGatewayId']}"),
        Check("transit gateway route table", bool(own), ", ".join(t["TransitGatewayRouteTableId"] for t in own) or "only the default table"),
        Check("hub attachment associated", bool(associated), associated or "not associated with the factory's route table"),
    ]


def check_buckets(s3, factory: Factory) -> list[Check]:
    checks = []
    for bucket in (b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(f"{factory.name}-")):
        problems = []
        try:
            rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
            if not any(r["ApplyServerSideEncryptionByDefault"].get("SSEAlgorithm", "").startswith("aws:kms") for r in rules):
                problems.append("not SSE-KMS")
        except botocore.exceptions.ClientError:
            problems.append("no encryption configuration")
        try:
            block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
            if not all(block.values()):
                problems.append("public access not fully blocked")
        except botocore.exceptions.ClientError:
            problems.append("no public access block")
        try:
            if "aws:SecureTransport" not in s3.get_bucket_policy(Bucket=bucket)["Policy"]:
                problems.append("policy does not require TLS")
        except botocore.exceptions.ClientError:
            problems.append("no bucket policy")
        checks.append(Check(f"bucket {bucket}", not problems, "; ".join(problems) or "SSE-KMS, private, TLS-only"))
    return checks


def check_keys(kms, factory: Factory) -> list[Check]:
    """The factory's keys, found by alias. KMS keys must rotate. With `sovereignty.keys:
    external-key-store` they must live in the external key store and be usable; KMS cannot rotate
    those (the customer's external key manager does), so they get no rotation check. KMS cannot rotate
    an asymmetric signing key (the acceptance certificate's) either: it must be enabled, and is exempt."""
    external = factory.sovereignty.keys == "external-key-store"
    checks = []
    for alias in kms.list_aliases()["Aliases"]:
        if not (alias["AliasName"].startswith(f"alias/{factory.name}-") and alias.get("TargetKeyId")):
            continue
        name = f"key {alias['AliasName']}"
        key = kms.describe_key(KeyId=alias["TargetKeyId"])["KeyMetadata"]
        in_xks = key.get("Origin") == "EXTERNAL_KEY_STORE"
        if in_xks != external:
            where = "in an external key store" if in_xks else f"origin {key.get('Origin')}"
            checks.append(Check(name, False, f"{where}, but sovereignty.keys is {factory.sovereignty.keys}"))
        elif in_xks:
            state, store = key.get("KeyState"), key.get("CustomKeyStoreId")
            checks.append(Check(name, state == "Enabled", f"external key store{f' {store}' if store else ''}, "
                                f"{state}; rotated by the external key manager, not KMS"))
        elif key.get("KeyUsage") == "SIGN_VERIFY":
            state = key.get("KeyState")
            checks.append(Check(name, state == "Enabled", f"signing key {key.get('KeySpec')}, {state}; KMS cannot "
                                "rotate an asymmetric key (SOV-04 exempts it)"))
        else:
            rotating = kms.get_key_rotation_status(KeyId=alias["TargetKeyId"])["KeyRotationEnabled"]
            checks.append(Check(name, rotating, "rotation on" if rotating else "rotation off"))
    return checks


def check_open_egress(ec2, vpc_id: str) -> list[Check]:
    """No security group of the hub sends to the whole internet (EC2 gives a new group an allow-all
    egress rule; pulumi-aws removes it unless the program declares it)."""
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    open_groups = [g["GroupId"] for g in groups for rule in g.get("IpPermissionsEgress", [])
                   if any(r.get("CidrIp") == "0.0.0.0/0" for r in rule.get("IpRanges", []))
                   or any(r.get("CidrIpv6") == "::/0" for r in rule.get("Ipv6Ranges", []))]
    return [Check("hub security groups have no open egress", not open_groups,
                  ", ".join(sorted(set(open_groups))) or f"{len(groups)} groups checked")]


def check_trail(cloudtrail, factory: Factory) -> list[Check]:
    """A CloudTrail trail that logs in the home region: the factory's own, or with `audit_trail:
    organization` any trail the account sees (an organization trail shows in every member account)."""
    own = f"{factory.name}-trail"
    trails = cloudtrail.describe_trails(includeShadowTrails=True)["trailList"]
    if factory.sovereignty.audit_trail == "own":
        trails = [t for t in trails if t.get("Name") == own]
    logging = [t["Name"] for t in trails if cloudtrail.get_trail_status(Name=t["TrailARN"]).get("IsLogging")]
    wanted = own if factory.sovereignty.audit_trail == "own" else "an organization trail"
    return [Check("audit trail", bool(logging), ", ".join(logging) or f"no logging trail ({wanted})")]


def verify(factory: Factory, clients: Clients) -> list[Check]:
    """Every check of the factory's AWS side; the hub's checks need the hub VPC to be found."""
    ec2 = clients("ec2")
    vpc = find_hub_vpc(ec2, factory)
    if vpc is None:
        return [Check("hub VPC", False, f"no VPC tagged aifactory:factory={factory.name} or Name={factory.name}-hub")]
    checks = [Check("hub VPC", True, vpc["VpcId"])]
    checks += check_no_internet(ec2, vpc["VpcId"])
    checks += check_open_egress(ec2, vpc["VpcId"])
    checks += check_endpoints(ec2, vpc["VpcId"], factory.sovereignty.region)
    checks += check_transit_gateway(ec2, vpc["VpcId"])
    checks += check_buckets(clients("s3"), factory)  # a factory without SageMaker or Bedrock logs has none
    keys = check_keys(clients("kms"), factory)
    checks += keys or [Check("factory keys", False, f"no key alias alias/{factory.name}-*")]
    checks += check_trail(clients("cloudtrail"), factory)
    return checks
