"""The real Pulumi program, run by the plan's engine for each example site: wiring and secure defaults.

Assertions read the inputs the engine recorded (camelCase, as the engine sees them; secrets unwrapped,
their paths in `secret_paths`). Ids and ARNs are the engine's mock outputs, read from the resources.
"""

from __future__ import annotations

import json
import re

import pytest

from aifactory.aws.plan.engine import MockOnlyBackend
from aifactory.spec import load_spec
from aifactory.spec.validators import az_subnets
from infra.private_services import services
from tests.conftest import site_dir
from tests.infra.conftest import program_run

OUTPUTS = {"region", "vpc_id", "transit_gateway_id", "vpn_connection_ids", "endpoint_dns", "resolver_inbound_ips",
           "trust_anchor_arn", "node_profile_arn", "node_role_arn", "ssm_activation_id", "ssm_activation_code",
           "guardrail_id", "guardrail_version", "kms_key_arns", "region_pinning_scp"}
# Written out here, not imported from infra, so that weakening the program's constant turns a test red.
TUNNEL_CRYPTO = {
    "ike_versions": ["ikev2"],
    "phase1_encryption_algorithms": ["AES256", "AES256-GCM-16"],
    "phase2_encryption_algorithms": ["AES256", "AES256-GCM-16"],
    "phase1_integrity_algorithms": ["SHA2-256", "SHA2-384", "SHA2-512"],
    "phase2_integrity_algorithms": ["SHA2-256", "SHA2-384", "SHA2-512"],
    "phase1_dh_group_numbers": [19, 20, 21],
    "phase2_dh_group_numbers": [19, 20, 21],
}
INTERNET_PATHS = {"aws:ec2/internetGateway:InternetGateway", "aws:ec2/natGateway:NatGateway",
                  "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway", "aws:ec2/eip:Eip",
                  "aws:ec2/internetGatewayAttachment:InternetGatewayAttachment"}


def camel(option: str) -> str:
    head, *rest = option.split("_")
    return head + "".join(word.capitalize() for word in rest)


@pytest.fixture
def spec(site):
    return load_spec(site_dir(site))


def test_exports_exactly_the_outputs_the_playbooks_use(run, spec):
    assert set(run.outputs) == OUTPUTS | ({"amp_remote_write_url"} if spec.monitoring.amp_remote_write else set())
    assert run.outputs["region"] == spec.sovereignty.region
    assert json.loads(run.outputs["region_pinning_scp"])["Statement"][0]["Effect"] == "Deny"
    assert set(run.outputs["endpoint_dns"]) == set(services(spec.monitoring.amp_remote_write))
    assert set(run.outputs["kms_key_arns"]) == {"data", "logs"}


def test_every_aws_resource_uses_the_home_region_provider_inside_a_component(run, spec):
    (provider,) = [p for p in run.providers if p.type == "pulumi:providers:aws"]
    assert provider.inputs["region"] == spec.sovereignty.region
    aws_resources = [r for r in run.resources if r.type.startswith("aws:")]
    assert aws_resources
    for resource in aws_resources:
        assert f"pulumi:providers:aws::{spec.name}-home::" in resource.provider, resource.name
        parents = resource.urn.split("::")[2].split("$")[:-1]  # the URN's type chain, down to the resource's own
        assert any(t.startswith("aifactory:infra:") for t in parents), resource.name
        assert resource.name.startswith(f"{spec.name}-"), resource.name


def test_no_internet_path(run, spec):
    assert not INTERNET_PATHS & {r.type for r in run.resources}
    subnets = run.of_type("aws:ec2/subnet:Subnet")
    assert sorted(s.inputs["cidrBlock"] for s in subnets) == sorted(
        str(n) for n in az_subnets(spec.hybrid_link.vpc_cidr, spec.hybrid_link.availability_zones))
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in subnets)
    routes = run.of_type("aws:ec2/route:Route")
    assert [(r.inputs["destinationCidrBlock"], "transitGatewayId" in r.inputs) for r in routes] == [
        (spec.network.onprem_cidr, True)]


def test_hub_vpc_dns_default_sg_and_flow_logs(run, spec):
    vpc = run.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["enableDnsSupport"] is True and vpc.inputs["enableDnsHostnames"] is True
    default_sg = run.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default_sg.inputs["ingress"] == [] and default_sg.inputs["egress"] == []
    flow = run.one("aws:ec2/flowLog:FlowLog")
    assert flow.inputs["trafficType"] == "ALL" and flow.inputs["logDestinationType"] == "cloud-watch-logs"
    logs_key = run.outputs["kms_key_arns"]["logs"]
    groups = run.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert groups and all(g.inputs["kmsKeyId"] == logs_key and g.inputs["retentionInDays"] >= 365 for g in groups)


def test_hub_default_nacl_admits_only_on_prem_and_hub_on_the_needed_ports(run, spec):
    acl = run.one("aws:ec2/defaultNetworkAcl:DefaultNetworkAcl")
    # sorted: the engine records resources as the SDK's threads register them, not in the program's order
    assert sorted(acl.inputs["subnetIds"]) == sorted(s.id for s in run.of_type("aws:ec2/subnet:Subnet"))
    onprem, hub = spec.network.onprem_cidr, spec.hybrid_link.vpc_cidr
    rules = {d: {(r["protocol"], r["fromPort"], r["toPort"], r["cidrBlock"]) for r in acl.inputs[d]} for d in ("ingress", "egress")}
    assert {r["action"] for d in ("ingress", "egress") for r in acl.inputs[d]} == {"allow"}
    assert {cidr for d in rules.values() for *_, cidr in d} == {onprem, hub}
    assert {("tcp", 443, 443, onprem), ("tcp", 53, 53, onprem), ("udp", 53, 53, onprem)} <= rules["ingress"]
    assert ("tcp", 1024, 65535, onprem) in rules["egress"]
    nfs = ("tcp", 2049, 2049, hub)
    assert (nfs in rules["egress"]) == spec.aws_services.sagemaker.domain
    assert not any(low <= 22 <= high for d in rules.values() for _, low, high, _ in d)  # no SSH, no "all ports"


def test_resolver_inbound_endpoint_answers_on_prem_only(run, spec):
    endpoint = run.one("aws:route53/resolverEndpoint:ResolverEndpoint")
    assert endpoint.inputs["direction"] == "INBOUND"
    assert [a["ip"] for a in endpoint.inputs["ipAddresses"]] == run.outputs["resolver_inbound_ips"]
    sg = run.named(f"{spec.name}-resolver-sg")
    assert endpoint.inputs["securityGroupIds"] == [sg.id]
    assert sorted((r["protocol"], r["fromPort"], r["toPort"], tuple(r["cidrBlocks"])) for r in sg.inputs["ingress"]) == [
        ("tcp", 53, 53, (spec.network.onprem_cidr,)), ("udp", 53, 53, (spec.network.onprem_cidr,))]


def test_transit_gateway_segmented_and_every_attachment_routed(run, spec):
    tgw = run.one("aws:ec2transitgateway/transitGateway:TransitGateway")
    assert tgw.inputs["amazonSideAsn"] == spec.hybrid_link.aws_asn
    for option in ("defaultRouteTableAssociation", "defaultRouteTablePropagation", "autoAcceptSharedAttachments"):
        assert tgw.inputs[option] == "disable", option
    attachment = run.one("aws:ec2transitgateway/vpcAttachment:VpcAttachment")
    assert attachment.inputs["transitGatewayDefaultRouteTableAssociation"] is False
    expected = 1 + len(spec.hybrid_link.vpn) + (1 if spec.hybrid_link.direct_connect else 0)
    for typ in ("aws:ec2transitgateway/routeTableAssociation:RouteTableAssociation",
                "aws:ec2transitgateway/routeTablePropagation:RouteTablePropagation"):
        assert len(run.of_type(typ)) == expected, typ
        assert {r.inputs["transitGatewayRouteTableId"] for r in run.of_type(typ)} == {run.named(f"{spec.name}-tgw-rt").id}


def test_direct_connect_transit_vifs_and_allowed_prefixes(run, spec):
    vifs = run.of_type("aws:directconnect/transitVirtualInterface:TransitVirtualInterface")
    # sorted: the SDK registers resources from concurrent tasks, so their order is not the program's
    assert sorted((v.inputs["connectionId"], v.inputs["vlan"]) for v in vifs) == sorted(
        (c.connection_id, c.vlan) for c in spec.hybrid_link.direct_connect)
    for vif in vifs:
        assert vif.inputs["bgpAsn"] == spec.hybrid_link.onprem_asn and vif.inputs["addressFamily"] == "ipv4"
        assert vif.secret_paths == {"bgpAuthKey"}
    associations = run.of_type("aws:directconnect/gatewayAssociation:GatewayAssociation")
    assert len(associations) == (1 if spec.hybrid_link.direct_connect else 0)
    for association in associations:
        assert association.inputs["allowedPrefixes"] == [spec.hybrid_link.vpc_cidr]
        assert association.inputs["associatedGatewayId"] == run.named(f"{spec.name}-tgw").id


def test_vpn_bgp_strong_crypto_logged_keys_secret(run, spec):
    gateways = run.of_type("aws:ec2/customerGateway:CustomerGateway")
    assert sorted((g.inputs["ipAddress"], g.inputs["bgpAsn"], g.inputs["type"]) for g in gateways) == sorted(
        (p.peer_ip, str(spec.hybrid_link.onprem_asn), "ipsec.1") for p in spec.hybrid_link.vpn)
    vpns = run.of_type("aws:ec2/vpnConnection:VpnConnection")
    assert len(vpns) == len(spec.hybrid_link.vpn) and sorted(v.id for v in vpns) == sorted(run.outputs["vpn_connection_ids"])
    for vpn in vpns:
        assert vpn.inputs["staticRoutesOnly"] is False and vpn.inputs["transitGatewayId"] == run.named(f"{spec.name}-tgw").id
        assert vpn.inputs["presharedKeyStorage"] == "SecretsManager"
        assert {"tunnel1PresharedKey", "tunnel2PresharedKey", "customerGatewayConfiguration"} <= vpn.secret_paths
        for tunnel in (1, 2):
            for option, value in TUNNEL_CRYPTO.items():
                assert vpn.inputs[camel(f"tunnel{tunnel}_{option}")] == value, (tunnel, option)
            log = vpn.inputs[f"tunnel{tunnel}LogOptions"]["cloudwatchLogOptions"]
            assert log["logEnabled"] is True and log["bgpLogEnabled"] is True
            assert log["logGroupArn"] == run.named(f"{spec.name}-vpn-logs").outputs["arn"]
            assert f"tunnel{tunnel}PresharedKey" not in vpn.inputs  # AWS generates it: never in Pulumi state


def test_vpn_psk_from_config_secret(run_site):
    run = run_site("lab-b200", lambda data: None, {"aifactory:vpnPsk1": "a-psk-from-config-1"})
    (vpn,) = run.of_type("aws:ec2/vpnConnection:VpnConnection")
    for tunnel in (1, 2):  # reaches the engine as a secret value, never as plain text
        assert vpn.inputs[f"tunnel{tunnel}PresharedKey"] == "a-psk-from-config-1"
        assert f"tunnel{tunnel}PresharedKey" in vpn.secret_paths


def test_interface_endpoints_private_dns_explicit_sg_and_policy(run, spec):
    endpoints = {e.inputs["serviceName"]: e for e in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert set(endpoints) == {f"com.amazonaws.{spec.sovereignty.region}.{s}"
                              for s in services(spec.monitoring.amp_remote_write)}
    sg = run.named(f"{spec.name}-endpoints-sg")
    assert [(r["protocol"], r["fromPort"], r["toPort"], r["cidrBlocks"]) for r in sg.inputs["ingress"]] == [
        ("tcp", 443, 443, [spec.network.onprem_cidr, spec.hybrid_link.vpc_cidr])]
    assert sg.inputs["egress"] == []
    for name, endpoint in endpoints.items():
        assert endpoint.inputs["vpcEndpointType"] == "Interface", name
        assert endpoint.inputs["privateDnsEnabled"] is True, name
        assert endpoint.inputs["securityGroupIds"] == [sg.id], name
        assert json.loads(endpoint.inputs["policy"])["Statement"], name
    s3 = endpoints[f"com.amazonaws.{spec.sovereignty.region}.s3"]
    assert s3.inputs["dnsOptions"] == {"privateDnsOnlyForInboundResolverEndpoint": False}


def test_bedrock_runtime_endpoint_allows_the_spec_models_with_the_guardrail(run, spec):
    region = spec.sovereignty.region
    endpoint = next(e for e in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
                    if e.inputs["serviceName"] == f"com.amazonaws.{region}.bedrock-runtime")
    invoke = json.loads(endpoint.inputs["policy"])["Statement"][0]
    resources = set(invoke["Resource"])
    for model in spec.bedrock_foundation_models:
        assert {f"arn:aws:bedrock:{r}::foundation-model/{model}" for r in spec.sovereignty.allowed_regions} <= resources
    profiles = {m for m in spec.aws_services.bedrock.models if m not in spec.bedrock_foundation_models}
    assert {r.rsplit("/", 1)[1] for r in resources if ":inference-profile/" in r} == profiles
    assert all(f"bedrock:{region}:" in r for r in resources if ":inference-profile/" in r)
    guardrail = run.one("aws:bedrock/guardrail:Guardrail").outputs["guardrailArn"]
    assert guardrail.startswith(f"arn:aws:bedrock:{region}:")
    assert invoke["Condition"]["StringLike"]["bedrock:GuardrailIdentifier"] == [guardrail, f"{guardrail}:*"]


def kms_signs(spec) -> bool:
    """Whether the site signs its acceptance certificate with a KMS key (ohio-trn3 does)."""
    return spec.acceptance.certificate is not None and spec.acceptance.certificate.signing == "kms"


def test_keys_customer_managed_and_rotated(run, spec):
    keys = {k.name: k for k in run.of_type("aws:kms/key:Key")}
    signing = keys.pop(f"{spec.name}-acceptance-key", None)
    assert len(keys) == 2
    for key in keys.values():
        assert key.inputs["enableKeyRotation"] is True and key.inputs["deletionWindowInDays"] == 30
        assert "policy" not in key.inputs  # the key's policy is its own resource, written once the roles exist
    assert (signing is not None) == kms_signs(spec)
    if signing is not None:  # asymmetric: KMS cannot rotate it (SOV-04 exempts it)
        assert signing.inputs["keyUsage"] == "SIGN_VERIFY" and signing.inputs["customerMasterKeySpec"] == "ECC_NIST_P256"
        assert signing.inputs["enableKeyRotation"] is False


def test_key_policies_name_the_roles_that_need_each_key(run, spec):
    key_policies = {p.name: json.loads(p.inputs["policy"]) for p in run.of_type("aws:kms/keyPolicy:KeyPolicy")}
    signing = key_policies.pop(f"{spec.name}-acceptance-key-policy", None)
    assert set(key_policies) == {f"{spec.name}-data-key-policy", f"{spec.name}-logs-key-policy"}
    arn = {r.name: r.outputs["arn"] for r in run.of_type("aws:iam/role:Role")}.__getitem__
    deployer = MockOnlyBackend.caller_arn
    operators = sorted([arn(f"{spec.name}-operator-{i}") for i in range(1, len(spec.identity.operator_principals) + 1)] + [deployer])
    for document in key_policies.values():
        by_sid = {s["Sid"]: s for s in document["Statement"]}
        assert by_sid["NamedAdministrators"]["Principal"] == {"AWS": operators}
        assert not [a for s in document["Statement"] for a in s["Action"] if a in ("kms:*", "kms:Create*")]
    assert (signing is not None) == kms_signs(spec)
    if signing is not None:  # the operators and the deployer sign; nobody else, and nobody encrypts with it
        by_sid = {s["Sid"]: s for s in signing["Statement"]}
        assert set(by_sid) == {"NamedAdministrators", "NamedRolesSign"}
        assert by_sid["NamedRolesSign"]["Principal"] == {"AWS": operators}
        assert by_sid["NamedRolesSign"]["Action"] == ["kms:Sign", "kms:Verify", "kms:GetPublicKey", "kms:DescribeKey"]
    data = {s["Sid"]: s for s in key_policies[f"{spec.name}-data-key-policy"]["Statement"]}
    users = [deployer] + ([arn(f"{spec.name}-sagemaker-execution")] if spec.aws_services.sagemaker.domain else [])
    assert data["NamedRolesUseKey"]["Principal"] == {"AWS": sorted(users)}
    assert data["NamedRolesDecrypt"]["Principal"] == {"AWS": [arn(f"{spec.name}-node")]}


def test_permission_boundary_on_every_role(run, spec):
    roles = run.of_type("aws:iam/role:Role")
    expected = 1 + len(spec.identity.operator_principals) + spec.identity.ssm_hybrid_activation \
        + spec.aws_services.sagemaker.domain + 1  # node, operators, ssm, sagemaker, flow logs
    assert len(roles) == expected
    boundary = run.named(f"{spec.name}-region-boundary", "aws:iam/policy:Policy").outputs["arn"]
    assert {r.inputs.get("permissionsBoundary") for r in roles} == {boundary}


def test_guardrail_with_cmk_pii_action_and_topics(run, spec):
    guardrail = run.one("aws:bedrock/guardrail:Guardrail")
    assert guardrail.inputs["kmsKeyArn"] == run.outputs["kms_key_arns"]["data"]
    pii = guardrail.inputs["sensitiveInformationPolicyConfig"]["piiEntitiesConfigs"]
    assert {p["action"] for p in pii} == {spec.aws_services.bedrock.guardrail.pii.upper()}
    assert {"type": "PROMPT_ATTACK", "inputStrength": "HIGH", "outputStrength": "NONE"} in \
        guardrail.inputs["contentPolicyConfig"]["filtersConfigs"]
    assert guardrail.inputs["contentPolicyConfig"]["tierConfigs"] == [{"tierName": "CLASSIC"}]
    topics = guardrail.inputs.get("topicPolicyConfig", {}).get("topicsConfigs", [])
    assert [t["name"] for t in topics] == spec.aws_services.bedrock.guardrail.blocked_topics
    version = run.one("aws:bedrock/guardrailVersion:GuardrailVersion")
    assert version.inputs["guardrailArn"] == guardrail.outputs["guardrailArn"]


def test_invocation_logging_only_in_region_to_a_private_cmk_bucket(run, spec):
    logging = run.of_type("aws:bedrockmodel/invocationLoggingConfiguration:InvocationLoggingConfiguration")
    if spec.sovereignty.bedrock_invocation_logs == "disabled":
        assert logging == []
        return
    (config,) = logging
    bucket = config.inputs["loggingConfig"]["s3Config"]["bucketName"]
    assert bucket == run.named(f"{spec.name}-bedrock-logs", "aws:s3/bucket:Bucket").id
    policy = json.loads(run.named(f"{spec.name}-bedrock-logs-policy").inputs["policy"])
    assert policy["Statement"][1]["Principal"] == {"Service": "bedrock.amazonaws.com"}


def test_buckets_private_encrypted_versioned(run, spec):
    buckets = {b.name for b in run.of_type("aws:s3/bucket:Bucket")}
    expected = {f"{spec.name}-artifacts"} if spec.aws_services.sagemaker.domain else set()
    if spec.sovereignty.bedrock_invocation_logs == "in-region":
        expected.add(f"{spec.name}-bedrock-logs")
    logs_buckets = {f"{spec.name}-access-logs"} | ({f"{spec.name}-trail-logs"} if spec.sovereignty.audit_trail == "own" else set())
    assert buckets == expected | logs_buckets
    for bucket in buckets:
        block = run.named(f"{bucket}-public-access-block").inputs
        assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                              "restrictPublicBuckets"))
        (rule,) = run.named(f"{bucket}-sse").inputs["rules"]
        key = "logs" if bucket in logs_buckets else "data"
        assert rule["applyServerSideEncryptionByDefault"] == {
            "sseAlgorithm": "aws:kms", "kmsMasterKeyId": run.outputs["kms_key_arns"][key]}
        assert run.named(f"{bucket}-versioning").inputs["versioningConfiguration"] == {"status": "Enabled"}
        (tls,) = [s for s in json.loads(run.named(f"{bucket}-policy").inputs["policy"])["Statement"]
                  if s["Sid"] == "DenyInsecureTransport"]
        assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_sagemaker_domain_vpc_only_with_cmk(run, spec):
    domains = run.of_type("aws:sagemaker/domain:Domain")
    groups = run.of_type("aws:sagemaker/modelPackageGroup:ModelPackageGroup")
    if not spec.aws_services.sagemaker.domain:
        assert domains == [] and groups == []
        return
    (domain,) = domains
    assert domain.inputs["appNetworkAccessType"] == "VpcOnly"
    assert domain.inputs["kmsKeyId"] == run.outputs["kms_key_arns"]["data"]
    assert len(domain.inputs["subnetIds"]) == spec.hybrid_link.availability_zones
    assert sorted(g.inputs["modelPackageGroupName"] for g in groups) == sorted(
        f"{spec.name}-{g}" for g in spec.aws_services.sagemaker.model_groups)
    artifacts = json.loads(run.named(f"{spec.name}-artifacts-policy").inputs["policy"])["Statement"]
    assert artifacts[1]["Condition"]["StringNotEquals"] == {"aws:SourceVpce": run.named(f"{spec.name}-vpce-s3").id}


def test_metrics_workspace_only_where_the_spec_asks_under_the_data_key_written_by_the_node_role_only(run, spec):
    workspaces = run.of_type("aws:amp/workspace:Workspace")
    metrics_policies = [p for p in run.of_type("aws:iam/rolePolicy:RolePolicy") if p.name == f"{spec.name}-node-metrics"]
    if not spec.monitoring.amp_remote_write:  # sovereign by default: metrics stay on the head nodes
        assert workspaces == [] and metrics_policies == [] and "aps-workspaces" not in run.outputs["endpoint_dns"]
        return
    (workspace,) = workspaces
    assert workspace.inputs["kmsKeyArn"] == run.outputs["kms_key_arns"]["data"]
    assert workspace.inputs["alias"] == f"{spec.name}-metrics" and "region" not in workspace.inputs  # the home provider's
    (policy,) = metrics_policies
    assert policy.inputs["role"] == run.named(f"{spec.name}-node", "aws:iam/role:Role").id
    assert json.loads(policy.inputs["policy"])["Statement"] == [{
        "Sid": "RemoteWriteFactoryWorkspace", "Effect": "Allow", "Action": ["aps:RemoteWrite"],
        "Resource": [workspace.outputs["arn"]]}]
    endpoint = run.named(f"{spec.name}-vpce-aps-workspaces")
    assert json.loads(endpoint.inputs["policy"])["Statement"][0]["Action"] == ["aps:RemoteWrite"]
    assert run.outputs["endpoint_dns"]["aps-workspaces"] == f"aps-workspaces.{spec.sovereignty.region}.amazonaws.com"
    assert run.outputs["amp_remote_write_url"] == (f"https://aps-workspaces.{spec.sovereignty.region}.amazonaws.com"
                                                   f"/workspaces/{workspace.id}/api/v1/remote_write")


def test_roles_anywhere_trust_anchor_node_role_and_profile(run, spec):
    anchor = run.one("aws:rolesanywhere/trustAnchor:TrustAnchor")
    assert anchor.inputs["source"] == {"sourceType": "CERTIFICATE_BUNDLE",
                                       "sourceData": {"x509CertificateData": spec.trust_anchor_path.read_text()}}
    node = run.named(f"{spec.name}-node", "aws:iam/role:Role")
    trust = json.loads(node.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Condition"]["ArnEquals"] == {"aws:SourceArn": run.outputs["trust_anchor_arn"]}
    assert trust["Condition"]["StringLike"] == {"aws:PrincipalTag/x509Subject/CN": f"{spec.name}-*"}
    profile = run.one("aws:rolesanywhere/profile:Profile")
    assert profile.inputs["roleArns"] == [run.outputs["node_role_arn"]]
    operators = [r for r in run.of_type("aws:iam/role:Role") if "-operator-" in r.name]
    assert [json.loads(r.inputs["assumeRolePolicy"])["Statement"][0]["Principal"]["AWS"] for r in operators] == \
        spec.identity.operator_principals


def test_ssm_activation_code_is_a_secret_output(run, spec):
    activations = run.of_type("aws:ssm/activation:Activation")
    if not spec.identity.ssm_hybrid_activation:
        assert activations == [] and run.outputs["ssm_activation_code"] is None
        return
    (activation,) = activations
    assert activation.inputs["registrationLimit"] == spec.node_count
    assert "activationCode" in activation.secret_paths
    assert "ssm_activation_code" in run.secret_outputs
    assert run.secret_outputs == {"ssm_activation_code"}


def test_external_key_store(run_site):
    def xks(data):
        data["sovereignty"]["keys"] = "external-key-store"
        data["sovereignty"]["external_key_store"] = {"proxy_uri_endpoint": "https://xks.example.internal",
                                                     "connectivity": "public-endpoint"}
    run = run_site("lab-b200", xks, {"aifactory:xksAccessKeyId": "AKIDEXAMPLEXKS",
                                     "aifactory:xksSecretAccessKey": "s" * 43,
                                     "aifactory:xksKeyIdData": "ext-data", "aifactory:xksKeyIdLogs": "ext-logs"})
    store = run.one("aws:kms/customKeyStore:CustomKeyStore")
    credential = store.inputs["xksProxyAuthenticationCredential"]
    assert credential == {"accessKeyId": "AKIDEXAMPLEXKS", "rawSecretAccessKey": "s" * 43}
    assert "xksProxyAuthenticationCredential" in store.secret_paths  # the whole block is secret
    assert store.inputs["customKeyStoreType"] == "EXTERNAL_KEY_STORE"
    assert store.inputs["xksProxyConnectivity"] == "PUBLIC_ENDPOINT"
    keys = {k.name: k.inputs for k in run.of_type("aws:kms/key:Key")}
    assert {k["xksKeyId"] for k in keys.values()} == {"ext-data", "ext-logs"}
    assert all(k["customKeyStoreId"] == store.id and k["enableKeyRotation"] is False for k in keys.values())


def test_bad_spec_path_is_a_clean_error(tmp_path):
    run = program_run(tmp_path / "missing.yaml", "eu-west-3", "missing")
    (error,) = run.errors
    assert error.startswith("the program failed: RunError: ") and "no such file" in error
    assert run.resources == []


def test_every_bucket_logs_its_access_into_the_access_log_bucket(run, spec):
    buckets = {b.name for b in run.of_type("aws:s3/bucket:Bucket")}
    logging = {r.inputs["bucket"]: r.inputs["targetBucket"] for r in run.of_type("aws:s3/bucketLogging:BucketLogging")}
    bucket_id = {b.name: b.id for b in run.of_type("aws:s3/bucket:Bucket")}
    target = bucket_id[f"{spec.name}-access-logs"]
    assert logging == {bucket_id[b]: target for b in buckets - {f"{spec.name}-access-logs"}}


def test_home_region_trail_with_s3_and_bedrock_data_events_and_access_analyzer(run, spec):
    (analyzer,) = run.of_type("aws:accessanalyzer/analyzer:Analyzer")
    assert analyzer.inputs["type"] == "ACCOUNT"
    trail = run.one("aws:cloudtrail/trail:Trail")
    assert trail.inputs["isMultiRegionTrail"] is False and trail.inputs["enableLogFileValidation"] is True
    assert trail.inputs["kmsKeyId"] == run.outputs["kms_key_arns"]["logs"]
    assert trail.inputs["s3BucketName"] == run.named(f"{spec.name}-trail-logs", "aws:s3/bucket:Bucket").id
    kinds = {f["equals"][0] for s in trail.inputs["advancedEventSelectors"] for f in s["fieldSelectors"]
             if f["field"] == "resources.type"}
    assert {"AWS::S3::Object", "AWS::Bedrock::Guardrail"} <= kinds


def test_an_organization_trail_replaces_the_programs_own(run_site):
    run = run_site("lab-b200", lambda d: d["sovereignty"].update(audit_trail="organization"))
    assert run.of_type("aws:cloudtrail/trail:Trail") == []
    assert run.of_type("aws:accessanalyzer/analyzer:Analyzer")


def test_invocation_log_retention_from_the_spec(run_site):
    def mutate(d):
        d["sovereignty"].update(bedrock_invocation_logs="in-region", bedrock_invocation_log_days=90,
                                bedrock_invocation_log_noncurrent_days=7)
    run = run_site("lab-b200", mutate)
    (rule,) = run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
    assert rule["status"] == "Enabled" and rule["expiration"] == {"days": 90}
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 7}


def test_ssm_activation_expires_within_the_spec_days(run, spec):
    from datetime import datetime, timezone

    from infra.identity import activation_expiry
    assert activation_expiry(datetime(2026, 12, 1, 13, 0, tzinfo=timezone.utc), 30) == "2026-12-31T13:00:00Z"
    activations = run.of_type("aws:ssm/activation:Activation")
    assert len(activations) == spec.identity.ssm_hybrid_activation
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", a.inputs["expirationDate"]) for a in activations)


def test_activation_longer_than_ssm_allows_is_a_spec_error(write_site):
    from aifactory.spec import SpecError

    path = write_site("ohio-trn3", lambda d: d["identity"].update(ssm_activation_expiry_days=31))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert any(problem.path == "identity.ssm_activation_expiry_days" for problem in err.value.problems)
