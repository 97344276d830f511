"""The policy documents of infra/policies.py (and other pure helpers of the program), as data."""

from __future__ import annotations

import json

import pytest

from aifactory.spec.model import Guardrail, HybridLink
from infra import policies
from infra.bedrock import guardrail_arguments
from infra.hub_network import resolver_addresses
from infra.hybrid_link import dx_gateway_asn
from infra.metrics import remote_write_url
from infra.private_services import METRICS_SERVICE, SERVICES

ACCOUNT = "123456789012"
GUARDRAIL = f"arn:aws:bedrock:us-east-2:{ACCOUNT}:guardrail/abc"


def statements(document: str) -> list[dict]:
    parsed = json.loads(document)
    assert parsed["Version"] == "2012-10-17"
    return parsed["Statement"]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def assert_no_open_principal(document: str) -> None:
    """A wildcard principal only in a Deny, or pinned to the factory's account by a condition."""
    for s in statements(document):
        if s.get("Principal") == "*" and s["Effect"] == "Allow":
            assert s["Condition"]["StringEquals"]["aws:PrincipalAccount"] == ACCOUNT, s


def assert_no_star_action(document: str) -> None:
    for s in statements(document):
        if s["Effect"] == "Allow":
            assert "*" not in as_list(s["Action"]), s


def test_boundary_denies_outside_allowed_regions_but_exempts_global_services():
    allowed = ["us-east-2", "us-east-1"]
    allow, deny = statements(policies.region_pinning_boundary(allowed))
    assert allow["Effect"] == "Allow" and "*" not in allow["Action"]
    assert deny["Effect"] == "Deny" and deny["Resource"] == "*"
    assert deny["Condition"] == {"StringNotEquals": {"aws:RequestedRegion": allowed}}
    assert {"iam:*", "sts:*", "organizations:*", "route53:*"} <= set(deny["NotAction"])
    # regional services stay pinned: the factory's data, keys and links are regional
    assert not {"kms:*", "bedrock:*", "s3:*", "directconnect:*"} & set(deny["NotAction"])


def test_scp_is_the_same_region_deny():
    (scp,) = statements(policies.region_pinning_scp(["eu-west-3"]))
    assert scp == statements(policies.region_pinning_boundary(["eu-west-3"]))[1]


@pytest.mark.parametrize("service", [s for s in SERVICES if s != "bedrock-runtime"])
def test_endpoint_policy_is_for_the_account_and_the_service(service):
    document = policies.endpoint_policy(service, ACCOUNT)
    assert_no_open_principal(document)
    assert_no_star_action(document)
    (statement,) = statements(document)
    prefix = service.split(".")[0].removesuffix("-agent-runtime")
    assert all(action.startswith(f"{prefix}:") for action in statement["Action"]), statement["Action"]


def test_metrics_endpoint_and_node_role_may_only_remote_write_into_the_workspace():
    (endpoint,) = statements(policies.endpoint_policy(METRICS_SERVICE, ACCOUNT))
    assert endpoint["Action"] == ["aps:RemoteWrite"]
    assert endpoint["Condition"] == {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}
    workspace = f"arn:aws:aps:eu-west-3:{ACCOUNT}:workspace/ws-1"
    assert statements(policies.amp_remote_write_policy(workspace)) == [{
        "Sid": "RemoteWriteFactoryWorkspace", "Effect": "Allow", "Action": ["aps:RemoteWrite"], "Resource": [workspace]}]
    allow, _ = statements(policies.region_pinning_boundary(["eu-west-3"]))
    assert "aps:RemoteWrite" in allow["Action"] and not [a for a in allow["Action"] if a.startswith("aps:") and a != "aps:RemoteWrite"]
    assert remote_write_url("aps-workspaces.eu-west-3.amazonaws.com", "ws-1") == \
        "https://aps-workspaces.eu-west-3.amazonaws.com/workspaces/ws-1/api/v1/remote_write"


def test_s3_endpoint_also_pins_the_bucket_account():
    (statement,) = statements(policies.endpoint_policy("s3", ACCOUNT))
    assert statement["Condition"]["StringEquals"]["aws:ResourceAccount"] == ACCOUNT


def test_model_arns_foundation_models_in_allowed_regions_profiles_in_home_region():
    arns = policies.bedrock_model_arns("aws", ACCOUNT, "us-east-2", ["us-east-2", "us-west-2"],
                                       ["anthropic.claude-x"], ["us.anthropic.claude-x"])
    assert arns == ["arn:aws:bedrock:us-east-2::foundation-model/anthropic.claude-x",
                    "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-x",
                    f"arn:aws:bedrock:us-east-2:{ACCOUNT}:inference-profile/us.anthropic.claude-x"]


def test_bedrock_runtime_endpoint_only_the_models_and_only_with_the_guardrail():
    models = ["arn:aws:bedrock:us-east-2::foundation-model/m1"]
    document = policies.bedrock_runtime_endpoint_policy(ACCOUNT, models, GUARDRAIL)
    assert_no_open_principal(document)
    invoke, apply_guardrail = statements(document)
    assert invoke["Action"] == ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
    assert invoke["Resource"] == models
    assert invoke["Condition"]["StringLike"]["bedrock:GuardrailIdentifier"] == [GUARDRAIL, f"{GUARDRAIL}:*"]
    assert apply_guardrail["Resource"] == [GUARDRAIL]


ADMINS = [f"arn:aws:iam::{ACCOUNT}:role/paris-gb200-operator-1", f"arn:aws:iam::{ACCOUNT}:role/deployer"]
SAGEMAKER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/paris-gb200-sagemaker-execution"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/paris-gb200-node"


@pytest.mark.parametrize("purpose", ["data", "logs"])
def test_key_policy_names_its_administrators_and_users(purpose):
    document = policies.kms_key_policy(partition="aws", account_id=ACCOUNT, region="eu-west-3", purpose=purpose,
                                       administrators=ADMINS, users=[SAGEMAKER_ROLE], decrypters=[NODE_ROLE])
    by_sid = {s["Sid"]: s for s in statements(document)}
    admin = by_sid["NamedAdministrators"]
    assert admin["Principal"] == {"AWS": sorted(ADMINS)}
    assert not [a for a in admin["Action"] if a.endswith("*") or a in ("kms:CreateGrant", "kms:Decrypt", "kms:Encrypt")]
    assert {"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:EnableKeyRotation"} <= set(admin["Action"])
    assert by_sid["NamedRolesUseKey"]["Principal"] == {"AWS": [SAGEMAKER_ROLE]}
    grants = by_sid["GrantsForAwsResourcesOnly"]
    assert "kms:CreateGrant" in grants["Action"] and grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert by_sid["NamedRolesDecrypt"] == {"Sid": "NamedRolesDecrypt", "Effect": "Allow", "Principal": {"AWS": [NODE_ROLE]},
                                           "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*"}
    principals = [p for s in by_sid.values() for p in policies_principals(s)]
    assert not [p for p in principals if p == "*" or p.endswith(":root") or "*" in p]
    assert "Condition" not in by_sid["NamedRolesUseKey"]  # exact ARNs, no aws:PrincipalArn pattern
    assert ("CloudWatchLogsUseKey" in by_sid) == (purpose == "logs")
    if purpose == "logs":
        logs = by_sid["CloudWatchLogsUseKey"]
        assert logs["Principal"] == {"Service": "logs.eu-west-3.amazonaws.com"}
        assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"].startswith(
            f"arn:aws:logs:eu-west-3:{ACCOUNT}:log-group:")


def policies_principals(statement: dict) -> list[str]:
    principal = statement.get("Principal")
    return [p for values in principal.values() for p in (values if isinstance(values, list) else [values])]


def test_deployer_session_is_named_by_its_role():
    assert policies.role_arn(f"arn:aws:sts::{ACCOUNT}:assumed-role/Deployer/ci-42") == f"arn:aws:iam::{ACCOUNT}:role/Deployer"
    assert policies.role_arn(f"arn:aws:iam::{ACCOUNT}:user/alice") == f"arn:aws:iam::{ACCOUNT}:user/alice"


def test_data_key_lets_bedrock_write_logs_only_when_logging_in_region():
    def sids(logging):
        return {s["Sid"] for s in statements(policies.kms_key_policy(
            partition="aws", account_id=ACCOUNT, region="us-east-2", purpose="data", administrators=ADMINS,
            bedrock_logging=logging))}
    assert "BedrockWritesInvocationLogs" in sids(True)
    assert "BedrockWritesInvocationLogs" not in sids(False)


def test_key_policy_rejects_unknown_purpose():
    with pytest.raises(ValueError, match="unknown key purpose"):
        policies.kms_key_policy(partition="aws", account_id=ACCOUNT, region="r", purpose="x", administrators=ADMINS)


def test_buckets_deny_plain_http():
    for document in (policies.bucket_tls_only_policy("arn:aws:s3:::b"),
                     policies.artifact_bucket_policy("arn:aws:s3:::b", "vpce-1", "arn:aws:iam::1:role/f-*"),
                     policies.bedrock_logging_bucket_policy("arn:aws:s3:::b", "aws", ACCOUNT, "us-east-2")):
        tls = statements(document)[0]
        assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert tls["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]


def test_artifact_objects_only_through_the_endpoint_or_factory_roles():
    _, deny = statements(policies.artifact_bucket_policy("arn:aws:s3:::b", "vpce-1", "arn:aws:iam::1:role/f-*"))
    assert deny["Effect"] == "Deny"
    assert deny["Condition"]["StringNotEquals"] == {"aws:SourceVpce": "vpce-1"}
    assert deny["Condition"]["ArnNotLike"] == {"aws:PrincipalArn": "arn:aws:iam::1:role/f-*"}


def test_bedrock_logging_bucket_scoped_to_this_account_and_region():
    _, allow = statements(policies.bedrock_logging_bucket_policy("arn:aws:s3:::b", "aws", ACCOUNT, "us-east-2"))
    assert allow["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert allow["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:bedrock:us-east-2:{ACCOUNT}:*"}


def test_roles_anywhere_trust_scoped_to_anchor_and_factory_certificates():
    (s,) = statements(policies.roles_anywhere_trust_policy("arn:aws:rolesanywhere:r:1:trust-anchor/x", "lab-b200"))
    assert s["Principal"] == {"Service": "rolesanywhere.amazonaws.com"}
    assert s["Condition"]["ArnEquals"] == {"aws:SourceArn": "arn:aws:rolesanywhere:r:1:trust-anchor/x"}
    assert s["Condition"]["StringLike"] == {"aws:PrincipalTag/x509Subject/CN": "lab-b200-*"}


def test_operator_trust_requires_mfa_of_users_only():
    (user,) = statements(policies.operator_trust_policy("arn:aws:iam::111122223333:user/alice"))
    (role,) = statements(policies.operator_trust_policy("arn:aws:iam::111122223333:role/Ops"))
    assert user["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    assert role["Principal"] == {"AWS": "arn:aws:iam::111122223333:role/Ops"} and "Condition" not in role


def test_service_trust_guards_against_confused_deputy():
    (s,) = statements(policies.service_trust_policy("ssm.amazonaws.com", ACCOUNT, "arn:aws:ssm:r:1:*"))
    assert s["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                              "ArnLike": {"aws:SourceArn": "arn:aws:ssm:r:1:*"}}


def test_role_policies_have_no_star_action():
    for document in (policies.node_role_policy(["m"], GUARDRAIL, "e", "arn:aws:kms:r:1:key/k"), policies.operator_role_policy(),
                     policies.flow_logs_role_policy("lg"), policies.sagemaker_execution_policy(
                         "b", "k", ["g"], partition="aws", account_id=ACCOUNT, region="r", vpc_id="vpc-1", subnet_ids=["subnet-1"])):
        assert_no_star_action(document)
    invoke = statements(policies.node_role_policy(["m"], GUARDRAIL, "e", "arn:aws:kms:r:1:key/k"))[0]
    assert invoke["Condition"]["StringLike"]["bedrock:GuardrailIdentifier"][0] == GUARDRAIL


@pytest.mark.parametrize("pii, action", [("block", "BLOCK"), ("anonymize", "ANONYMIZE"), ("off", None)])
def test_guardrail_pii_action_follows_the_spec(pii, action):
    arguments = guardrail_arguments(Guardrail(pii=pii, blocked_topics=["diagnosis"]))
    filters = arguments["content_policy_config"]["filters_configs"]
    assert {"type": "PROMPT_ATTACK", "input_strength": "HIGH", "output_strength": "NONE"} in filters
    if action is None:
        assert "sensitive_information_policy_config" not in arguments
    else:
        entities = arguments["sensitive_information_policy_config"]["pii_entities_configs"]
        assert entities and {e["action"] for e in entities} == {action}
    assert [t["name"] for t in arguments["topic_policy_config"]["topics_configs"]] == ["diagnosis"]


def test_no_topic_policy_without_blocked_topics():
    assert "topic_policy_config" not in guardrail_arguments(Guardrail(blocked_topics=[]))


def test_resolver_gets_two_addresses_even_in_one_zone():
    assert resolver_addresses("10.0.0.0/24", 1) == [(0, "10.0.0.10"), (0, "10.0.0.11")]
    assert resolver_addresses("10.0.0.0/24", 2) == [(0, "10.0.0.10"), (1, "10.0.0.138")]


def test_dx_gateway_asn_must_not_collide_with_onprem():
    link = HybridLink(vpc_cidr="10.0.0.0/24", aws_asn=64512, onprem_asn=64513)
    with pytest.raises(ValueError, match="collides"):
        dx_gateway_asn(link)
    assert dx_gateway_asn(link.model_copy(update={"onprem_asn": 65000})) == 64513


def test_sagemaker_execution_role_logs_and_interfaces_stay_in_the_factory():
    document = policies.sagemaker_execution_policy(
        "arn:aws:s3:::b", "k", ["g"], partition="aws", account_id=ACCOUNT, region="us-east-2", vpc_id="vpc-1",
        subnet_ids=["subnet-a", "subnet-b"])
    by_sid = {s["Sid"]: s for s in statements(document)}
    logs = by_sid["SageMakerLogs"]
    assert logs["Resource"] == [f"arn:aws:logs:us-east-2:{ACCOUNT}:log-group:/aws/sagemaker/*",
                                f"arn:aws:logs:us-east-2:{ACCOUNT}:log-group:/aws/sagemaker/*:log-stream:*"]
    eni = by_sid["FactoryVpcNetworkInterfaces"]
    assert {f"arn:aws:ec2:us-east-2:{ACCOUNT}:subnet/subnet-a", f"arn:aws:ec2:us-east-2:{ACCOUNT}:subnet/subnet-b"} <= set(eni["Resource"])
    assert eni["Condition"] == {"ArnEquals": {"ec2:Vpc": f"arn:aws:ec2:us-east-2:{ACCOUNT}:vpc/vpc-1"}}
    # nothing that writes logs or makes interfaces is left on "*"
    assert not [s["Sid"] for s in by_sid.values() if s["Resource"] == "*"
                and {a for a in s["Action"] if a.startswith("logs:") or a in policies.ENI_ACTIONS}]
