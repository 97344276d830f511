"""A small factory hub that passes every control; PLAN_FAULT=<name> injects one fault (see FAULTS).

Used by tests/aws: each fault must be reported as exactly one control violation or one AWS error,
naming the resource.
"""

import json
import os
from datetime import datetime, timedelta, timezone

import pulumi
import pulumi_aws as aws

from aifactory.spec import load_spec
from infra.state import PulumiState, PulumiStateArgs

factory = load_spec(pulumi.Config("aifactory").require("spec"))
NAME, REGION = factory.name, factory.sovereignty.region
FAULT = os.environ.get("PLAN_FAULT", "")
SERVICES = ("bedrock", "bedrock-runtime", "bedrock-agent-runtime", "sagemaker.api", "sagemaker.runtime", "sts",
            "kms", "logs", "ssm", "ssmmessages", "ec2messages", "s3")


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# state_elsewhere: the state in another region's bucket, the secrets under a passphrase
STATE_REGION = "us-east-1" if FAULT == "state_elsewhere" else REGION
PulumiState(NAME, PulumiStateArgs(
    REGION, f"s3://{NAME}-pulumi-state?region={STATE_REGION}",
    "passphrase" if FAULT == "state_elsewhere" else f"awskms://alias/{NAME}-pulumi-state?region={REGION}"))

key = aws.kms.Key("key", enable_key_rotation=FAULT != "key_no_rotation", deletion_window_in_days=30)
aws.kms.Alias("key-alias", name=f"alias/{NAME}-data", target_key_id=key.key_id)

vpc = aws.ec2.Vpc("hub", cidr_block="10.0.0.0/22", enable_dns_hostnames=True, enable_dns_support=True,
                  tags={"Name": f"{NAME}-hub", "aifactory:factory": NAME})
aws.ec2.DefaultSecurityGroup("default-sg", vpc_id=vpc.id, ingress=[], egress=[])
nacl_source = "0.0.0.0/0" if FAULT == "open_default_nacl" else "10.40.0.0/16"
aws.ec2.DefaultNetworkAcl("default-nacl", default_network_acl_id=vpc.default_network_acl_id, ingress=[
    {"protocol": "tcp", "rule_no": 100, "action": "allow", "cidr_block": nacl_source, "from_port": 443, "to_port": 443}], egress=[
    {"protocol": "tcp", "rule_no": 100, "action": "allow", "cidr_block": "10.40.0.0/16", "from_port": 1024, "to_port": 65535}])
subnet = aws.ec2.Subnet("private-a", vpc_id=vpc.id, cidr_block="10.9.0.0/24" if FAULT == "subnet_outside_vpc" else "10.0.0.0/24",
                        availability_zone=f"{REGION}a")
if FAULT == "overlapping_subnets":
    # created after private-a (depends_on), so that it is always the one AWS refuses
    aws.ec2.Subnet("private-overlap", vpc_id=vpc.id, cidr_block="10.0.0.128/25", availability_zone=f"{REGION}b",
                   opts=pulumi.ResourceOptions(depends_on=[subnet]))
if FAULT == "internet_gateway":
    aws.ec2.InternetGateway("hub-igw", vpc_id=vpc.id)

logs = aws.cloudwatch.LogGroup("flow-logs", kms_key_id=key.arn, retention_in_days=365)
boundary = aws.iam.Policy("region-boundary", policy=doc(
    {"Effect": "Allow", "Action": ["bedrock:*", "s3:*", "kms:*"], "Resource": "*"},
    {"Effect": "Deny", "NotAction": ["iam:*", "sts:*"], "Resource": "*",
     "Condition": {"StringNotEquals": {"aws:RequestedRegion": [REGION]}}}))
flow_role = aws.iam.Role("flow-role", assume_role_policy=doc({"Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                                                              "Action": "sts:AssumeRole"}),
                     permissions_boundary=boundary.arn)
if FAULT != "no_flow_log":
    # flow_log_no_group: the destination names a log group that was never created (AWS takes it, then fails every delivery)
    destination = f"arn:aws:logs:{REGION}:123456789012:log-group:nowhere" if FAULT == "flow_log_no_group" else logs.arn
    aws.ec2.FlowLog("hub-flow-log", vpc_id=vpc.id, traffic_type="ALL", log_destination_type="cloud-watch-logs",
                    log_destination=destination, iam_role_arn=flow_role.arn, max_aggregation_interval=60)


if FAULT == "malformed_policy":
    aws.iam.Policy("broken-policy", policy=json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}))
if FAULT == "wildcard_admin":
    aws.iam.Policy("admin-policy", policy=doc({"Effect": "Allow", "Action": "*", "Resource": "*"}))

node_role = aws.iam.Role("node-role", permissions_boundary=None if FAULT == "role_no_boundary" else boundary.arn,
                         assume_role_policy=doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}))
# guardrail_filter_strength: a filter strength Bedrock does not have (moto has no guardrails: the API model refuses it)
strength = "EXTREME" if FAULT == "guardrail_filter_strength" else "HIGH"
guardrail = aws.bedrock.Guardrail("guardrail", blocked_input_messaging="blocked", blocked_outputs_messaging="blocked", kms_key_arn=key.arn,
                                  content_policy_config={"filters_configs": [
                                      {"type": "PROMPT_ATTACK", "input_strength": strength, "output_strength": "NONE"}]})
# null_guardrail: the condition is written from an output the program never gets (it reads None),
# which the plan used to pass because the condition was present
guardrail_arn = guardrail.tags.apply(lambda tags: (tags or {}).get("arn")) if FAULT == "null_guardrail" else guardrail.guardrail_arn


def invoke_policy(arn):
    condition = {} if FAULT == "bedrock_no_guardrail" else {"Condition": {"StringEquals": {"bedrock:GuardrailIdentifier": arn}}}
    return doc({"Effect": "Allow", "Action": ["bedrock:InvokeModel"], "Resource": f"arn:aws:bedrock:{REGION}::foundation-model/x", **condition})


aws.iam.RolePolicy("node-invoke", role=node_role.name, policy=guardrail_arn.apply(invoke_policy))

# sg_default_egress: the group gets the allow-all egress rule EC2 gives a new group (pulumi-aws removes it)
egress = [{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}] if FAULT == "sg_default_egress" else []
group = aws.ec2.SecurityGroup("endpoints-sg", vpc_id=vpc.id, description="HTTPS from on-prem", egress=egress,
                              ingress=[{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.40.0.0/16"]}])
for service in SERVICES:
    region = "us-east-1" if FAULT == "foreign_region_endpoint" and service == "sts" else REGION
    policy = None if FAULT == "endpoint_no_policy" and service == "kms" else doc(
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalAccount": "123456789012"}}})
    aws.ec2.VpcEndpoint(f"vpce-{service.replace('.', '-')}", vpc_id=vpc.id, service_name=f"com.amazonaws.{region}.{service}",
                        vpc_endpoint_type="Interface", subnet_ids=[subnet.id], security_group_ids=[group.id],
                        private_dns_enabled=True, policy=policy)

bucket = aws.s3.Bucket("artifacts", bucket=f"{NAME}-artifacts")
if FAULT != "unencrypted_bucket":
    aws.s3.BucketServerSideEncryptionConfiguration("artifacts-sse", bucket=bucket.id, rules=[
        {"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn}}])
aws.s3.BucketPublicAccessBlock("artifacts-pab", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
                               ignore_public_acls=True, restrict_public_buckets=True)
tls = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{NAME}-artifacts/*",
       "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
other = {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket", "Resource": f"arn:aws:s3:::{NAME}-artifacts"}
access_logs = {"Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
               "Resource": f"arn:aws:s3:::{NAME}-artifacts/*"}  # first: moto reads log-delivery grants in order
bucket_policy = aws.s3.BucketPolicy("artifacts-policy", bucket=bucket.id,
                                    policy=doc(access_logs, other if FAULT == "bucket_no_tls" else tls))
# the bucket keeps its own access logs (a stand-in for the factory's access-log bucket)
aws.s3.BucketLogging("artifacts-access-logging", bucket=bucket.id, target_bucket=bucket.id, target_prefix="access/",
                     opts=pulumi.ResourceOptions(depends_on=[bucket_policy]))
if FAULT != "missing_trail":
    aws.cloudtrail.Trail("trail", s3_bucket_name=bucket.id, kms_key_id=key.arn, enable_log_file_validation=True,
                         advanced_event_selectors=[{"field_selectors": [{"field": "eventCategory", "equals": ["Data"]},
                                                                        {"field": "resources.type", "equals": [kind]}]}
                                                   for kind in ("AWS::S3::Object", "AWS::Bedrock::Guardrail")])
aws.accessanalyzer.Analyzer("access-analyzer", analyzer_name=f"{NAME}-account", type="ACCOUNT")

tgw = aws.ec2transitgateway.TransitGateway("tgw", amazon_side_asn=64512, auto_accept_shared_attachments="disable",
                                           default_route_table_association="disable", default_route_table_propagation="disable")
table = aws.ec2transitgateway.RouteTable("tgw-rt", transit_gateway_id=tgw.id)
attachment = aws.ec2transitgateway.VpcAttachment("hub-attachment", transit_gateway_id=tgw.id, vpc_id=vpc.id, subnet_ids=[subnet.id],
                                                 transit_gateway_default_route_table_association=False,
                                                 transit_gateway_default_route_table_propagation=False)
aws.ec2transitgateway.RouteTableAssociation("hub-assoc", transit_gateway_attachment_id=attachment.id, transit_gateway_route_table_id=table.id)

cgw = aws.ec2.CustomerGateway("cgw", bgp_asn="65010", ip_address="198.51.100.10", type="ipsec.1")
tunnel_logs = {"cloudwatch_log_options": {"log_enabled": True, "log_group_arn": logs.arn, "log_output_format": "json"}}
tunnel = {}
for t in ("tunnel1", "tunnel2"):
    weak = FAULT == "weak_vpn" and t == "tunnel1"
    # vpn_bad_option: a value EC2 refuses (moto drops tunnel options, so the plan checks them)
    cipher = "AES128" if weak else "AES512" if FAULT == "vpn_bad_option" and t == "tunnel2" else "AES256-GCM-16"
    tunnel.update({f"{t}_ike_versions": ["ikev2"], f"{t}_phase1_encryption_algorithms": [cipher],
                   f"{t}_phase2_encryption_algorithms": ["AES256-GCM-16"], f"{t}_phase1_integrity_algorithms": ["SHA2-256"],
                   f"{t}_phase2_integrity_algorithms": ["SHA2-256"], f"{t}_phase1_dh_group_numbers": [20],
                   f"{t}_phase2_dh_group_numbers": [20], f"{t}_log_options": tunnel_logs,
                   f"{t}_preshared_key": pulumi.Output.secret(f"psk-{t}-do-not-print")})
aws.ec2.VpnConnection("vpn", customer_gateway_id=cgw.id, transit_gateway_id=tgw.id, type="ipsec.1", static_routes_only=False, **tunnel)
expiry = None if FAULT == "activation_no_expiry" else (datetime.now(timezone.utc) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
aws.ssm.Activation("activation", iam_role=node_role.name, registration_limit=3, expiration_date=expiry,
                   opts=pulumi.ResourceOptions(ignore_changes=["expirationDate"]))

# amp_foreign_region: the metrics workspace in another region of the same residency zone (eu-west-1 for an
# eu-central-1 factory: residency alone would pass it); amp_no_cmk: under AWS's own key
aws.amp.Workspace("metrics", alias=f"{NAME}-metrics", kms_key_arn=None if FAULT == "amp_no_cmk" else key.arn,
                  region="eu-west-1" if FAULT == "amp_foreign_region" else None)

if FAULT == "logs_on_star":  # job logs written anywhere: the SageMaker execution role before it was scoped
    aws.iam.RolePolicy("job-logs", role=node_role.name, policy=doc(
        {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}))

# kms_create_star: key administration by the KMS default policy's wildcards
admin_actions = ["kms:Create*", "kms:Describe*"] if FAULT == "kms_create_star" else ["kms:DescribeKey", "kms:PutKeyPolicy"]
aws.kms.KeyPolicy("key-policy", key_id=key.key_id, policy=node_role.arn.apply(lambda arn: doc(
    {"Sid": "Admins", "Effect": "Allow", "Principal": {"AWS": [arn]}, "Action": admin_actions, "Resource": "*"},
    {"Sid": "Use", "Effect": "Allow", "Principal": {"AWS": [arn]}, "Action": ["kms:Decrypt"], "Resource": "*"})))
