"""Create planned resources in moto through boto3, so AWS itself checks the program's inputs.

Each handler takes the resource's inputs as the Pulumi engine sends them (camelCase) and returns the
outputs the resource gets (ids and ARNs from moto). An AWS error is raised as `AwsRejected` with
AWS's own message. Types without a handler here are not created in moto ("mock only").
One boto3 call per resource (two where AWS needs a follow-up call): the cost stays linear.
It imports no Pulumi, so the moto worker process (`worker.py`) starts without it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import secrets
import threading
from collections.abc import Callable
from unittest import mock

import boto3
import botocore.exceptions
from botocore.config import Config

# Offline credentials: never the user's own (an explicit key beats every other source in boto3).
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "aws_session_token": "testing"}
ACCOUNT_ID = "123456789012"  # moto's default account (a moto worker's; a moto_server plan gets one of its own)
# Pulumi's wire value for an output not known until the resource exists (pulumi.runtime.rpc.UNKNOWN,
# spelled out so that this module needs no Pulumi; a test holds the two equal).
KNOWN_AFTER_APPLY = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
# AWS managed policies (AmazonSSMManagedInstanceCore, ...) exist in AWS, so they must in moto too.
# A moto_server needs the same: MOTO_IAM_LOAD_MANAGED_POLICIES=true in its environment.
MOTO_CONFIG = {"iam": {"load_aws_managed_policies": True}}
MANAGED_POLICY_PROBE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
# botocore's failures to reach the endpoint or to get a whole answer from it (not AWS's refusals)
UNREACHABLE = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)


class AwsRejected(Exception):
    """AWS (here: moto) refused to create a resource; the message is AWS's."""


class StandInFailed(Exception):
    """AWS's stand-in (the moto worker or a moto_server) failed, could not be reached or is not set up
    as a plan needs: the plan has no verdict."""


def client_factory(endpoint_url: str | None, account_id: str = ACCOUNT_ID) -> Callable[[str, str], object]:
    """`clients(service, region)`: cached boto3 clients with fake credentials, against moto's endpoint
    or in-process moto. Every request names the moto account (`x-moto-account-id`, which moto reads
    before the access key; moto/core/responses.py), so moto need not look the access key up (which
    builds an IAM backend, with all AWS managed policies, for every partition), and plans against one
    moto_server each keep to an account of their own."""
    session = boto3.session.Session(**FAKE_CREDENTIALS)
    use_moto_account(session, account_id)
    cache: dict[tuple[str, str], object] = {}
    config = Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"},
                    connect_timeout=10 if endpoint_url else 60)

    def clients(service: str, region: str):
        key = (service, region)
        if key not in cache:
            cache[key] = session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)
        return cache[key]

    return clients


def use_moto_account(session: boto3.session.Session, account_id: str) -> None:
    """Send every request of `session` to moto's account `account_id`.

    S3 bucket names are global across accounts, in AWS and in moto, so outside moto's default account
    (a plan of its own in a moto_server that earlier plans used) each bucket name moto sees gets the
    account's suffix (`bucket_in_account`): in S3's own parameters, in bucket policies' S3 ARNs and in
    CloudTrail's bucket name. The plan's inputs and outputs keep the program's names."""
    session.events.register("before-sign", functools.partial(name_moto_account, account_id))
    if account_id != ACCOUNT_ID:
        for service in ("s3", "cloudtrail"):
            session.events.register(f"provide-client-params.{service}", functools.partial(_buckets_in_account, account_id))


def name_moto_account(account_id: str, request, **_):
    request.headers["x-moto-account-id"] = account_id


def bucket_in_account(name: str, account_id: str) -> str:
    """The name moto gets for the program's bucket `name` in account `account_id` (63 characters at most);
    a name moto gave out (listed buckets) stays as it is."""
    suffix = f"-{account_id[-6:]}"
    return name if name.endswith(suffix) else f"{name[:56]}{suffix}"


_S3_ARN = re.compile(r"(arn:aws:s3:::)([a-z0-9][a-z0-9.-]*[a-z0-9])")


def _buckets_in_account(account_id: str, params: dict, **_) -> None:
    for key in ("Bucket", "S3BucketName"):
        if isinstance(params.get(key), str):
            params[key] = bucket_in_account(params[key], account_id)
    logging = (params.get("BucketLoggingStatus") or {}).get("LoggingEnabled") or {}
    if isinstance(logging.get("TargetBucket"), str):
        logging["TargetBucket"] = bucket_in_account(logging["TargetBucket"], account_id)
    if isinstance(params.get("Policy"), str):
        params["Policy"] = _S3_ARN.sub(lambda m: m.group(1) + bucket_in_account(m.group(2), account_id), params["Policy"])


def new_account_id() -> str:
    """A 12-digit account id no earlier plan used (moto keeps each account's resources apart)."""
    return f"{secrets.randbelow(10**11) + 10**11:012d}"


@contextlib.contextmanager
def in_process_moto():
    """moto in this process, starting from an empty account.

    Its data is dropped by the next start (moto's reset), not at the end: moto's end-of-mock reset
    rebuilds every backend used only to throw it away (about a second for EC2 and IAM). EC2's
    catalogue of public AMIs is not loaded: a plan creates no instances.
    """
    from moto import mock_aws

    with mock.patch.dict(os.environ, {"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}):
        moto = mock_aws(config=MOTO_CONFIG)
        moto.start(reset=True)
        try:
            yield
        finally:
            moto.stop(remove_data=False)


def physical_name(inputs: dict, logical: str, key: str = "name") -> str:
    """The name AWS gets: the program's explicit name, else Pulumi-style autonaming (stable suffix)."""
    if inputs.get(key):
        return inputs[key]
    if inputs.get(f"{key}Prefix"):
        return inputs[f"{key}Prefix"] + hashlib.sha1(logical.encode()).hexdigest()[:7]
    return f"{logical}-{hashlib.sha1(logical.encode()).hexdigest()[:7]}"


def _tags(inputs: dict, resource_type: str) -> list[dict]:
    tags = inputs.get("tags") or {}
    return [{"ResourceType": resource_type, "Tags": [{"Key": k, "Value": str(v)} for k, v in tags.items()]}] if tags else []


def _doc(value) -> str:
    """A policy document as AWS wants it: a JSON string."""
    return value if isinstance(value, str) else json.dumps(value)


def _strip_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None and v != [] and v != {}}


class Backend:
    """The moto side of a plan: one method per creatable resource type."""

    def __init__(self, clients: Callable[[str, str], object], region: str, account_id: str = ACCOUNT_ID):
        self.clients = clients
        self.region = region
        self.account_id = account_id
        self._lock = threading.Lock()  # one create at a time: moto's backends are not thread-safe

    def can_create(self, resource_type: str) -> bool:
        return resource_type in HANDLERS

    def create(self, resource_type: str, logical: str, inputs: dict) -> tuple[str, dict]:
        region = inputs.get("region") or self.region
        try:
            with self._lock:
                return HANDLERS[resource_type](self, logical, inputs, region)
        except botocore.exceptions.ClientError as err:
            error = err.response.get("Error", {})
            raise AwsRejected(f"{error.get('Code', 'Error')}: {error.get('Message', err)}") from None
        except botocore.exceptions.ParamValidationError as err:
            raise AwsRejected(f"invalid parameters: {err}") from None
        except NotImplementedError as err:
            raise AwsRejected(f"moto does not implement this call ({err})") from None
        except UNREACHABLE as err:
            raise StandInFailed(f"no answer from moto: {err}") from None

    def ec2(self, region):
        return self.clients("ec2", region)

    def caller_identity(self) -> dict:
        """What sts:GetCallerIdentity answers (the aws.getCallerIdentity invoke)."""
        try:
            ident = self.clients("sts", self.region).get_caller_identity()
        except UNREACHABLE as err:
            raise StandInFailed(f"no answer from moto: {err}") from None
        return {"Account": ident["Account"], "Arn": ident["Arn"], "UserId": ident["UserId"]}

    def availability_zones(self) -> list[dict]:
        """The region's zones as ec2:DescribeAvailabilityZones lists them (the aws.getAvailabilityZones invoke)."""
        try:
            return self.clients("ec2", self.region).describe_availability_zones()["AvailabilityZones"]
        except UNREACHABLE as err:
            raise StandInFailed(f"no answer from moto: {err}") from None

    def check_server(self, endpoint: str) -> None:
        """Before a plan against the moto_server at `endpoint`: that it answers, and that it has AWS's
        managed policies (the program attaches them, as in AWS); StandInFailed says what to do."""
        try:
            self.clients("iam", self.region).get_policy(PolicyArn=MANAGED_POLICY_PROBE)
        except UNREACHABLE as err:
            raise StandInFailed(f"cannot reach the moto_server at {endpoint}: {err}") from None
        except botocore.exceptions.ClientError as err:
            if err.response.get("Error", {}).get("Code") != "NoSuchEntity":
                raise StandInFailed(f"{endpoint} does not answer as a moto_server: {err}") from None
            raise StandInFailed(
                f"the moto_server at {endpoint} has no AWS managed policies ({MANAGED_POLICY_PROBE.rsplit('/', 1)[-1]} "
                "and the others the program attaches): start it with MOTO_IAM_LOAD_MANAGED_POLICIES=true in its "
                "environment") from None

    def warm_up(self, service: str) -> None:
        """One read-only call into `service`: moto builds its model of a service on first use."""
        operation, params = WARM_UP[service]
        getattr(self.clients(service, self.region), operation)(**params)

    def arn(self, service: str, region: str, resource: str) -> str:
        return f"arn:aws:{service}:{region}:{self.account_id}:{resource}"


HANDLERS: dict[str, Callable[[Backend, str, dict, str], tuple[str, dict]]] = {}

# Inputs moto accepts but does not hold, by type (a pattern of input names): a plan lists them on the
# resource as not in moto; the handler checks them against what AWS accepts instead.
NOT_HELD: dict[str, re.Pattern] = {
    "aws:ec2/vpnConnection:VpnConnection": re.compile(
        r"tunnel[12](IkeVersions|Phase[12](Encryption|Integrity)Algorithms|Phase[12]DhGroupNumbers|"
        r"Phase[12]LifetimeSeconds|RekeyFuzzPercentage|RekeyMarginTimeSeconds|ReplayWindowSize|DpdTimeoutSeconds|"
        r"DpdTimeoutAction|StartupAction|InsideCidr|InsideIpv6Cidr|PresharedKey|LogOptions|EnableTunnelLifecycleControl)"),
    "aws:amp/workspace:Workspace": re.compile(r"kmsKeyArn"),
}

# One cheap read per service the handlers and invokes call, in the order infra/ first needs them.
WARM_UP: dict[str, tuple[str, dict]] = {
    "kms": ("list_keys", {}),
    "logs": ("describe_log_groups", {}),
    "ec2": ("describe_vpcs", {}),
    "sts": ("get_caller_identity", {}),
    "iam": ("list_roles", {}),
    "s3": ("list_buckets", {}),
    "secretsmanager": ("list_secrets", {}),
    "route53resolver": ("list_resolver_endpoints", {}),
    "bedrock": ("list_custom_models", {}),
    "sagemaker": ("list_domains", {}),
    "cloudtrail": ("describe_trails", {}),
    "amp": ("list_workspaces", {}),
}


def handles(*types: str):
    def register(fn):
        for t in types:
            HANDLERS[t] = fn
        return fn

    return register


# --- VPC and its parts --------------------------------------------------------------------------
@handles("aws:ec2/vpc:Vpc")
def _vpc(b: Backend, logical, inputs, region):
    ec2 = b.ec2(region)
    vpc = ec2.create_vpc(CidrBlock=inputs["cidrBlock"], TagSpecifications=_tags(inputs, "vpc"))["Vpc"]
    vpc_id = vpc["VpcId"]
    for attr in ("enableDnsSupport", "enableDnsHostnames"):
        if attr in inputs:
            key = attr[0].upper() + attr[1:]
            ec2.modify_vpc_attribute(VpcId=vpc_id, **{key: {"Value": bool(inputs[attr])}})
    # The default network ACL's id, so that the program's DefaultNetworkAcl is applied in moto (a scan
    # of the region's network ACLs only: a VPC has few).
    acls = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                              {"Name": "default", "Values": ["true"]}])["NetworkAcls"]
    return vpc_id, {
        "arn": b.arn("ec2", region, f"vpc/{vpc_id}"),
        "ownerId": vpc.get("OwnerId", b.account_id),
        "defaultNetworkAclId": acls[0]["NetworkAclId"] if acls else KNOWN_AFTER_APPLY,
        # Known after apply, as in `pulumi preview`: looking them up costs moto a scan of every
        # group and route table in the region per VPC, which made plan time quadratic in VPCs.
        **{key: KNOWN_AFTER_APPLY for key in ("defaultSecurityGroupId", "mainRouteTableId", "defaultRouteTableId")},
        "dhcpOptionsId": vpc.get("DhcpOptionsId", ""),
    }


@handles("aws:ec2/subnet:Subnet")
def _subnet(b: Backend, logical, inputs, region):
    params = _strip_none({
        "VpcId": inputs["vpcId"], "CidrBlock": inputs.get("cidrBlock"),
        "AvailabilityZone": inputs.get("availabilityZone"), "AvailabilityZoneId": inputs.get("availabilityZoneId"),
        "TagSpecifications": _tags(inputs, "subnet"),
    })
    subnet = b.ec2(region).create_subnet(**params)["Subnet"]
    if inputs.get("mapPublicIpOnLaunch"):
        b.ec2(region).modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})
    return subnet["SubnetId"], {
        "arn": subnet.get("SubnetArn", b.arn("ec2", region, f"subnet/{subnet['SubnetId']}")),
        "availabilityZone": subnet["AvailabilityZone"], "availabilityZoneId": subnet.get("AvailabilityZoneId", ""),
    }


@handles("aws:ec2/routeTable:RouteTable")
def _route_table(b: Backend, logical, inputs, region):
    ec2 = b.ec2(region)
    rt = ec2.create_route_table(VpcId=inputs["vpcId"], TagSpecifications=_tags(inputs, "route-table"))["RouteTable"]
    for route in inputs.get("routes") or []:
        _create_route(ec2, rt["RouteTableId"], route)
    return rt["RouteTableId"], {"arn": b.arn("ec2", region, f"route-table/{rt['RouteTableId']}")}


_ROUTE_TARGETS = {
    "gatewayId": "GatewayId", "natGatewayId": "NatGatewayId", "transitGatewayId": "TransitGatewayId",
    "vpcEndpointId": "VpcEndpointId", "networkInterfaceId": "NetworkInterfaceId",
    "egressOnlyGatewayId": "EgressOnlyInternetGatewayId", "vpcPeeringConnectionId": "VpcPeeringConnectionId",
}


def _create_route(ec2, route_table_id: str, route: dict) -> None:
    params = {"RouteTableId": route_table_id}
    if route.get("destinationCidrBlock") or route.get("cidrBlock"):
        params["DestinationCidrBlock"] = route.get("destinationCidrBlock") or route.get("cidrBlock")
    if route.get("destinationPrefixListId"):
        params["DestinationPrefixListId"] = route["destinationPrefixListId"]
    for key, param in _ROUTE_TARGETS.items():
        if route.get(key):
            params[param] = route[key]
    ec2.create_route(**params)


@handles("aws:ec2/route:Route")
def _route(b: Backend, logical, inputs, region):
    _create_route(b.ec2(region), inputs["routeTableId"], inputs)
    dest = inputs.get("destinationCidrBlock") or inputs.get("destinationPrefixListId")
    return f"r-{inputs['routeTableId']}{hashlib.sha1(str(dest).encode()).hexdigest()[:8]}", {"state": "active"}


@handles("aws:ec2/routeTableAssociation:RouteTableAssociation")
def _route_table_association(b: Backend, logical, inputs, region):
    params = _strip_none({"RouteTableId": inputs["routeTableId"], "SubnetId": inputs.get("subnetId"), "GatewayId": inputs.get("gatewayId")})
    return b.ec2(region).associate_route_table(**params)["AssociationId"], {}


ALL_EGRESS = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def _permissions(rule: dict) -> dict:
    """One security-group rule (inline or standalone) as an EC2 IpPermission."""
    perm = {"IpProtocol": str(rule.get("protocol") or rule.get("ipProtocol") or "-1")}
    if perm["IpProtocol"] not in ("-1", "all"):
        perm["FromPort"] = int(rule.get("fromPort", 0))
        perm["ToPort"] = int(rule.get("toPort", 0))
    else:
        perm["IpProtocol"] = "-1"
    cidrs = rule.get("cidrBlocks") or ([rule["cidrIpv4"]] if rule.get("cidrIpv4") else [])
    if cidrs:
        perm["IpRanges"] = [{"CidrIp": c} for c in cidrs]
    groups = rule.get("securityGroups") or ([rule["referencedSecurityGroupId"]] if rule.get("referencedSecurityGroupId") else [])
    if groups:
        perm["UserIdGroupPairs"] = [{"GroupId": g} for g in groups]
    if rule.get("prefixListId") or rule.get("prefixListIds"):
        perm["PrefixListIds"] = [{"PrefixListId": p} for p in (rule.get("prefixListIds") or [rule["prefixListId"]])]
    return perm


@handles("aws:ec2/securityGroup:SecurityGroup")
def _security_group(b: Backend, logical, inputs, region):
    ec2 = b.ec2(region)
    params = _strip_none({
        "GroupName": physical_name(inputs, logical), "VpcId": inputs.get("vpcId"),
        "Description": inputs.get("description") or "Managed by Pulumi",
        "TagSpecifications": _tags(inputs, "security-group"),
    })
    group_id = ec2.create_security_group(**params)["GroupId"]
    # pulumi-aws (as Terraform) removes the allow-all egress rule EC2 adds to a new VPC group: a group
    # declared without egress has none (pulumi-aws docs, aws.ec2.SecurityGroup "egress"). moto keeps it.
    if inputs.get("vpcId"):
        ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=[ALL_EGRESS])
    if inputs.get("ingress"):
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[_permissions(r) for r in inputs["ingress"]])
    if inputs.get("egress"):
        ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=[_permissions(r) for r in inputs["egress"]])
    return group_id, {"arn": b.arn("ec2", region, f"security-group/{group_id}"), "name": params["GroupName"], "ownerId": b.account_id}


def _security_group_rule(direction: str):
    def create(b: Backend, logical, inputs, region):
        ec2 = b.ec2(region)
        call = ec2.authorize_security_group_ingress if direction == "ingress" else ec2.authorize_security_group_egress
        result = call(GroupId=inputs["securityGroupId"], IpPermissions=[_permissions(inputs)])
        rules = result.get("SecurityGroupRules") or [{}]
        rule_id = rules[0].get("SecurityGroupRuleId") or f"sgr-{hashlib.sha1(logical.encode()).hexdigest()[:17]}"
        return rule_id, {"arn": b.arn("ec2", region, f"security-group-rule/{rule_id}"), "securityGroupRuleId": rule_id}

    return create


handles("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")(_security_group_rule("ingress"))
handles("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")(_security_group_rule("egress"))


@handles("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
def _default_security_group(b: Backend, logical, inputs, region):
    """Adopt the VPC's default group and leave it with exactly the rules the program lists."""
    ec2 = b.ec2(region)
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [inputs["vpcId"]]}, {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    if not groups:
        raise AwsRejected(f"VPC {inputs['vpcId']} has no default security group")
    group = groups[0]
    if group.get("IpPermissions"):
        ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
    if group.get("IpPermissionsEgress"):
        ec2.revoke_security_group_egress(GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"])
    if inputs.get("ingress"):
        ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[_permissions(r) for r in inputs["ingress"]])
    if inputs.get("egress"):
        ec2.authorize_security_group_egress(GroupId=group["GroupId"], IpPermissions=[_permissions(r) for r in inputs["egress"]])
    return group["GroupId"], {"arn": b.arn("ec2", region, f"security-group/{group['GroupId']}"), "name": "default"}


# pulumi-aws (as Terraform) takes a network ACL rule's protocol by name or number; EC2 by number.
PROTOCOL_NUMBERS = {"all": "-1", "-1": "-1", "icmp": "1", "tcp": "6", "udp": "17", "icmpv6": "58"}


def _acl_entry(acl_id: str, rule: dict, egress: bool) -> dict:
    """One rule of a DefaultNetworkAcl's ingress or egress as EC2's CreateNetworkAclEntry takes it."""
    protocol = str(rule["protocol"]).lower()
    protocol = PROTOCOL_NUMBERS.get(protocol, protocol)
    entry = _strip_none({"NetworkAclId": acl_id, "RuleNumber": int(rule["ruleNo"]), "Protocol": protocol,
                         "RuleAction": rule["action"], "Egress": egress, "CidrBlock": rule.get("cidrBlock"),
                         "Ipv6CidrBlock": rule.get("ipv6CidrBlock")})
    if protocol in ("6", "17"):
        entry["PortRange"] = {"From": int(rule.get("fromPort", 0)), "To": int(rule.get("toPort", 0))}
    if protocol in ("1", "58"):
        entry["IcmpTypeCode"] = {"Type": int(rule.get("icmpType", -1)), "Code": int(rule.get("icmpCode", -1))}
    return entry


@handles("aws:ec2/defaultNetworkAcl:DefaultNetworkAcl")
def _default_network_acl(b: Backend, logical, inputs, region):
    """Adopt the VPC's default network ACL and leave it with exactly the rules the program lists (EC2's
    last rule, 32767 deny all, stays: no API call removes it)."""
    ec2, acl_id = b.ec2(region), inputs["defaultNetworkAclId"]
    acl = ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0]
    if not acl.get("IsDefault"):
        raise AwsRejected(f"{acl_id} is not a VPC's default network ACL")
    for entry in acl.get("Entries", []):
        if entry["RuleNumber"] != 32767:
            ec2.delete_network_acl_entry(NetworkAclId=acl_id, RuleNumber=entry["RuleNumber"], Egress=entry["Egress"])
    for direction, egress in (("ingress", False), ("egress", True)):
        for rule in inputs.get(direction) or []:
            ec2.create_network_acl_entry(**_acl_entry(acl_id, rule, egress))
    associated = {a["SubnetId"] for a in acl.get("Associations", [])}
    for subnet in inputs.get("subnetIds") or []:
        if subnet not in associated:
            current = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"]
            if not current:
                raise AwsRejected(f"InvalidSubnetID.NotFound: the subnet '{subnet}' does not exist")
            association = next(a["NetworkAclAssociationId"] for a in current[0]["Associations"] if a["SubnetId"] == subnet)
            ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=acl_id)
    return acl_id, {"arn": b.arn("ec2", region, f"network-acl/{acl_id}"), "vpcId": acl["VpcId"], "ownerId": b.account_id}


@handles("aws:ec2/internetGateway:InternetGateway")
def _internet_gateway(b: Backend, logical, inputs, region):
    ec2 = b.ec2(region)
    igw = ec2.create_internet_gateway(TagSpecifications=_tags(inputs, "internet-gateway"))["InternetGateway"]
    if inputs.get("vpcId"):
        ec2.attach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=inputs["vpcId"])
    return igw["InternetGatewayId"], {"arn": b.arn("ec2", region, f"internet-gateway/{igw['InternetGatewayId']}")}


@handles("aws:ec2/natGateway:NatGateway")
def _nat_gateway(b: Backend, logical, inputs, region):
    params = _strip_none({"SubnetId": inputs["subnetId"], "AllocationId": inputs.get("allocationId"),
                          "ConnectivityType": inputs.get("connectivityType")})
    nat = b.ec2(region).create_nat_gateway(**params)["NatGateway"]
    return nat["NatGatewayId"], {}


@handles("aws:ec2/flowLog:FlowLog")
def _flow_log(b: Backend, logical, inputs, region):
    kinds = {"vpcId": "VPC", "subnetId": "Subnet", "eniId": "NetworkInterface",
             "transitGatewayId": "TransitGateway", "transitGatewayAttachmentId": "TransitGatewayAttachment"}
    key = next((k for k in kinds if inputs.get(k)), None)
    if key is None:
        raise AwsRejected("a flow log needs one of vpcId, subnetId, eniId, transitGatewayId, transitGatewayAttachmentId")
    params = _strip_none({
        "ResourceIds": [inputs[key]], "ResourceType": kinds[key], "TrafficType": inputs.get("trafficType"),
        "LogDestinationType": inputs.get("logDestinationType"), "LogDestination": inputs.get("logDestination"),
        "DeliverLogsPermissionArn": inputs.get("iamRoleArn"), "LogFormat": inputs.get("logFormat"),
        "MaxAggregationInterval": inputs.get("maxAggregationInterval"), "TagSpecifications": _tags(inputs, "vpc-flow-log"),
    })
    if params.get("LogDestinationType", "cloud-watch-logs") == "cloud-watch-logs" and params.get("LogDestination"):
        # AWS accepts a flow log to a missing group and then fails every delivery: a plan calls a missing
        # group what it is, an error. moto looks the group up by LogGroupName only (given the ARN, it
        # reports the delivery FAILED): it gets the name the ARN resolves to, as AWS resolves it.
        _require_log_group(b, params["LogDestination"], region, "the flow log's destination")
        params["LogGroupName"] = log_group_name(params.pop("LogDestination"))
    result = b.ec2(region).create_flow_logs(**params)
    if result.get("Unsuccessful"):
        raise AwsRejected(result["Unsuccessful"][0]["Error"]["Message"])
    flow_id = result["FlowLogIds"][0]
    return flow_id, {"arn": b.arn("ec2", region, f"vpc-flow-log/{flow_id}")}


def log_group_name(arn: str) -> str:
    """`arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]` -> NAME."""
    name = arn.split(":log-group:", 1)[-1]
    return name[:-2] if name.endswith(":*") else name


def _require_log_group(b: Backend, arn: str, region: str, what: str) -> None:
    name = log_group_name(arn)
    groups = b.clients("logs", region).describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    if not any(g["logGroupName"] == name for g in groups):
        raise AwsRejected(f"ResourceNotFoundException: {what}, log group {name}, does not exist")


@handles("aws:cloudwatch/logGroup:LogGroup")
def _log_group(b: Backend, logical, inputs, region):
    logs = b.clients("logs", region)
    name = physical_name(inputs, logical)
    logs.create_log_group(**_strip_none({"logGroupName": name, "kmsKeyId": inputs.get("kmsKeyId"), "tags": inputs.get("tags")}))
    if inputs.get("retentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(inputs["retentionInDays"]))
    return name, {"arn": b.arn("logs", region, f"log-group:{name}"), "name": name}


@handles("aws:route53/resolverEndpoint:ResolverEndpoint")
def _resolver_endpoint(b: Backend, logical, inputs, region):
    params = _strip_none({
        "CreatorRequestId": logical, "Name": inputs.get("name"), "Direction": inputs["direction"],
        "SecurityGroupIds": inputs["securityGroupIds"],
        "IpAddresses": [_strip_none({"SubnetId": a["subnetId"], "Ip": a.get("ip")}) for a in inputs["ipAddresses"]],
    })
    ep = b.clients("route53resolver", region).create_resolver_endpoint(**params)["ResolverEndpoint"]
    return ep["Id"], {"arn": ep["Arn"], "hostVpcId": ep.get("HostVPCId", "")}


# --- hybrid link ---------------------------------------------------------------------------------
@handles("aws:ec2/customerGateway:CustomerGateway")
def _customer_gateway(b: Backend, logical, inputs, region):
    params = _strip_none({"Type": inputs.get("type", "ipsec.1"), "BgpAsn": int(inputs["bgpAsn"]) if inputs.get("bgpAsn") else None,
                          "PublicIp": inputs.get("ipAddress"), "DeviceName": inputs.get("deviceName"),
                          "TagSpecifications": _tags(inputs, "customer-gateway")})
    cgw = b.ec2(region).create_customer_gateway(**params)["CustomerGateway"]
    return cgw["CustomerGatewayId"], {"arn": b.arn("ec2", region, f"customer-gateway/{cgw['CustomerGatewayId']}")}


# What EC2 accepts in a tunnel's options (EC2 API reference, VpnTunnelOptionsSpecification).
# moto accepts and drops every tunnel option (`NOT_HELD`), so the handler checks them itself.
TUNNEL_OPTION_VALUES = {
    "IkeVersions": {"ikev1", "ikev2"},
    "Phase1EncryptionAlgorithms": {"AES128", "AES256", "AES128-GCM-16", "AES256-GCM-16"},
    "Phase2EncryptionAlgorithms": {"AES128", "AES256", "AES128-GCM-16", "AES256-GCM-16"},
    "Phase1IntegrityAlgorithms": {"SHA1", "SHA2-256", "SHA2-384", "SHA2-512"},
    "Phase2IntegrityAlgorithms": {"SHA1", "SHA2-256", "SHA2-384", "SHA2-512"},
    "Phase1DhGroupNumbers": {2, *range(14, 25)},
    "Phase2DhGroupNumbers": {2, 5, *range(14, 25)},
}


def tunnel_options(b: Backend, inputs: dict, tunnel: str, region: str) -> dict:
    """One tunnel's options as EC2 takes them; a value EC2 refuses raises AwsRejected, as does a log
    group (tunnel or BGP logs) that does not exist."""
    options: dict = {}
    for option, allowed in TUNNEL_OPTION_VALUES.items():
        values = inputs.get(f"{tunnel}{option}")
        if not values:
            continue
        bad = [v for v in values if (int(v) if "Dh" in option else v) not in allowed]
        if bad:
            raise AwsRejected(f"InvalidParameterValue: {tunnel} {option} {bad} (allowed: {sorted(allowed, key=str)})")
        key = option.replace("Dh", "DH").replace("Ike", "IKE")
        options[key] = [{"Value": int(v) if "Dh" in option else v} for v in values]
    logs = (inputs.get(f"{tunnel}LogOptions") or {}).get("cloudwatchLogOptions") or {}
    for enabled, group in (("logEnabled", "logGroupArn"), ("bgpLogEnabled", "bgpLogGroupArn")):
        if logs.get(enabled) and logs.get(group):
            _require_log_group(b, logs[group], region, f"{tunnel}'s {group}")
    return options


@handles("aws:ec2/vpnConnection:VpnConnection")
def _vpn_connection(b: Backend, logical, inputs, region):
    ec2 = b.ec2(region)
    tunnels = [tunnel_options(b, inputs, tunnel, region) for tunnel in ("tunnel1", "tunnel2")]
    params = _strip_none({
        "Type": inputs.get("type", "ipsec.1"), "CustomerGatewayId": inputs["customerGatewayId"],
        "TransitGatewayId": inputs.get("transitGatewayId"), "VpnGatewayId": inputs.get("vpnGatewayId"),
        "Options": _strip_none({"StaticRoutesOnly": inputs.get("staticRoutesOnly"),
                                "TunnelOptions": tunnels if any(tunnels) else None}),
        "TagSpecifications": _tags(inputs, "vpn-connection"),
    })
    vpn = ec2.create_vpn_connection(**params)["VpnConnection"]
    vpn_id = vpn["VpnConnectionId"]
    outputs = {"arn": b.arn("ec2", region, f"vpn-connection/{vpn_id}")}
    if inputs.get("transitGatewayId"):
        attachments = ec2.describe_transit_gateway_attachments(
            Filters=[{"Name": "resource-id", "Values": [vpn_id]}])["TransitGatewayAttachments"]
        outputs["transitGatewayAttachmentId"] = attachments[0]["TransitGatewayAttachmentId"] if attachments else ""
    return vpn_id, outputs


@handles("aws:ec2transitgateway/transitGateway:TransitGateway")
def _transit_gateway(b: Backend, logical, inputs, region):
    option_keys = {"amazonSideAsn": "AmazonSideAsn", "autoAcceptSharedAttachments": "AutoAcceptSharedAttachments",
                   "defaultRouteTableAssociation": "DefaultRouteTableAssociation",
                   "defaultRouteTablePropagation": "DefaultRouteTablePropagation", "dnsSupport": "DnsSupport",
                   "vpnEcmpSupport": "VpnEcmpSupport", "multicastSupport": "MulticastSupport"}
    options = {param: (int(inputs[key]) if key == "amazonSideAsn" else inputs[key]) for key, param in option_keys.items() if key in inputs}
    tgw = b.ec2(region).create_transit_gateway(**_strip_none({
        "Description": inputs.get("description"), "Options": options, "TagSpecifications": _tags(inputs, "transit-gateway")}))["TransitGateway"]
    opts = tgw.get("Options", {})
    return tgw["TransitGatewayId"], {
        "arn": tgw.get("TransitGatewayArn", b.arn("ec2", region, f"transit-gateway/{tgw['TransitGatewayId']}")),
        "ownerId": tgw.get("OwnerId", b.account_id),
        "associationDefaultRouteTableId": opts.get("AssociationDefaultRouteTableId", ""),
        "propagationDefaultRouteTableId": opts.get("PropagationDefaultRouteTableId", ""),
    }


@handles("aws:ec2transitgateway/routeTable:RouteTable")
def _tgw_route_table(b: Backend, logical, inputs, region):
    rt = b.ec2(region).create_transit_gateway_route_table(
        **_strip_none({"TransitGatewayId": inputs["transitGatewayId"], "TagSpecifications": _tags(inputs, "transit-gateway-route-table")}))
    rt_id = rt["TransitGatewayRouteTable"]["TransitGatewayRouteTableId"]
    return rt_id, {"arn": b.arn("ec2", region, f"transit-gateway-route-table/{rt_id}")}


@handles("aws:ec2transitgateway/vpcAttachment:VpcAttachment")
def _tgw_vpc_attachment(b: Backend, logical, inputs, region):
    options = _strip_none({"DnsSupport": inputs.get("dnsSupport"), "ApplianceModeSupport": inputs.get("applianceModeSupport")})
    att = b.ec2(region).create_transit_gateway_vpc_attachment(**_strip_none({
        "TransitGatewayId": inputs["transitGatewayId"], "VpcId": inputs["vpcId"], "SubnetIds": inputs["subnetIds"],
        "Options": options, "TagSpecifications": _tags(inputs, "transit-gateway-attachment")}))["TransitGatewayVpcAttachment"]
    return att["TransitGatewayAttachmentId"], {"vpcOwnerId": b.account_id}


@handles("aws:ec2transitgateway/routeTableAssociation:RouteTableAssociation")
def _tgw_association(b: Backend, logical, inputs, region):
    b.ec2(region).associate_transit_gateway_route_table(
        TransitGatewayRouteTableId=inputs["transitGatewayRouteTableId"], TransitGatewayAttachmentId=inputs["transitGatewayAttachmentId"])
    return f"{inputs['transitGatewayRouteTableId']}_{inputs['transitGatewayAttachmentId']}", {}


@handles("aws:ec2transitgateway/routeTablePropagation:RouteTablePropagation")
def _tgw_propagation(b: Backend, logical, inputs, region):
    b.ec2(region).enable_transit_gateway_route_table_propagation(
        TransitGatewayRouteTableId=inputs["transitGatewayRouteTableId"], TransitGatewayAttachmentId=inputs["transitGatewayAttachmentId"])
    return f"{inputs['transitGatewayRouteTableId']}_{inputs['transitGatewayAttachmentId']}", {}


@handles("aws:ec2transitgateway/route:Route")
def _tgw_route(b: Backend, logical, inputs, region):
    b.ec2(region).create_transit_gateway_route(**_strip_none({
        "DestinationCidrBlock": inputs["destinationCidrBlock"], "TransitGatewayRouteTableId": inputs["transitGatewayRouteTableId"],
        "TransitGatewayAttachmentId": inputs.get("transitGatewayAttachmentId"), "Blackhole": inputs.get("blackhole")}))
    return f"{inputs['transitGatewayRouteTableId']}_{inputs['destinationCidrBlock']}", {}


# --- private services ----------------------------------------------------------------------------
@handles("aws:ec2/vpcEndpoint:VpcEndpoint")
def _vpc_endpoint(b: Backend, logical, inputs, region):
    params = _strip_none({
        "VpcId": inputs["vpcId"], "ServiceName": inputs.get("serviceName"),
        "VpcEndpointType": inputs.get("vpcEndpointType") or "Gateway",  # the provider's default
        "SubnetIds": inputs.get("subnetIds"), "SecurityGroupIds": inputs.get("securityGroupIds"),
        "RouteTableIds": inputs.get("routeTableIds"), "PrivateDnsEnabled": inputs.get("privateDnsEnabled"),
        "PolicyDocument": _doc(inputs["policy"]) if inputs.get("policy") else None,
        "TagSpecifications": _tags(inputs, "vpc-endpoint"),
    })
    ep = b.ec2(region).create_vpc_endpoint(**params)["VpcEndpoint"]
    # AWS gives an interface endpoint's network interfaces the endpoint's security groups; moto gives
    # them the VPC's default group, so they get the program's here.
    for eni in ep.get("NetworkInterfaceIds", []) if params.get("SecurityGroupIds") else []:
        b.ec2(region).modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=params["SecurityGroupIds"])
    return ep["VpcEndpointId"], {
        "arn": b.arn("ec2", region, f"vpc-endpoint/{ep['VpcEndpointId']}"), "ownerId": b.account_id, "state": ep.get("State", ""),
        "dnsEntries": [{"dnsName": d.get("DnsName", ""), "hostedZoneId": d.get("HostedZoneId", "")} for d in ep.get("DnsEntries", [])],
        "networkInterfaceIds": ep.get("NetworkInterfaceIds", []),
        "vpcEndpointType": params["VpcEndpointType"],
    }


# --- keys, identity, storage ---------------------------------------------------------------------
@handles("aws:kms/key:Key")
def _kms_key(b: Backend, logical, inputs, region):
    kms = b.clients("kms", region)
    key = kms.create_key(**_strip_none({
        "Description": inputs.get("description"), "KeyUsage": inputs.get("keyUsage"),
        "KeySpec": inputs.get("customerMasterKeySpec"), "Policy": _doc(inputs["policy"]) if inputs.get("policy") else None,
        "MultiRegion": inputs.get("multiRegion"),
        "Tags": [{"TagKey": k, "TagValue": str(v)} for k, v in (inputs.get("tags") or {}).items()],
    }))["KeyMetadata"]
    if inputs.get("enableKeyRotation"):
        kms.enable_key_rotation(KeyId=key["KeyId"])
    return key["KeyId"], {"arn": key["Arn"], "keyId": key["KeyId"]}


@handles("aws:kms/keyPolicy:KeyPolicy")
def _kms_key_policy(b: Backend, logical, inputs, region):
    b.clients("kms", region).put_key_policy(KeyId=inputs["keyId"], PolicyName="default", Policy=_doc(inputs["policy"]))
    return inputs["keyId"], {}


@handles("aws:kms/alias:Alias")
def _kms_alias(b: Backend, logical, inputs, region):
    name = physical_name(inputs, f"alias/{logical}")
    b.clients("kms", region).create_alias(AliasName=name, TargetKeyId=inputs["targetKeyId"])
    return name, {"arn": b.arn("kms", region, name), "name": name}


@handles("aws:iam/role:Role")
def _iam_role(b: Backend, logical, inputs, region):
    iam = b.clients("iam", region)
    name = physical_name(inputs, logical)
    trust = _doc(inputs["assumeRolePolicy"])
    role = iam.create_role(**_strip_none({
        "RoleName": name, "AssumeRolePolicyDocument": trust, "Path": inputs.get("path"),
        "Description": inputs.get("description"), "PermissionsBoundary": inputs.get("permissionsBoundary"),
        "MaxSessionDuration": inputs.get("maxSessionDuration"),
        "Tags": [{"Key": k, "Value": str(v)} for k, v in (inputs.get("tags") or {}).items()],
    }))["Role"]
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust)  # moto checks trust policies only here
    for inline in inputs.get("inlinePolicies") or []:
        if inline.get("policy"):
            iam.put_role_policy(RoleName=name, PolicyName=inline["name"], PolicyDocument=_doc(inline["policy"]))
    return name, {"arn": role["Arn"], "name": name, "uniqueId": role["RoleId"]}


@handles("aws:iam/policy:Policy")
def _iam_policy(b: Backend, logical, inputs, region):
    policy = b.clients("iam", region).create_policy(**_strip_none({
        "PolicyName": physical_name(inputs, logical), "PolicyDocument": _doc(inputs["policy"]),
        "Path": inputs.get("path"), "Description": inputs.get("description")}))["Policy"]
    return policy["Arn"], {"arn": policy["Arn"], "name": policy["PolicyName"], "policyId": policy["PolicyId"]}


@handles("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
def _iam_attachment(b: Backend, logical, inputs, region):
    b.clients("iam", region).attach_role_policy(RoleName=inputs["role"], PolicyArn=inputs["policyArn"])
    return f"{inputs['role']}-{hashlib.sha1(inputs['policyArn'].encode()).hexdigest()[:8]}", {}


@handles("aws:iam/rolePolicy:RolePolicy")
def _iam_role_policy(b: Backend, logical, inputs, region):
    name = physical_name(inputs, logical)
    b.clients("iam", region).put_role_policy(RoleName=inputs["role"], PolicyName=name, PolicyDocument=_doc(inputs["policy"]))
    return f"{inputs['role']}:{name}", {"name": name}


@handles("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
def _s3_bucket(b: Backend, logical, inputs, region):
    name = physical_name(inputs, logical.lower(), key="bucket")
    params = {"Bucket": name}
    if region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3 = b.clients("s3", region)
    s3.create_bucket(**params)
    if inputs.get("tags"):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": str(v)} for k, v in inputs["tags"].items()]})
    return name, {"arn": f"arn:aws:s3:::{name}", "bucket": name, "bucketDomainName": f"{name}.s3.amazonaws.com",
                  "bucketRegionalDomainName": f"{name}.s3.{region}.amazonaws.com", "region": region}


@handles("aws:s3/bucketPolicy:BucketPolicy")
def _s3_bucket_policy(b: Backend, logical, inputs, region):
    b.clients("s3", region).put_bucket_policy(Bucket=inputs["bucket"], Policy=_doc(inputs["policy"]))
    return inputs["bucket"], {}


@handles("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
def _s3_public_access_block(b: Backend, logical, inputs, region):
    flags = ("blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy", "restrictPublicBuckets")
    b.clients("s3", region).put_public_access_block(
        Bucket=inputs["bucket"],
        PublicAccessBlockConfiguration={k[0].upper() + k[1:]: bool(inputs.get(k, False)) for k in flags})
    return inputs["bucket"], {}


@handles("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
         "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2")
def _s3_encryption(b: Backend, logical, inputs, region):
    rules = []
    for rule in inputs.get("rules") or []:
        default = rule.get("applyServerSideEncryptionByDefault") or {}
        rules.append(_strip_none({
            "ApplyServerSideEncryptionByDefault": _strip_none({"SSEAlgorithm": default.get("sseAlgorithm"), "KMSMasterKeyID": default.get("kmsMasterKeyId")}),
            "BucketKeyEnabled": rule.get("bucketKeyEnabled")}))
    b.clients("s3", region).put_bucket_encryption(Bucket=inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules})
    return inputs["bucket"], {}


@handles("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
def _s3_ownership(b: Backend, logical, inputs, region):
    rule = inputs.get("rule") or {}
    b.clients("s3", region).put_bucket_ownership_controls(
        Bucket=inputs["bucket"], OwnershipControls={"Rules": [{"ObjectOwnership": rule.get("objectOwnership", "BucketOwnerEnforced")}]})
    return inputs["bucket"], {}


@handles("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
def _s3_versioning(b: Backend, logical, inputs, region):
    config = inputs.get("versioningConfiguration") or {}
    b.clients("s3", region).put_bucket_versioning(Bucket=inputs["bucket"], VersioningConfiguration={"Status": config.get("status", "Enabled")})
    return inputs["bucket"], {}


@handles("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
def _s3_logging(b: Backend, logical, inputs, region):
    b.clients("s3", region).put_bucket_logging(Bucket=inputs["bucket"], BucketLoggingStatus={"LoggingEnabled": _strip_none({
        "TargetBucket": inputs["targetBucket"], "TargetPrefix": inputs.get("targetPrefix") or ""})})
    return inputs["bucket"], {}


@handles("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
         "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2")
def _s3_lifecycle(b: Backend, logical, inputs, region):
    rules = []
    for rule in inputs.get("rules") or []:
        expiration, noncurrent = rule.get("expiration") or {}, rule.get("noncurrentVersionExpiration") or {}
        abort = rule.get("abortIncompleteMultipartUpload") or {}
        rules.append(_strip_none({
            "ID": rule.get("id"), "Status": rule.get("status"), "Filter": {"Prefix": (rule.get("filter") or {}).get("prefix", "")},
            "Expiration": _strip_none({"Days": expiration.get("days")}),
            "NoncurrentVersionExpiration": _strip_none({"NoncurrentDays": noncurrent.get("noncurrentDays")}),
            "AbortIncompleteMultipartUpload": _strip_none({"DaysAfterInitiation": abort.get("daysAfterInitiation")}),
        }))
    b.clients("s3", region).put_bucket_lifecycle_configuration(Bucket=inputs["bucket"], LifecycleConfiguration={"Rules": rules})
    return inputs["bucket"], {}


@handles("aws:cloudtrail/trail:Trail")
def _trail(b: Backend, logical, inputs, region):
    cloudtrail = b.clients("cloudtrail", region)
    trail = cloudtrail.create_trail(**_strip_none({
        "Name": physical_name(inputs, logical), "S3BucketName": inputs["s3BucketName"], "S3KeyPrefix": inputs.get("s3KeyPrefix"),
        "IncludeGlobalServiceEvents": inputs.get("includeGlobalServiceEvents"), "IsMultiRegionTrail": inputs.get("isMultiRegionTrail"),
        "EnableLogFileValidation": inputs.get("enableLogFileValidation"), "KmsKeyId": inputs.get("kmsKeyId"),
        "TagsList": [{"Key": k, "Value": str(v)} for k, v in (inputs.get("tags") or {}).items()]}))
    selectors = [{"Name": s.get("name", ""), "FieldSelectors": [_strip_none({
        "Field": f["field"], "Equals": f.get("equals"), "StartsWith": f.get("startsWiths"), "NotEquals": f.get("notEquals")})
        for f in s.get("fieldSelectors") or []]} for s in inputs.get("advancedEventSelectors") or []]
    if selectors:
        cloudtrail.put_event_selectors(TrailName=trail["Name"], AdvancedEventSelectors=selectors)
    if inputs.get("enableLogging", True):
        cloudtrail.start_logging(Name=trail["Name"])
    return trail["TrailARN"], {"arn": trail["TrailARN"], "name": trail["Name"], "homeRegion": region}


@handles("aws:secretsmanager/secret:Secret")
def _secret(b: Backend, logical, inputs, region):
    secret = b.clients("secretsmanager", region).create_secret(**_strip_none({
        "Name": physical_name(inputs, logical), "KmsKeyId": inputs.get("kmsKeyId"), "Description": inputs.get("description")}))
    return secret["ARN"], {"arn": secret["ARN"], "name": secret["Name"]}


@handles("aws:secretsmanager/secretVersion:SecretVersion")
def _secret_version(b: Backend, logical, inputs, region):
    version = b.clients("secretsmanager", region).put_secret_value(**_strip_none({
        "SecretId": inputs["secretId"], "SecretString": inputs.get("secretString")}))
    return f"{inputs['secretId']}|{version['VersionId']}", {"arn": version["ARN"], "versionId": version["VersionId"]}


# --- metrics -------------------------------------------------------------------------------------
@handles("aws:amp/workspace:Workspace")
def _amp_workspace(b: Backend, logical, inputs, region):
    amp = b.clients("amp", region)
    created = amp.create_workspace(**_strip_none({
        "alias": inputs.get("alias"), "kmsKeyArn": inputs.get("kmsKeyArn"), "tags": inputs.get("tags")}))
    workspace = amp.describe_workspace(workspaceId=created["workspaceId"])["workspace"]
    return workspace["workspaceId"], {"arn": workspace["arn"], "prometheusEndpoint": workspace["prometheusEndpoint"]}


# --- Bedrock and SageMaker -----------------------------------------------------------------------
@handles("aws:bedrockmodel/invocationLoggingConfiguration:InvocationLoggingConfiguration")
def _bedrock_logging(b: Backend, logical, inputs, region):
    config = inputs.get("loggingConfig") or {}
    params = {}
    if config.get("s3Config"):
        params["s3Config"] = _strip_none({"bucketName": config["s3Config"].get("bucketName"), "keyPrefix": config["s3Config"].get("keyPrefix")})
    if config.get("cloudwatchConfig"):
        cw = config["cloudwatchConfig"]
        params["cloudWatchConfig"] = _strip_none({"logGroupName": cw.get("logGroupName"), "roleArn": cw.get("roleArn")})
    for key in ("textDataDeliveryEnabled", "imageDataDeliveryEnabled", "embeddingDataDeliveryEnabled", "videoDataDeliveryEnabled"):
        if key in config:
            params[key] = bool(config[key])
    b.clients("bedrock", region).put_model_invocation_logging_configuration(loggingConfig=params)
    return region, {}


@handles("aws:sagemaker/domain:Domain")
def _sagemaker_domain(b: Backend, logical, inputs, region):
    settings = inputs.get("defaultUserSettings") or {}
    domain = b.clients("sagemaker", region).create_domain(**_strip_none({
        "DomainName": inputs["domainName"], "AuthMode": inputs["authMode"],
        "DefaultUserSettings": _strip_none({"ExecutionRole": settings.get("executionRole"), "SecurityGroups": settings.get("securityGroups")}),
        "SubnetIds": inputs["subnetIds"], "VpcId": inputs["vpcId"], "AppNetworkAccessType": inputs.get("appNetworkAccessType"),
        "KmsKeyId": inputs.get("kmsKeyId")}))
    domain_id = domain["DomainArn"].rsplit("/", 1)[-1]
    return domain_id, {"arn": domain["DomainArn"], "url": domain.get("Url", ""), "homeEfsFileSystemId": ""}


@handles("aws:sagemaker/modelPackageGroup:ModelPackageGroup")
def _model_package_group(b: Backend, logical, inputs, region):
    group = b.clients("sagemaker", region).create_model_package_group(**_strip_none({
        "ModelPackageGroupName": inputs["modelPackageGroupName"],
        "ModelPackageGroupDescription": inputs.get("modelPackageGroupDescription")}))
    return inputs["modelPackageGroupName"], {"arn": group["ModelPackageGroupArn"]}
