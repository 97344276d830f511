"""HubNetwork: the hub VPC in the home region, with no path to or from the internet (SOV-01, SOV-10).

No internet gateway, NAT gateway or egress-only gateway is created and no subnet maps public IPs; the
default security group is stripped of its rules; the default network ACL is owned by the program and
admits only the on-prem and hub ranges on the ports the endpoints and the resolver use; flow logs (ALL traffic) go to a KMS-encrypted log
group; a Route 53 Resolver inbound endpoint lets on-prem DNS resolve the private endpoint names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.account import Account
from aifactory.spec.model import HybridLink
from aifactory.spec.validators import az_subnets

LOG_RETENTION_DAYS = 365
# The resolver's address in each subnet: fixed so that on-prem forwarders can be configured before apply.
RESOLVER_HOST_OFFSET = 10
# Network ACLs are stateless: replies leave on the client's ephemeral port. 1024-65535 covers every
# client OS (AWS VPC user guide, "Network ACLs", ephemeral ports).
EPHEMERAL = (1024, 65535)
HTTPS, DNS, NFS = 443, 53, 2049


def hub_nacl_rules(onprem_cidr: str, vpc_cidr: str, nfs: bool = False) -> dict[str, list[dict]]:
    """The hub's network ACL, {"ingress": [...], "egress": [...]} as pulumi-aws takes them.

    In: HTTPS to the endpoints from on-prem and the hub; DNS to the resolver from on-prem; replies to
    the hub's own HTTPS (and NFS) clients. Out: replies to on-prem and the hub; HTTPS (and NFS, for
    SageMaker's EFS home directories) inside the hub. Nothing else, and never 0.0.0.0/0.
    """
    ingress = [("tcp", HTTPS, HTTPS, onprem_cidr), ("tcp", HTTPS, HTTPS, vpc_cidr),
               ("tcp", DNS, DNS, onprem_cidr), ("udp", DNS, DNS, onprem_cidr), ("tcp", *EPHEMERAL, vpc_cidr)]
    egress = [("tcp", *EPHEMERAL, onprem_cidr), ("udp", *EPHEMERAL, onprem_cidr), ("tcp", *EPHEMERAL, vpc_cidr),
              ("tcp", HTTPS, HTTPS, vpc_cidr)]
    if nfs:
        ingress.append(("tcp", NFS, NFS, vpc_cidr))
        egress.append(("tcp", NFS, NFS, vpc_cidr))

    def rules(entries):
        return [{"protocol": protocol, "rule_no": 100 + 10 * i, "action": "allow", "cidr_block": cidr,
                 "from_port": low, "to_port": high} for i, (protocol, low, high, cidr) in enumerate(entries)]

    return {"ingress": rules(ingress), "egress": rules(egress)}


def resolver_addresses(vpc_cidr: str, zones: int) -> list[tuple[int, str]]:
    """(subnet index, address) of the inbound resolver: one per zone, and at least two (AWS minimum)."""
    subnets = az_subnets(vpc_cidr, zones)
    addresses = [(i, str(subnet.network_address + RESOLVER_HOST_OFFSET)) for i, subnet in enumerate(subnets)]
    if len(addresses) == 1:
        addresses.append((0, str(subnets[0].network_address + RESOLVER_HOST_OFFSET + 1)))
    return addresses


def _zone(names: Sequence[str], index: int, region: str) -> str:
    if index >= len(names):
        raise ValueError(f"hybrid_link.availability_zones asks for {index + 1} zones; {region} offers {len(names)}")
    return names[index]


@dataclass(frozen=True)
class HubNetworkArgs:
    """The home region, the spec's hybrid link (VPC CIDR, zones) and on-prem CIDR, the logs key, the permission
    boundary and the account; `nfs` opens NFS inside the hub (SageMaker's EFS home directories)."""

    region: str
    link: HybridLink
    onprem_cidr: str
    logs_key_arn: pulumi.Input[str]
    boundary_arn: pulumi.Input[str]
    account: pulumi.Output[Account]
    nfs: bool = False


class HubNetwork(pulumi.ComponentResource):
    """The hub VPC, one private subnet per availability zone, DNS for on-prem."""

    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    subnet_ids: list[pulumi.Output[str]]
    route_table_id: pulumi.Output[str]
    resolver_inbound_ips: list[str]

    def __init__(self, name: str, args: HubNetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aifactory:infra:HubNetwork", f"{name}-network", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        region, link, onprem_cidr = args.region, args.link, args.onprem_cidr
        self.vpc_cidr = link.vpc_cidr

        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=link.vpc_cidr, enable_dns_support=True,
                          enable_dns_hostnames=True, tags={"Name": f"{name}-hub"}, opts=child)
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[],
                                     revoke_rules_on_delete=True, opts=child)
        route_table = aws.ec2.RouteTable(f"{name}-private-rt", vpc_id=vpc.id,
                                         tags={"Name": f"{name}-private"}, opts=child)

        zones = aws.get_availability_zones_output(
            state="available", filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
            opts=pulumi.InvokeOutputOptions(parent=self))
        self.subnet_ids = []
        for index, cidr in enumerate(az_subnets(link.vpc_cidr, link.availability_zones)):
            subnet = aws.ec2.Subnet(
                f"{name}-private-{index + 1}", vpc_id=vpc.id, cidr_block=str(cidr),
                availability_zone=zones.names.apply(lambda names, i=index: _zone(names, i, region)),
                map_public_ip_on_launch=False, assign_ipv6_address_on_creation=False,
                tags={"Name": f"{name}-private-{index + 1}"}, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-private-{index + 1}-rt", subnet_id=subnet.id,
                                          route_table_id=route_table.id, opts=child)
            self.subnet_ids.append(subnet.id)
        aws.ec2.DefaultNetworkAcl(f"{name}-default-nacl", default_network_acl_id=vpc.default_network_acl_id,
                                  subnet_ids=self.subnet_ids, opts=child,
                                  **hub_nacl_rules(onprem_cidr, link.vpc_cidr, args.nfs))

        self._flow_logs(name, vpc, args.logs_key_arn, args.boundary_arn, args.account, region, child)
        placement = resolver_addresses(link.vpc_cidr, link.availability_zones)
        self.resolver_inbound_ips = [ip for _, ip in placement]
        self._resolver(name, vpc, onprem_cidr, placement, child)

        self.vpc_id = vpc.id
        self.route_table_id = route_table.id
        self.register_outputs({"vpc_id": self.vpc_id, "subnet_ids": self.subnet_ids,
                               "resolver_inbound_ips": self.resolver_inbound_ips})

    def _flow_logs(self, name: str, vpc: aws.ec2.Vpc, logs_key_arn: pulumi.Input[str],
                   boundary_arn: pulumi.Input[str], account: pulumi.Output[Account], region: str,
                   opts: pulumi.ResourceOptions) -> None:
        group = aws.cloudwatch.LogGroup(f"{name}-flow-logs", kms_key_id=logs_key_arn,
                                        retention_in_days=LOG_RETENTION_DAYS, opts=opts)
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=account.apply(lambda a: policies.service_trust_policy(
                "vpc-flow-logs.amazonaws.com", a.id, f"arn:{a.partition}:ec2:{region}:{a.id}:vpc-flow-log/*")),
            permissions_boundary=boundary_arn, opts=opts)
        aws.iam.RolePolicy(f"{name}-flow-logs", role=role.id,
                           policy=group.arn.apply(policies.flow_logs_role_policy), opts=opts)
        aws.ec2.FlowLog(f"{name}-flow-log", vpc_id=vpc.id, traffic_type="ALL",
                        log_destination_type="cloud-watch-logs", log_destination=group.arn,
                        iam_role_arn=role.arn, max_aggregation_interval=60, opts=opts)

    def _resolver(self, name: str, vpc: aws.ec2.Vpc, onprem_cidr: str,
                  placement: list[tuple[int, str]], opts: pulumi.ResourceOptions) -> None:
        dns = [aws.ec2.SecurityGroupIngressArgs(protocol=protocol, from_port=53, to_port=53,
                                                cidr_blocks=[onprem_cidr], description=f"DNS/{protocol} from on-prem")
               for protocol in ("tcp", "udp")]
        group = aws.ec2.SecurityGroup(f"{name}-resolver-sg", vpc_id=vpc.id,
                                      description="Route 53 Resolver inbound: DNS from on-prem only",
                                      ingress=dns, egress=[], opts=opts)
        aws.route53.ResolverEndpoint(
            f"{name}-resolver-inbound", name=f"{name}-inbound", direction="INBOUND",
            security_group_ids=[group.id], protocols=["Do53"],
            ip_addresses=[aws.route53.ResolverEndpointIpAddressArgs(subnet_id=self.subnet_ids[i], ip=ip)
                          for i, ip in placement],
            opts=opts)

