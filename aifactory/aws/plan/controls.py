"""The sovereignty controls SOV-01..SOV-14 as pulumi_policy policies: the one implementation.

`policies/__main__.py` packs `POLICIES` into a PolicyPack for `pulumi preview --policy-pack policies/`,
and `aifactory plan` evaluates the same objects offline on the planned resources (`evaluate`).
Properties are read under the engine's names (camelCase), which is what pulumi_policy hands a
policy. Checks that need several resources are stack validations; allowed regions and the residency
zone are read from the plan itself (the region-pinning policy's `aws:RequestedRegion` values and the
regions the resources live in), so the pack needs no configuration.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from aifactory import catalog

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SG = "aws:ec2/securityGroup:SecurityGroup"
SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
NACL = "aws:ec2/networkAcl:NetworkAcl"
DEFAULT_NACL = "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl"
NACL_RULE = "aws:ec2/networkAclRule:NetworkAclRule"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
VPN = "aws:ec2/vpnConnection:VpnConnection"
TGW = "aws:ec2transitgateway/transitGateway:TransitGateway"
DX_ASSOCIATION = "aws:directconnect/gatewayAssociation:GatewayAssociation"
DX_TVIF = "aws:directconnect/transitVirtualInterface:TransitVirtualInterface"
KMS_KEY = "aws:kms/key:Key"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
SIGN_VERIFY = "SIGN_VERIFY"  # an asymmetric signing key's keyUsage: KMS cannot rotate it
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
IAM_POLICY = "aws:iam/policy:Policy"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_SSE = ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
              "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2")
SAGEMAKER_DOMAIN = "aws:sagemaker/domain:Domain"
SECRET = "aws:secretsmanager/secret:Secret"
GUARDRAIL = "aws:bedrock/guardrail:Guardrail"
INVOCATION_LOGGING = "aws:bedrockmodel/invocationLoggingConfiguration:InvocationLoggingConfiguration"
BUCKET_LOGGING = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
BUCKET_LIFECYCLE = ("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2")
TRAIL = "aws:cloudtrail/trail:Trail"
ACCESS_ANALYZER = "aws:accessanalyzer/analyzer:Analyzer"
SSM_ACTIVATION = "aws:ssm/activation:Activation"
AMP_WORKSPACE = "aws:amp/workspace:Workspace"
PULUMI_STATE = "aifactory:infra:PulumiState"  # infra/state.py: the stack's backend and secrets provider
# AWS Systems Manager: a hybrid activation expires at most 30 days after it is created (CreateActivation).
MAX_ACTIVATION_DAYS = 30

INTERNET_TYPES = {
    "aws:ec2/internetGateway:InternetGateway": "an internet gateway",
    "aws:ec2/internetGatewayAttachment:InternetGatewayAttachment": "an internet gateway attachment",
    "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway": "an egress-only internet gateway",
    "aws:ec2/natGateway:NatGateway": "a NAT gateway",
    "aws:ec2/eip:Eip": "a public (Elastic) IP",
}
STRONG_CIPHERS = {"AES256", "AES256-GCM-16"}
STRONG_INTEGRITY = {"SHA2-256", "SHA2-384", "SHA2-512"}
MIN_DH_GROUP = 19
GUARDED_BEDROCK_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:Converse", "bedrock:ConverseStream")
ADMIN_MANAGED_POLICIES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess", "AmazonBedrockFullAccess", "AmazonSageMakerFullAccess")
# Names of policy-document properties, per resource type (identity policies vs resource policies).
IDENTITY_POLICY_PROPS = {IAM_POLICY: "policy", ROLE_POLICY: "policy"}
RESOURCE_POLICY_PROPS = {BUCKET_POLICY: "policy", ENDPOINT: "policy", KMS_KEY: "policy", KEY_POLICY: "policy"}
# Key-policy actions that hand out more than administration: every action, every Create (CreateGrant
# among them, unconditioned).
BROAD_KEY_ACTIONS = {"*", "kms:*", "kms:create*"}
# Actions that write logs or place network interfaces: never on "*" (unless pinned to a VPC by condition).
SCOPED_ACTIONS = {"logs:createloggroup", "logs:createlogstream", "logs:putlogevents", "ec2:createnetworkinterface",
                  "ec2:createnetworkinterfacepermission", "ec2:deletenetworkinterface",
                  "ec2:deletenetworkinterfacepermission"}


# --- reading policy documents --------------------------------------------------------------------
def as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def statements(document) -> list[dict]:
    """The statements of a policy document given as JSON text or a dict; [] when there is none."""
    if not document:
        return []
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return []
    return [s for s in as_list(document.get("Statement")) if isinstance(s, dict)]


def principals(statement: dict) -> list[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if isinstance(principal, dict):
        return [p for values in principal.values() for p in as_list(values)]
    return []


def condition_keys(statement: dict) -> set[str]:
    return {key.lower() for block in (statement.get("Condition") or {}).values() if isinstance(block, dict) for key in block}


def condition_values(statement: dict, key: str) -> list[str]:
    found = []
    for block in (statement.get("Condition") or {}).values():
        for k, v in (block or {}).items():
            if k.lower() == key.lower():
                found += as_list(v)
    return found


# A value a program wrote without knowing it: Python's None, JSON null, an empty string, or "None"
# as a whole value or as one part of an ARN ("arn:...:guardrail/None:*").
_UNSET_PART = re.compile(r"(^|[:/])(None|null|undefined)($|[:/*])")


def unset_values(value, path: str = "") -> list[str]:
    """Paths in a parsed policy document whose value is null, empty, or holds "None"."""
    if value is None or (isinstance(value, str) and (not value.strip() or _UNSET_PART.search(value))):
        return [f"{path or '(document)'} = {json.dumps(value)}"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in unset_values(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in unset_values(v, f"{path}[{i}]")]
    return []


def policy_documents(props) -> list[tuple[str, object]]:
    """(property, document) of every policy a resource carries: identity, resource, trust and key policies."""
    found = [(key, props.get(key)) for key in ("policy", "assumeRolePolicy") if props.get(key)]
    found += [(f"inlinePolicies[{i}]", p.get("policy")) for i, p in enumerate(as_list(props.get("inlinePolicies")))
              if isinstance(p, dict) and p.get("policy")]
    return found


def is_allow(statement: dict) -> bool:
    return statement.get("Effect") == "Allow"


def inline_documents(props) -> list:
    return [p.get("policy") for p in as_list(props.get("inlinePolicies")) if isinstance(p, dict)]


def identity_documents(resource_type: str, props) -> list:
    if resource_type in IDENTITY_POLICY_PROPS:
        return [props.get(IDENTITY_POLICY_PROPS[resource_type])]
    if resource_type == ROLE:
        return inline_documents(props)
    return []


def pinned_regions(resources: Iterable[PolicyResource]) -> set[str]:
    """Regions named by region-pinning Deny statements (`aws:RequestedRegion`) anywhere in the stack."""
    regions = set()
    for r in resources:
        for doc in identity_documents(r.resource_type, r.props):
            for s in statements(doc):
                if s.get("Effect") == "Deny":
                    regions |= set(condition_values(s, "aws:RequestedRegion"))
    return regions


# --- the controls --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Control:
    """One check of a control: its id and statement (what it requires), the policy the pack serves, and the
    check function, whose docstring says what it reads and, in its `Fix:` paragraph, what to change."""

    id: str
    statement: str
    policy: ResourceValidationPolicy | StackValidationPolicy
    check: Callable


CONTROLS: list[Control] = []


def control(control_id: str, statement: str, kind: str = "resource"):
    """Register `fn(args, report)` as the check of a control (a resource or a stack validation); its docstring
    says what it reads and, in a `Fix:` paragraph, what to change (the control's help in SARIF)."""

    def register(fn: Callable):
        name = f"{control_id.lower()}-{fn.__name__.replace('_', '-')}"
        cls = ResourceValidationPolicy if kind == "resource" else StackValidationPolicy
        policy = cls(name=name, description=f"{control_id}: {statement}", validate=fn,
                     enforcement_level=EnforcementLevel.MANDATORY)
        CONTROLS.append(Control(control_id, statement, policy, fn))
        return fn

    return register


def open_to_internet(rule: dict) -> bool:
    """Whether a security-group or network-ACL rule names the whole IPv4 or IPv6 internet."""
    cidrs = as_list(rule.get("cidrBlocks")) + as_list(rule.get("cidrIpv4")) + as_list(rule.get("cidrBlock"))
    cidrs6 = as_list(rule.get("ipv6CidrBlocks")) + as_list(rule.get("cidrIpv6")) + as_list(rule.get("ipv6CidrBlock"))
    return "0.0.0.0/0" in cidrs or "::/0" in cidrs6


def nacl_rules(resource_type: str, props) -> list[tuple[str, dict]]:
    """(direction, rule) of every ALLOW rule a network ACL resource declares."""
    if resource_type == NACL_RULE:
        rules = [("egress" if props.get("egress") else "ingress", props)] if props.get("ruleAction") == "allow" else []
    elif resource_type in (NACL, DEFAULT_NACL):
        rules = [(d, r) for d in ("ingress", "egress") for r in as_list(props.get(d)) if r.get("action") == "allow"]
    else:
        rules = []
    return rules


@control("SOV-01", "No internet path: no internet or NAT gateway, public IP, route to one, open security-group rule or network ACL, default-SG rule")
def no_internet_path(args: ResourceValidationArgs, report):
    """Each resource on its own: internet, egress-only and NAT gateways, Elastic IPs, subnets that map public IPs,
    routes to those gateways, the default security group's rules, and security-group or network-ACL rules open to
    0.0.0.0/0 or ::/0.

    Fix: Remove the gateway or public IP; route through the hybrid link (transit gateway) instead; give the default
    security group no rules; narrow each rule to the on-prem and VPC ranges."""
    t, p = args.resource_type, args.props
    if t in INTERNET_TYPES:
        report(f"{INTERNET_TYPES[t]} gives the factory an internet path")
    if t == SUBNET and p.get("mapPublicIpOnLaunch"):
        report("subnet assigns public IPs on launch")
    routes = [p] if t == ROUTE else as_list(p.get("routes")) if t == ROUTE_TABLE else []
    for route in routes:
        target = str(route.get("gatewayId") or "") + str(route.get("natGatewayId") or "") + str(route.get("egressOnlyGatewayId") or "")
        if target.startswith(("igw-", "nat-", "eigw-")):
            report(f"route to {target} leads to the internet")
    if t == DEFAULT_SG and (p.get("ingress") or p.get("egress")):
        report("the VPC's default security group must have no rules")
    for direction, rule in security_group_rules(t, p):
        if open_to_internet(rule):
            report(f"security group {direction} is open to the whole internet")
    for direction, rule in nacl_rules(t, p):
        if open_to_internet(rule):
            report(f"network ACL allows {direction} from/to the whole internet (rule {rule.get('ruleNo') or rule.get('ruleNumber')})")


def security_group_rules(t: str, p) -> list[tuple[str, dict]]:
    """(direction, rule) of a security group or one of its rules; nothing of other resources, whose properties
    are not read (what a control reads is its evidence)."""
    if t == SG:
        return [(d, r) for d in ("ingress", "egress") for r in as_list(p.get(d))]
    if t == SG_RULE:
        return [(p.get("type"), p)]
    return {SG_INGRESS: [("ingress", p)], SG_EGRESS: [("egress", p)]}.get(t, [])


@control("SOV-01", "No internet path: every VPC's default network ACL is owned by the program", kind="stack")
def default_nacl_owned(args: StackValidationArgs, report):
    """A VPC's default network ACL allows everything in and out until a program owns it (DefaultNetworkAcl).

    Fix: Declare an aws.ec2.DefaultNetworkAcl for each VPC (default_network_acl_id=vpc.default_network_acl_id) with
    rules for the on-prem and VPC ranges only."""
    owned = [r.props.get("defaultNetworkAclId") for r in args.resources if r.resource_type == DEFAULT_NACL]
    unknown = sum(1 for acl in owned if not acl)  # known only after apply in a preview
    for vpc in (r for r in args.resources if r.resource_type == VPC):
        if vpc.props.get("defaultNetworkAclId") in owned and vpc.props.get("defaultNetworkAclId"):
            continue
        if unknown:
            unknown -= 1
            continue
        report(f"VPC {vpc.name}: its default network ACL is not owned by the program (AWS's allows all traffic)", vpc.urn)


@control("SOV-02", "AWS services only through private interface endpoints with private DNS, an explicit security group and a restrictive policy")
def private_endpoints(args: ResourceValidationArgs, report):
    """Each VPC endpoint: Interface type (S3 and DynamoDB may be Gateway), private DNS on, its own security group,
    and a policy that is not allow-all.

    Fix: Set vpc_endpoint_type Interface, private_dns_enabled True and security_group_ids, and give the endpoint a
    policy naming the factory's principals or conditions."""
    if args.resource_type != ENDPOINT:
        return
    p = args.props
    service = str(p.get("serviceName") or "")
    kind = p.get("vpcEndpointType") or "Gateway"
    if kind == "Gateway" and not service.endswith((".s3", ".dynamodb")):
        report(f"{service}: endpoint type defaults to Gateway; set vpcEndpointType Interface")
    if kind == "Interface":
        if not p.get("privateDnsEnabled"):
            report(f"{service}: private DNS is off, so on-prem names resolve to public endpoints")
        if not as_list(p.get("securityGroupIds")):
            report(f"{service}: no security group, so the VPC default group applies")
    if not p.get("policy"):
        report(f"{service}: no endpoint policy (AWS then allows full access)")
    for s in statements(p.get("policy")):
        if is_allow(s) and "*" in principals(s) and not s.get("Condition") and "*" in as_list(s.get("Action")):
            report(f"{service}: endpoint policy allows any action to any principal without a condition")


@control("SOV-03", "Region pinning on every role: a permissions boundary that denies every region outside allowed_regions", kind="stack")
def region_pinning(args: StackValidationArgs, report):
    """Every IAM role, and a policy in the stack that denies aws:RequestedRegion outside the allowed regions.

    Fix: Attach the region-pinning policy (infra/region_pinning.py) as each role's permissions_boundary."""
    roles = [r for r in args.resources if r.resource_type == ROLE]
    if roles and not pinned_regions(args.resources):
        report("no policy in the stack denies aws:RequestedRegion outside the allowed regions")
    for role in roles:
        if not role.props.get("permissionsBoundary"):
            report(f"role {role.name} has no permissions boundary (region pinning)", role.urn)


@control("SOV-04", "Customer keys wherever data rests, with rotation on (asymmetric signing keys, which KMS cannot "
                   "rotate, exempt)", kind="stack")
def customer_keys(args: StackValidationArgs, report):
    """KMS keys, bucket encryption, log groups, SageMaker domains, secrets, guardrails and AMP workspaces, read
    together. KMS rotates symmetric encryption keys only: a SIGN_VERIFY key (the acceptance certificate's) cannot
    rotate, and is exempt.

    Fix: Turn enable_key_rotation on (for an encryption key); encrypt each bucket with SSE-KMS under a customer key (kms_master_key_id) and
    set kms_key_id (kms_key_arn for guardrails and AMP workspaces) to a customer key."""
    encrypted_buckets = set()
    for r in args.resources:
        t, p = r.resource_type, r.props
        if (t == KMS_KEY and not p.get("enableKeyRotation") and not p.get("customKeyStoreId")
                and p.get("keyUsage") != SIGN_VERIFY):
            report(f"KMS key {r.name} does not rotate", r.urn)
        if t in BUCKET_SSE:
            defaults = [rule.get("applyServerSideEncryptionByDefault") or {} for rule in as_list(p.get("rules"))]
            if any(str(d.get("sseAlgorithm", "")).startswith("aws:kms") and d.get("kmsMasterKeyId") for d in defaults):
                encrypted_buckets.add(p.get("bucket"))
            else:
                report(f"{r.name}: bucket encryption does not use a customer KMS key", r.urn)
        for kind, key in ((LOG_GROUP, "kmsKeyId"), (SAGEMAKER_DOMAIN, "kmsKeyId"), (SECRET, "kmsKeyId"), (GUARDRAIL, "kmsKeyArn"),
                          (AMP_WORKSPACE, "kmsKeyArn")):
            if t == kind and not p.get(key):
                report(f"{r.name} ({t.rsplit(':', 1)[-1]}) is not encrypted with a customer key", r.urn)
    for r in args.resources:
        if r.resource_type in BUCKETS and not ({r.props.get("id"), r.props.get("bucket")} & encrypted_buckets):
            report(f"bucket {r.name} has no SSE-KMS configuration with a customer key", r.urn)


@control("SOV-05", "Buckets private and TLS-only: public access blocked, no public grants, a deny on insecure transport", kind="stack")
def private_buckets(args: StackValidationArgs, report):
    """Public-access blocks, bucket policies and ACLs of every bucket, read together.

    Fix: Add a BucketPublicAccessBlock with all four flags on, a bucket policy that denies aws:SecureTransport
    false, no public ACL, and no Allow to any principal without a condition."""
    blocked, tls_only = set(), set()
    for r in args.resources:
        p = r.props
        if r.resource_type == BUCKET_PAB:
            flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
            if all(p.get(f) for f in flags):
                blocked.add(p.get("bucket"))
            else:
                report(f"{r.name}: not every public-access block flag is on", r.urn)
        if r.resource_type == BUCKET_POLICY:
            for s in statements(p.get("policy")):
                if s.get("Effect") == "Deny" and "false" in [str(v).lower() for v in condition_values(s, "aws:SecureTransport")]:
                    tls_only.add(p.get("bucket"))
                if is_allow(s) and "*" in principals(s) and not s.get("Condition"):
                    report(f"{r.name}: bucket policy grants access to any principal", r.urn)
    for r in args.resources:
        if r.resource_type in BUCKETS:
            names = {r.props.get("id"), r.props.get("bucket")}
            if not names & blocked:
                report(f"bucket {r.name} has no public-access block", r.urn)
            if not names & tls_only:
                report(f"bucket {r.name} has no policy denying insecure transport (aws:SecureTransport)", r.urn)
            if r.props.get("acl") in ("public-read", "public-read-write", "authenticated-read"):
                report(f"bucket {r.name} has a public ACL", r.urn)


@control("SOV-06", "Least privilege: no wildcard actions or admin policies, no wildcard principals, Roles Anywhere trust scoped, logs and network interfaces scoped", kind="stack")
def least_privilege(args: StackValidationArgs, report):
    """Identity, resource and trust policies and managed-policy attachments; a permissions boundary may hold service
    wildcards.

    Fix: List the actions and resources each role needs instead of `*` or `service:*`; drop broad managed policies;
    name principals; scope Roles Anywhere trust by certificate subject and aws:SourceArn."""
    # A permissions boundary is a ceiling, not a grant: service wildcards there give nothing by themselves.
    boundaries = {r.props.get("permissionsBoundary") for r in args.resources if r.resource_type == ROLE}
    for r in args.resources:
        t, p = r.resource_type, r.props
        is_boundary = t == IAM_POLICY and ({p.get("arn"), p.get("id")} & boundaries)
        for doc in identity_documents(t, p):
            for s in statements(doc):
                wild = [a for a in as_list(s.get("Action")) if a == "*" or (str(a).endswith(":*") and not is_boundary)]
                if is_allow(s) and wild:
                    report(f"{r.name}: policy allows wildcard action(s) {', '.join(wild)}", r.urn)
                if is_allow(s) and s.get("NotAction") and not is_boundary:
                    report(f"{r.name}: policy allows NotAction (everything but a list)", r.urn)
                unscoped = [a for a in as_list(s.get("Action")) if str(a).lower() in SCOPED_ACTIONS]
                if is_allow(s) and unscoped and not is_boundary and "*" in as_list(s.get("Resource")) \
                        and not {"ec2:vpc", "ec2:subnet"} & condition_keys(s):
                    report(f"{r.name}: {', '.join(unscoped)} on every resource (scope logs to their log groups, "
                           f"network interfaces to the factory's VPC)", r.urn)
        if t in RESOURCE_POLICY_PROPS and t != ENDPOINT:
            for s in statements(p.get(RESOURCE_POLICY_PROPS[t])):
                if is_allow(s) and "*" in principals(s) and not s.get("Condition"):
                    report(f"{r.name}: resource policy allows any principal without a condition", r.urn)
        if t == ROLE_ATTACHMENT and str(p.get("policyArn", "")).rsplit("/", 1)[-1] in ADMIN_MANAGED_POLICIES:
            report(f"{r.name}: attaches the broad managed policy {p.get('policyArn')}", r.urn)
        if t == ROLE:
            for s in statements(p.get("assumeRolePolicy")):
                if is_allow(s) and "*" in principals(s):
                    report(f"{r.name}: trust policy lets any principal assume the role", r.urn)
                if is_allow(s) and "rolesanywhere.amazonaws.com" in principals(s):
                    keys = condition_keys(s)
                    if not any(k.startswith(("aws:principaltag/x509subject/", "aws:principaltag/x509issuer/")) for k in keys) or "aws:sourcearn" not in keys:
                        report(f"{r.name}: Roles Anywhere trust is not scoped by certificate subject and trust anchor (aws:SourceArn)", r.urn)


GUARDRAIL_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:[0-9]{12}:guardrail/[a-z0-9]+$")


def guardrail_condition_problem(values: list, guardrails: set[str]) -> str | None:
    """Why the values of a bedrock:GuardrailIdentifier condition do not name a guardrail, or None.

    Each value must be a guardrail ARN (of a guardrail in the stack when it has any), bare or with
    `:*` / `:<version>`: a condition holding "None" or an id would let no request through, or the wrong one.
    """
    if not values:
        return "it has no value"
    for value in (str(v) for v in values):
        base = re.sub(r":(\*|[0-9]+|DRAFT)$", "", value)
        if not GUARDRAIL_ARN.match(base):
            return f"{value!r} is not a guardrail ARN"
        if guardrails and base not in guardrails:
            return f"{value!r} names no guardrail of this stack"
    return None


@control("SOV-07", "Bedrock prompts and outputs stay: guardrail required, logging off or in-region to a CMK bucket, no routing outside allowed regions", kind="stack")
def bedrock_stays(args: StackValidationArgs, report):
    """Policies that allow Bedrock invocation, guardrail conditions, inference-profile routing and invocation
    logging, read together.

    Fix: Condition Bedrock invocation on bedrock:GuardrailIdentifier with the guardrail's ARN, log invocations only
    to an in-region bucket under a customer key, and use profiles that route inside the allowed regions."""
    allowed = pinned_regions(args.resources)
    guardrails = {str(r.props.get("guardrailArn")) for r in args.resources if r.resource_type == GUARDRAIL and r.props.get("guardrailArn")}
    sse_buckets = {r.props.get("bucket") for r in args.resources if r.resource_type in BUCKET_SSE}
    profiles = catalog.bedrock().inference_profiles
    for r in args.resources:
        t, p = r.resource_type, r.props
        for doc in identity_documents(t, p) + ([p.get("policy")] if t == ENDPOINT else []):
            for s in statements(doc):
                actions = as_list(s.get("Action"))
                guarded = is_allow(s) and any(a in GUARDED_BEDROCK_ACTIONS for a in actions)
                if guarded and t != ENDPOINT and "bedrock:guardrailidentifier" not in condition_keys(s):
                    report(f"{r.name}: allows Bedrock inference without requiring the guardrail (bedrock:GuardrailIdentifier)", r.urn)
                elif guarded and "bedrock:guardrailidentifier" in condition_keys(s):
                    problem = guardrail_condition_problem(condition_values(s, "bedrock:GuardrailIdentifier"), guardrails)
                    if problem:
                        report(f"{r.name}: the guardrail condition (bedrock:GuardrailIdentifier) is wrong: {problem}", r.urn)
                for arn in (str(a) for a in as_list(s.get("Resource")) if is_allow(s)):
                    model = arn.rsplit("/", 1)[-1] if ":inference-profile/" in arn else None
                    outside = set(profiles[model].routes_to) - allowed if model in profiles and allowed else set()
                    if outside:
                        report(f"{r.name}: inference profile {model} routes to {', '.join(sorted(outside))}, outside the allowed regions", r.urn)
        if t == INVOCATION_LOGGING:
            config = p.get("loggingConfig") or {}
            region = p.get("region")
            if region and allowed and region not in allowed:
                report(f"{r.name}: invocation logs go to {region}, outside the allowed regions", r.urn)
            bucket = (config.get("s3Config") or {}).get("bucketName")
            if bucket and bucket not in sse_buckets:
                report(f"{r.name}: invocation logs go to bucket {bucket}, which has no customer-key encryption", r.urn)


@control("SOV-08", "Hybrid link hardened: IKEv2, AES-256, SHA-2, DH 19+, BGP; TGW segmented; DX prefixes explicit")
def hardened_link(args: ResourceValidationArgs, report):
    """VPN connections, transit gateways and Direct Connect gateway associations, one at a time.

    Fix: Set both tunnels to ikev2 with AES256 / SHA2 / DH group 19 or higher and BGP routing; disable the transit
    gateway's default route-table association, propagation and auto-accept; list allowed prefixes on the Direct
    Connect association."""
    t, p = args.resource_type, args.props
    if t == VPN:
        if p.get("staticRoutesOnly"):
            report("VPN uses static routes instead of BGP")
        for tunnel in ("tunnel1", "tunnel2"):
            if as_list(p.get(f"{tunnel}IkeVersions")) != ["ikev2"]:
                report(f"{tunnel}: IKE versions must be exactly ikev2")
            for phase in ("Phase1", "Phase2"):
                ciphers = set(as_list(p.get(f"{tunnel}{phase}EncryptionAlgorithms")))
                integrity = set(as_list(p.get(f"{tunnel}{phase}IntegrityAlgorithms")))
                groups = [int(g) for g in as_list(p.get(f"{tunnel}{phase}DhGroupNumbers"))]
                if not ciphers or not ciphers <= STRONG_CIPHERS:
                    report(f"{tunnel} {phase.lower()}: encryption must be AES-256 only (given {sorted(ciphers) or 'AWS defaults'})")
                if not integrity or not integrity <= STRONG_INTEGRITY:
                    report(f"{tunnel} {phase.lower()}: integrity must be SHA-2 only (given {sorted(integrity) or 'AWS defaults'})")
                if not groups or min(groups) < MIN_DH_GROUP:
                    report(f"{tunnel} {phase.lower()}: DH groups must be {MIN_DH_GROUP} or higher (given {groups or 'AWS defaults'})")
    if t == TGW:
        for key in ("defaultRouteTableAssociation", "defaultRouteTablePropagation", "autoAcceptSharedAttachments"):
            if p.get(key, "enable" if key != "autoAcceptSharedAttachments" else "disable") != "disable":
                report(f"transit gateway {key} must be disable")
    if t == DX_ASSOCIATION and not as_list(p.get("allowedPrefixes")):
        report("Direct Connect gateway association has no explicit allowed prefixes")


@control("SOV-09", "Residency: every region the factory uses lies in one residency zone", kind="stack")
def residency(args: StackValidationArgs, report):
    """The regions every resource and endpoint uses, and the regions region pinning allows.

    Fix: Move the resource to a region of the residency zone (sovereignty.residency), and allow only regions of that
    zone."""
    zones = catalog.residency_zones()
    zone_of = {region: zone for zone, regions in zones.items() for region in regions}
    used: dict[str, list[PolicyResource]] = {}
    for r in args.resources:
        regions = as_list(r.props.get("region")) if r.resource_type.startswith(("aws:", "pulumi:providers:aws")) else []
        service = str(r.props.get("serviceName") or "")
        if r.resource_type == ENDPOINT and service.startswith("com.amazonaws."):
            regions.append(service.split(".")[2])
        for region in regions:
            used.setdefault(region, []).append(r)
    for region in pinned_regions(args.resources):
        used.setdefault(region, [])
    wanted = args.get_config().get("residency")
    home_zones = {zone_of.get(region) for region in used}
    if wanted is None and len(home_zones) == 1:
        return
    for region, users in sorted(used.items()):
        zone = zone_of.get(region)
        if zone is None or (wanted and zone != wanted) or (not wanted and len(home_zones) > 1):
            where = f"used by {', '.join(r.name for r in users[:3])}" if users else "allowed by region pinning"
            report(f"region {region} (zone {zone or 'unknown'}) is outside the residency zone {wanted or 'shared by the others'} ({where})",
                   users[0].urn if users else None)


def arn_region(arn: str) -> str:
    """The region field of an ARN ("" when it has none or is no ARN)."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" else ""


@control("SOV-09", "Residency: metrics written to Amazon Managed Service for Prometheus stay in the home region", kind="stack")
def metrics_in_home_region(args: StackValidationArgs, report):
    """Each AMP workspace's region (its region, else its ARN's), against the stack's home region (its PulumiState's).

    Fix: Declare the workspace with the program's provider (the home region), not a provider or region of its own;
    Prometheus reaches it only through the home region's aps-workspaces endpoint."""
    homes = {str(r.props.get("homeRegion")) for r in args.resources if r.resource_type == PULUMI_STATE and r.props.get("homeRegion")}
    for r in args.resources:
        if r.resource_type != AMP_WORKSPACE:
            continue
        region = str(r.props.get("region") or arn_region(str(r.props.get("arn") or "")))
        if region and homes and region not in homes:
            report(f"metrics workspace {r.name} is in {region}, outside the home region {', '.join(sorted(homes))}", r.urn)


@control("SOV-10", "Audit kept: flow logs on every VPC (all traffic), VPN tunnel logging on", kind="stack")
def audit_kept(args: StackValidationArgs, report):
    """Flow logs of every VPC and the tunnel options of every VPN.

    Fix: Add a FlowLog of traffic_type ALL for each VPC, and turn on cloudwatch log_enabled in both tunnels' log
    options."""
    logged = {r.props.get("vpcId") for r in args.resources if r.resource_type == FLOW_LOG and r.props.get("trafficType") == "ALL"}
    for r in args.resources:
        if r.resource_type == VPC and r.props.get("id") not in logged:
            report(f"VPC {r.name} has no flow log of all traffic", r.urn)
        if r.resource_type == VPN:
            for tunnel in ("tunnel1", "tunnel2"):
                options = (r.props.get(f"{tunnel}LogOptions") or {}).get("cloudwatchLogOptions") or {}
                if not options.get("logEnabled"):
                    report(f"VPN {r.name} {tunnel}: tunnel logging is off", r.urn)


@control("SOV-11", "Policy documents whole: no null, None or empty value anywhere in a policy (an output the program wrote before it was known)")
def whole_policies(args: ResourceValidationArgs, report):
    """Every policy document a resource carries, each value in it.

    Fix: Build the policy inside an Output's apply (or pulumi.Output.json_dumps), so that ARNs and ids are known
    when the document is written."""
    for prop, document in policy_documents(args.props):
        try:
            parsed = json.loads(document) if isinstance(document, str) else document
        except json.JSONDecodeError:
            continue  # AWS rejects it, naming the resource
        unset = unset_values(parsed)
        if unset:
            report(f"{prop} holds unset values: {'; '.join(unset[:3])}")


@control("SOV-12", "Keys administered and used by named roles only: no kms:Create* or kms:*, CreateGrant only for AWS resources, no account-wide or wildcard principal")
def named_key_principals(args: ResourceValidationArgs, report):
    """Each key policy statement that allows access.

    Fix: List the administration actions instead of kms:* or kms:Create*, add kms:GrantIsForAWSResource to
    CreateGrant, and name the roles that use the key by their exact ARN."""
    if args.resource_type not in (KMS_KEY, KEY_POLICY):
        return
    for s in statements(args.props.get("policy")):
        if not is_allow(s):
            continue
        actions = [str(a) for a in as_list(s.get("Action"))]
        broad = [a for a in actions if a.lower() in BROAD_KEY_ACTIONS]
        if broad:
            report(f"key policy {s.get('Sid') or ''} allows {', '.join(broad)}: list the administration actions instead")
        grant_for_aws = "true" in [str(v).lower() for v in condition_values(s, "kms:GrantIsForAWSResource")]
        if any(a.lower() in ("kms:creategrant", "kms:*", "*") for a in actions) and not grant_for_aws:
            report(f"key policy {s.get('Sid') or ''} allows kms:CreateGrant without kms:GrantIsForAWSResource")
        aws_principals = as_list((s.get("Principal") or {}).get("AWS")) if isinstance(s.get("Principal"), dict) else as_list(s.get("Principal"))
        for principal in (str(p) for p in aws_principals):
            if principal == "*" or principal.endswith(":root") or "*" in principal:
                report(f"key policy {s.get('Sid') or ''} names {principal}, not the roles that need the key")
        if [v for v in condition_values(s, "aws:PrincipalArn") if "*" in str(v)]:
            report(f"key policy {s.get('Sid') or ''} picks its principals by pattern (aws:PrincipalArn), not by exact ARN")


@control("SOV-12", "Every key has a key policy of its own", kind="stack")
def keys_have_policies(args: StackValidationArgs, report):
    """Every KMS key, with the key policies attached to it.

    Fix: Give each key a policy (the key's policy argument or an aws.kms.KeyPolicy) naming its administrators and
    users."""
    attached = {r.props.get("keyId") for r in args.resources if r.resource_type == KEY_POLICY}
    for key in (r for r in args.resources if r.resource_type == KMS_KEY):
        if not key.props.get("policy") and not ({key.props.get("id"), key.props.get("keyId"), key.props.get("arn")} & attached):
            report(f"KMS key {key.name} has no key policy (KMS's default lets every IAM policy of the account use it)", key.urn)


def trail_resource_types(props) -> set[str]:
    """The resource types whose data events a trail's advanced event selectors record."""
    return {str(v) for s in as_list(props.get("advancedEventSelectors")) for f in as_list(s.get("fieldSelectors"))
            if f.get("field") == "resources.type" for v in as_list(f.get("equals"))}


@control("SOV-13", "Audit kept in the home region: a CloudTrail trail with S3 and Bedrock data events into a CMK bucket "
                   "(or the organization's), S3 access logs for every bucket, IAM Access Analyzer, invocation logs expire", kind="stack")
def audit_trail_and_access_logs(args: StackValidationArgs, report):
    """Trails, bucket logging, the Access Analyzer and invocation-log lifecycles, read together.

    Fix: Add a CloudTrail trail with S3 and Bedrock data events encrypted under a customer key (or set
    sovereignty.audit_trail: organization), server access logging of every bucket into a bucket of the factory, an
    IAM Access Analyzer, and a lifecycle rule expiring invocation logs."""
    resources = args.resources
    buckets = [r for r in resources if r.resource_type in BUCKETS]
    names = lambda r: {r.props.get("id"), r.props.get("bucket")}  # noqa: E731
    if not args.get_config().get("organization_trail"):
        trails = [r for r in resources if r.resource_type == TRAIL and r.props.get("enableLogging", True) is not False]
        if not trails:
            for bucket in buckets or [None]:
                report(f"bucket {bucket.name}: no CloudTrail trail of the factory records its data events" if bucket
                       else "the factory has no CloudTrail trail", bucket.urn if bucket else None)
        for trail in trails:
            kinds = trail_resource_types(trail.props)
            if "AWS::S3::Object" not in kinds or not any(k.startswith("AWS::Bedrock::") for k in kinds):
                report(f"trail {trail.name} does not record S3 and Bedrock data events", trail.urn)
            if not trail.props.get("kmsKeyId"):  # CloudTrail encrypts each log file with it (SSE-KMS); SOV-04 checks the bucket
                report(f"trail {trail.name} does not encrypt its log files with a customer key (kmsKeyId)", trail.urn)
    logged = {r.props.get("bucket"): r.props.get("targetBucket") for r in resources if r.resource_type in BUCKET_LOGGING}
    targets = set(logged.values())
    own = {n for b in buckets for n in names(b)}
    for bucket in buckets:
        if names(bucket) & targets:
            continue  # the access-log bucket itself: logging it into itself would loop
        target = next((logged[n] for n in names(bucket) if n in logged), None)
        if target is None:
            report(f"bucket {bucket.name} has no S3 server access logging", bucket.urn)
        elif target not in own:
            report(f"bucket {bucket.name} logs its access to {target}, not a bucket of the factory's region", bucket.urn)
    if not any(r.resource_type == ACCESS_ANALYZER for r in resources) and resources:
        report("no IAM Access Analyzer in the home region")
    expiring = {r.props.get("bucket") for r in resources if r.resource_type in BUCKET_LIFECYCLE
                if any(rule.get("status") == "Enabled" and (rule.get("expiration") or {}).get("days")
                       and (rule.get("noncurrentVersionExpiration") or {}).get("noncurrentDays")
                       for rule in as_list(r.props.get("rules")))}
    for r in resources:
        bucket = ((r.props.get("loggingConfig") or {}).get("s3Config") or {}).get("bucketName") if r.resource_type == INVOCATION_LOGGING else None
        if bucket and bucket not in expiring:
            report(f"{r.name}: invocation logs in {bucket} never expire (no lifecycle rule for current and noncurrent versions)", r.urn)


@control("SOV-14", f"Hybrid activations expire: an SSM activation lasts at most {MAX_ACTIVATION_DAYS} days")
def activation_expires(args: ResourceValidationArgs, report):
    """Each SSM hybrid activation's expiration date.

    Fix: Set expiration_date to an RFC 3339 time at most 30 days ahead (the spec's activation lifetime)."""
    if args.resource_type != SSM_ACTIVATION:
        return
    expiry = args.props.get("expirationDate")
    if not expiry:
        report("SSM activation has no expiration date (AWS's default is 24 hours, a program's should be explicit)")
        return
    try:
        when = datetime.fromisoformat(str(expiry).replace("Z", "+00:00"))
    except ValueError:
        report(f"SSM activation expiration date {expiry!r} is not an RFC 3339 time")
        return
    if when - datetime.now(timezone.utc) > timedelta(days=MAX_ACTIVATION_DAYS, hours=1):
        report(f"SSM activation expires {expiry}, more than {MAX_ACTIVATION_DAYS} days away")


# Query parameters of the gocloud.dev URLs Pulumi opens (s3blob for the S3 backend, awskms for the secrets
# provider: gocloud.dev/aws's ConfigFromURLParams and s3blob's URL opener) that send the requests elsewhere
# than AWS's regional endpoint (`endpoint`; `s3ForcePathStyle` only acts with it) or without TLS.
TLS_OFF_PARAMETERS = ("disablessl", "disable_https")


def url_redirections(query: str) -> list[str]:
    """How a gocloud.dev URL's query sends requests elsewhere: another endpoint, TLS off, several regions."""
    found = []
    for name, values in parse_qs(query, keep_blank_values=True).items():
        if name.lower() == "endpoint":
            found.append(f"overrides AWS's endpoint ({name}=)")
        elif name.lower() in TLS_OFF_PARAMETERS and any(value.lower() != "false" for value in values):
            found.append(f"turns TLS off ({name}=)")
        elif name == "region" and len(values) > 1:
            found.append("names more than one region")
    return found


def state_problems(backend_url: str, secrets_provider: str, home_region: str, missing_stack_file: str = "") -> list[str]:
    """Why a stack's state backend or secrets provider leaves the home region or the customer's keys, or
    is reached at another endpoint than AWS's or without TLS; with `missing_stack_file` (the stack file
    looked for and not found), that file is the problem: what it would declare is not judged."""
    problems = []
    if missing_stack_file:
        problems.append(f"found no stack file {missing_stack_file}, which declares the stack's secrets provider "
                        "(and its aifactory:stateBackend): write it with the settings `aifactory bootstrap SITE` prints")
    backend = urlparse(backend_url)
    if not backend_url:
        if not missing_stack_file:
            problems.append("the state backend is Pulumi's default, the Pulumi Cloud service")
    elif backend.scheme != "s3":
        problems.append(f"the state backend {backend_url} is not an S3 bucket of the customer's")
    elif redirections := url_redirections(backend.query):
        problems.append(f"the state backend {backend_url} {' and '.join(redirections)}: keep only ?region={home_region} "
                        "(and awssdk=), so that the state goes to S3's own endpoint in the home region over TLS")
    elif parse_qs(backend.query).get("region", [""])[0] != home_region:
        problems.append(f"the state backend {backend_url} is not pinned to the home region {home_region} (?region=)")
    if missing_stack_file:
        return problems
    secrets = urlparse(secrets_provider)
    key = (secrets.netloc + secrets.path).lstrip("/")
    key_region = key.split(":")[3] if key.startswith("arn:") and key.count(":") >= 5 else parse_qs(secrets.query).get("region", [""])[0]
    if secrets.scheme != "awskms":
        problems.append(f"the secrets provider is {secrets_provider or 'the default'}, not a customer KMS key (awskms://)")
    elif key.startswith("alias/aws/"):
        problems.append(f"the secrets provider key {key} is AWS-managed, not the customer's")
    elif redirections := url_redirections(secrets.query):
        problems.append(f"the secrets provider {secrets_provider} {' and '.join(redirections)}: keep only the key "
                        "and its region, so that it is used at KMS's own endpoint in the home region over TLS")
    elif key_region != home_region:
        problems.append(f"the secrets provider key {key} is not in the home region {home_region}")
    return problems


@control("SOV-15", "State and secrets stay home: the Pulumi state in an S3 bucket and the secrets under a customer KMS key, both in the home region", kind="stack")
def state_stays_home(args: StackValidationArgs, report):
    """The stack's declared state backend and secrets provider (infra/state.py's PulumiState).

    Fix: Run `aifactory bootstrap SITE` and put what it prints in Pulumi.<stack>.yaml: the S3 backend with
    ?region=<home region> and an awskms:// secrets provider in the home region."""
    states = [r for r in args.resources if r.resource_type == PULUMI_STATE]
    if not states and any(r.resource_type.startswith("aws:") for r in args.resources):
        report("the stack does not declare its state backend and secrets provider (infra.state.PulumiState)")
    for state in states:
        p = state.props
        for problem in state_problems(str(p.get("backendUrl") or ""), str(p.get("secretsProvider") or ""),
                                      str(p.get("homeRegion") or ""), str(p.get("missingStackFile") or "")):
            report(problem, state.urn)


POLICIES = [c.policy for c in CONTROLS]
