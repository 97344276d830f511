"""IAM, endpoint, key and bucket policy documents of the factory, as pure functions.

Every function returns a JSON string (what the AWS APIs take) and depends on plain values only, so the
documents are unit-tested without Pulumi (tests/infra/test_policy_documents.py). The components call
them inside `Output.apply` once ARNs and ids are known.

Conventions: no `"Action": "*"`; a `"Principal": "*"` only ever appears with a condition that pins
the caller to the factory's account (`aws:PrincipalAccount`) or in a Deny.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

VERSION = "2012-10-17"

# Actions of global services, whose requests carry aws:RequestedRegion = us-east-1 (or none) wherever
# they are made. Region pinning must exempt them or it blocks IAM, STS through the global endpoint,
# Organizations and support. Source: AWS Control Tower's region deny control (LZA docs 07-07). Unlike
# Control Tower, kms:* and directconnect:* are NOT exempted: the factory's keys and links are regional.
GLOBAL_SERVICE_ACTIONS = (
    "iam:*",
    "sts:*",
    "organizations:*",
    "account:*",
    "support:*",
    "health:*",
    "route53:*",
    "route53domains:*",
    "cloudfront:*",
    "globalaccelerator:*",
    "waf:*",
    "shield:*",
    "budgets:*",
    "ce:*",
    "pricing:*",
    "trustedadvisor:*",
    "networkmanager:*",
)

# The service namespaces a factory role may use at all (the ceiling of the permission boundary).
FACTORY_SERVICE_ACTIONS = (
    "bedrock:*",
    "sagemaker:*",
    "s3:*",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
    "logs:*",
    "cloudwatch:PutMetricData",
    "aps:RemoteWrite",
    "ssm:*",
    "ssmmessages:*",
    "ec2messages:*",
    "ecr:BatchGetImage",
    "ecr:GetAuthorizationToken",
    "ecr:GetDownloadUrlForLayer",
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:Describe*",
    "sts:AssumeRole",
    "sts:GetCallerIdentity",
    "sts:TagSession",
)

# What each interface endpoint may be used for (its endpoint policy's actions).
ENDPOINT_ACTIONS = {
    "bedrock": ("bedrock:Get*", "bedrock:List*"),
    "bedrock-agent-runtime": ("bedrock:InvokeAgent", "bedrock:Retrieve", "bedrock:RetrieveAndGenerate", "bedrock:InvokeFlow"),
    "sagemaker.api": ("sagemaker:*",),
    "sagemaker.runtime": ("sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointAsync", "sagemaker:InvokeEndpointWithResponseStream"),
    "sts": ("sts:AssumeRole", "sts:GetCallerIdentity", "sts:TagSession", "sts:SetSourceIdentity"),
    "kms": ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"),
    "logs": ("logs:*",),
    "ssm": ("ssm:*",),
    "ssmmessages": ("ssmmessages:*",),
    "ec2messages": ("ec2messages:*",),
    "s3": ("s3:*",),
    "aps-workspaces": ("aps:RemoteWrite",),  # Prometheus writes; queries stay on the head nodes
}

BEDROCK_INVOKE_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")

# Key administration, action by action: the key administrators' statement of KMS's default key policy
# (AWS KMS developer guide, "Default key policy: allows key administrators") with its wildcards
# expanded and without kms:Create* (which would include CreateGrant unconditioned) or any use action.
KEY_ADMIN_ACTIONS = (
    "kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias", "kms:DescribeKey", "kms:EnableKey", "kms:DisableKey",
    "kms:EnableKeyRotation", "kms:DisableKeyRotation", "kms:GetKeyRotationStatus", "kms:RotateKeyOnDemand",
    "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:ListKeyPolicies", "kms:ListResourceTags", "kms:ListGrants",
    "kms:RevokeGrant", "kms:TagResource", "kms:UntagResource", "kms:UpdateKeyDescription",
    "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
)
KEY_USE_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey")
# Who invokes a model with a guardrail encrypted by a customer key needs kms:Decrypt on that key
# (Amazon Bedrock user guide, "Encryption of your guardrail").
KEY_DECRYPT_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
GRANT_ACTIONS = ("kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant")
# The acceptance certificate's signing key: sign, verify and hand out its public key (aifactory acceptance).
KEY_SIGN_ACTIONS = ("kms:Sign", "kms:Verify", "kms:GetPublicKey", "kms:DescribeKey")


def _document(*statements: dict) -> str:
    return json.dumps({"Version": VERSION, "Statement": list(statements)}, indent=2, sort_keys=True)


def _account_only(account_id: str) -> dict:
    return {"StringEquals": {"aws:PrincipalAccount": account_id}}


def factory_role_arn_pattern(partition: str, account_id: str, factory_name: str) -> str:
    """Every IAM role the program creates is named `<factory>-<what>-<suffix>`."""
    return f"arn:{partition}:iam::{account_id}:role/{factory_name}-*"


# --- region pinning ---------------------------------------------------------------------------------
def _deny_outside_regions(allowed_regions: Sequence[str]) -> dict:
    """Deny everything but global services when the request targets a region outside the list.

    Bedrock cross-region inference profiles are authorized against the DESTINATION region, so the list
    must hold every region a configured profile routes to (the spec validator checks that).
    """
    return {
        "Sid": "DenyOutsideAllowedRegions",
        "Effect": "Deny",
        "NotAction": list(GLOBAL_SERVICE_ACTIONS),
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:RequestedRegion": list(allowed_regions)}},
    }


def region_pinning_boundary(allowed_regions: Sequence[str]) -> str:
    """Permission boundary for every factory role: the factory's services only, allowed regions only."""
    return _document(
        {"Sid": "FactoryServicesOnly", "Effect": "Allow", "Action": list(FACTORY_SERVICE_ACTIONS), "Resource": "*"},
        _deny_outside_regions(allowed_regions),
    )


def region_pinning_scp(allowed_regions: Sequence[str]) -> str:
    """Service control policy for the factory's account (an output: the organization owner attaches it)."""
    return _document(_deny_outside_regions(allowed_regions))


# --- VPC endpoint policies --------------------------------------------------------------------------
def endpoint_policy(service: str, account_id: str) -> str:
    """Policy of a generic interface endpoint: its service's actions, by the factory's account only.

    For S3 the buckets must belong to the account as well (no copying data out to foreign buckets).
    """
    condition = _account_only(account_id)
    if service == "s3":
        condition = {"StringEquals": {"aws:PrincipalAccount": account_id, "aws:ResourceAccount": account_id}}
    return _document({
        "Sid": "FactoryAccountOnly",
        "Effect": "Allow",
        "Principal": "*",
        "Action": list(ENDPOINT_ACTIONS[service]),
        "Resource": "*",
        "Condition": condition,
    })


def bedrock_model_arns(
    partition: str, account_id: str, home_region: str, allowed_regions: Sequence[str],
    foundation_models: Iterable[str], inference_profiles: Iterable[str],
) -> list[str]:
    """Foundation-model ARNs in every allowed region, inference-profile ARNs in the home region."""
    arns = [f"arn:{partition}:bedrock:{region}::foundation-model/{model}"
            for model in foundation_models for region in allowed_regions]
    arns += [f"arn:{partition}:bedrock:{home_region}:{account_id}:inference-profile/{profile}"
             for profile in inference_profiles]
    return arns


def guardrail_condition(guardrail_arn: str) -> dict:
    """Model invocation only with the factory's guardrail (any of its versions)."""
    return {"StringLike": {"bedrock:GuardrailIdentifier": [guardrail_arn, f"{guardrail_arn}:*"]}}


def bedrock_invoke_statements(model_arns: Sequence[str], guardrail_arn: str) -> list[dict]:
    return [
        {"Sid": "InvokeConfiguredModelsWithGuardrail", "Effect": "Allow", "Action": list(BEDROCK_INVOKE_ACTIONS),
         "Resource": list(model_arns), "Condition": guardrail_condition(guardrail_arn)},
        {"Sid": "ApplyFactoryGuardrail", "Effect": "Allow", "Action": ["bedrock:ApplyGuardrail"],
         "Resource": [guardrail_arn]},
    ]


def bedrock_runtime_endpoint_policy(account_id: str, model_arns: Sequence[str], guardrail_arn: str) -> str:
    """bedrock-runtime endpoint: the spec's models only, only with the factory's guardrail."""
    statements = bedrock_invoke_statements(model_arns, guardrail_arn)
    for statement in statements:
        statement["Principal"] = "*"
        statement.setdefault("Condition", {}).setdefault("StringEquals", {})["aws:PrincipalAccount"] = account_id
    return _document(*statements)


# --- KMS ------------------------------------------------------------------------------------------
def kms_key_policy(
    *, partition: str, account_id: str, region: str, purpose: str, administrators: Sequence[str],
    users: Sequence[str] = (), decrypters: Sequence[str] = (), bedrock_logging: bool = False,
) -> str:
    """Key policy: named administrators administer; named roles use the key; nobody else, not the account.

    `purpose` is "data" or "logs". Every principal is an exact ARN: `administrators` (the operator roles
    and the deploying principal, which KMS requires to keep PutKeyPolicy: the lockout safety check),
    `users` (encrypt and decrypt, and grants for AWS services acting for them), `decrypters` (decrypt
    only: the nodes, for the guardrail). Services (CloudWatch Logs, Bedrock) are confined to this
    account and region.
    """
    if purpose not in ("data", "logs"):
        raise ValueError(f"unknown key purpose {purpose!r} (data or logs)")
    statements = [{"Sid": "NamedAdministrators", "Effect": "Allow", "Principal": {"AWS": sorted(set(administrators))},
                   "Action": list(KEY_ADMIN_ACTIONS), "Resource": "*"}]
    if users:
        statements += [
            {"Sid": "NamedRolesUseKey", "Effect": "Allow", "Principal": {"AWS": sorted(set(users))},
             "Action": list(KEY_USE_ACTIONS), "Resource": "*"},
            {"Sid": "GrantsForAwsResourcesOnly", "Effect": "Allow", "Principal": {"AWS": sorted(set(users))},
             "Action": list(GRANT_ACTIONS), "Resource": "*", "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
        ]
    if decrypters:
        statements.append({"Sid": "NamedRolesDecrypt", "Effect": "Allow", "Principal": {"AWS": sorted(set(decrypters))},
                           "Action": list(KEY_DECRYPT_ACTIONS), "Resource": "*"})
    if purpose == "logs":
        statements.append({
            "Sid": "CloudWatchLogsUseKey", "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            "Resource": "*",
            "Condition": {"ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account_id}:log-group:*"}},
        })
    if purpose == "logs":
        # S3 server access logs and the trail land in buckets encrypted with the logs key (SSE-KMS works for
        # access-log targets once the logging service may use the key: aws-cdk PR 25350).
        statements += [
            {"Sid": "S3ServerAccessLogsUseKey", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
             "Action": ["kms:GenerateDataKey*", "kms:Decrypt"], "Resource": "*",
             "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}},
            {"Sid": "CloudTrailEncryptsLogs", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": ["kms:GenerateDataKey*", "kms:DescribeKey"], "Resource": "*",
             "Condition": {"StringEquals": {"aws:SourceAccount": account_id},
                           "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn":
                                          f"arn:{partition}:cloudtrail:{region}:{account_id}:trail/*"}}},
        ]
    if purpose == "data" and bedrock_logging:
        statements.append({
            "Sid": "BedrockWritesInvocationLogs", "Effect": "Allow", "Principal": {"Service": "bedrock.amazonaws.com"},
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id},
                          "ArnLike": {"aws:SourceArn": f"arn:{partition}:bedrock:{region}:{account_id}:*"}},
        })
    return _document(*statements)


def signing_key_policy(*, administrators: Sequence[str], signers: Sequence[str]) -> str:
    """The acceptance signing key's policy: named administrators administer, named roles sign; nobody else."""
    return _document(
        {"Sid": "NamedAdministrators", "Effect": "Allow", "Principal": {"AWS": sorted(set(administrators))},
         "Action": list(KEY_ADMIN_ACTIONS), "Resource": "*"},
        {"Sid": "NamedRolesSign", "Effect": "Allow", "Principal": {"AWS": sorted(set(signers))},
         "Action": list(KEY_SIGN_ACTIONS), "Resource": "*"})


def role_arn(principal_arn: str) -> str:
    """The IAM ARN a key policy can name for a caller: an assumed-role session becomes its role."""
    head, _, rest = principal_arn.partition(":assumed-role/")
    if not rest:
        return principal_arn.replace(":sts::", ":iam::")
    return f"{head.replace(':sts:', ':iam:')}:role/{rest.split('/')[0]}"


# --- S3 -------------------------------------------------------------------------------------------
def _deny_insecure_transport(bucket_arn: str) -> dict:
    return {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def bucket_tls_only_policy(bucket_arn: str) -> str:
    return _document(_deny_insecure_transport(bucket_arn))


def artifact_bucket_policy(bucket_arn: str, s3_endpoint_id: str, factory_role_pattern: str) -> str:
    """TLS only; objects reachable only through the factory's S3 endpoint or by the factory's roles.

    AWS services acting for a caller (aws:ViaAWSService) are not cut off (secure-mlops pattern).
    """
    return _document(
        _deny_insecure_transport(bucket_arn),
        {"Sid": "ObjectsOnlyThroughFactory", "Effect": "Deny", "Principal": "*",
         "Action": ["s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*"], "Resource": [f"{bucket_arn}/*"],
         "Condition": {"StringNotEquals": {"aws:SourceVpce": s3_endpoint_id},
                       "ArnNotLike": {"aws:PrincipalArn": factory_role_pattern},
                       "BoolIfExists": {"aws:ViaAWSService": "false"}}},
    )


def access_log_bucket_policy(bucket_arn: str, account_id: str) -> str:
    """TLS only, and S3 server access logging (of this account's buckets only) may write.

    The logging service writes as `logging.s3.amazonaws.com`, confined by aws:SourceAccount (Amazon S3
    user guide, "Permissions for log delivery").
    """
    # The logging grant comes first, its Resource a single string: moto's check of log-delivery permissions
    # reads statements in order and stops at the first match (it cannot read a "*" principal or a list).
    return _document(
        {"Sid": "S3ServerAccessLogs", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
         "Action": ["s3:PutObject"], "Resource": f"{bucket_arn}/*",
         "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}},
        _deny_insecure_transport(bucket_arn),
    )


def trail_bucket_policy(bucket_arn: str, partition: str, account_id: str, region: str, trail_name: str) -> str:
    """TLS only, and CloudTrail may write the factory's trail (and only it) into the bucket (AWS CloudTrail
    user guide, "Amazon S3 bucket policy for CloudTrail")."""
    trail_arn = f"arn:{partition}:cloudtrail:{region}:{account_id}:trail/{trail_name}"
    return _document(
        _deny_insecure_transport(bucket_arn),
        {"Sid": "CloudTrailAclCheck", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": ["s3:GetBucketAcl"], "Resource": [bucket_arn],
         "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}}},
        {"Sid": "CloudTrailWrite", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": ["s3:PutObject"], "Resource": [f"{bucket_arn}/AWSLogs/{account_id}/*"],
         "Condition": {"StringEquals": {"aws:SourceArn": trail_arn, "s3:x-amz-acl": "bucket-owner-full-control"}}},
    )


def bedrock_logging_bucket_policy(bucket_arn: str, partition: str, account_id: str, region: str) -> str:
    """TLS only, and Bedrock (of this account and region only) may write invocation logs."""
    return _document(
        _deny_insecure_transport(bucket_arn),
        {"Sid": "BedrockWritesInvocationLogs", "Effect": "Allow", "Principal": {"Service": "bedrock.amazonaws.com"},
         "Action": ["s3:PutObject"], "Resource": [f"{bucket_arn}/AWSLogs/{account_id}/BedrockModelInvocationLogs/*"],
         "Condition": {"StringEquals": {"aws:SourceAccount": account_id},
                       "ArnLike": {"aws:SourceArn": f"arn:{partition}:bedrock:{region}:{account_id}:*"}}},
    )


# --- trust policies -------------------------------------------------------------------------------
def roles_anywhere_trust_policy(trust_anchor_arn: str, factory_name: str) -> str:
    """Nodes assume the role with a certificate from the factory's CA whose CN is `<factory>-*`."""
    return _document({
        "Sid": "FactoryNodeCertificates", "Effect": "Allow", "Principal": {"Service": "rolesanywhere.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
        "Condition": {"ArnEquals": {"aws:SourceArn": trust_anchor_arn},
                      "StringLike": {"aws:PrincipalTag/x509Subject/CN": f"{factory_name}-*"}},
    })


def operator_trust_policy(principal_arn: str) -> str:
    """The operator principal may assume the role; an IAM user only with MFA.

    A role principal (typically federated through the customer's IdP, where MFA is enforced) carries
    no MFA context into AssumeRole, so MFA is required of IAM users only.
    """
    statement = {"Sid": "FactoryOperator", "Effect": "Allow", "Principal": {"AWS": principal_arn},
                 "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]}
    if ":user/" in principal_arn:
        statement["Condition"] = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    return _document(statement)


def service_trust_policy(service: str, account_id: str, source_arn_pattern: str | None = None) -> str:
    """An AWS service may assume the role on behalf of this account only (confused-deputy guard)."""
    condition: dict = {"StringEquals": {"aws:SourceAccount": account_id}}
    if source_arn_pattern:
        condition["ArnLike"] = {"aws:SourceArn": source_arn_pattern}
    return _document({"Sid": "ServiceForThisAccount", "Effect": "Allow", "Principal": {"Service": service},
                      "Action": ["sts:AssumeRole"], "Condition": condition})


# --- role permissions -----------------------------------------------------------------------------
def node_role_policy(model_arns: Sequence[str], guardrail_arn: str, sagemaker_endpoint_pattern: str,
                     guardrail_key_arn: str) -> str:
    """What a node may do with its Roles Anywhere credentials: invoke models (with guardrail) and endpoints,
    and decrypt with the key that encrypts the guardrail (Bedrock needs it for guarded inference)."""
    return _document(
        *bedrock_invoke_statements(model_arns, guardrail_arn),
        {"Sid": "GuardrailKey", "Effect": "Allow", "Action": list(KEY_DECRYPT_ACTIONS), "Resource": [guardrail_key_arn]},
        {"Sid": "InvokeFactoryEndpoints", "Effect": "Allow",
         "Action": ["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"],
         "Resource": [sagemaker_endpoint_pattern]},
    )


def amp_remote_write_policy(workspace_arn: str) -> str:
    """The nodes' Prometheus may only write metrics into the factory's own AMP workspace."""
    return _document({"Sid": "RemoteWriteFactoryWorkspace", "Effect": "Allow", "Action": ["aps:RemoteWrite"],
                      "Resource": [workspace_arn]})


def operator_role_policy() -> str:
    """Operators look at the factory (describe, list, read logs); changes go through Pulumi."""
    return _document({
        "Sid": "ObserveFactory", "Effect": "Allow", "Resource": "*",
        "Action": ["ec2:Describe*", "bedrock:Get*", "bedrock:List*", "sagemaker:Describe*", "sagemaker:List*",
                   "logs:Describe*", "logs:FilterLogEvents", "logs:GetLogEvents", "ssm:Describe*", "ssm:List*"],
    })


def flow_logs_role_policy(log_group_arn: str) -> str:
    return _document({
        "Sid": "WriteFlowLogs", "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
        "Resource": [log_group_arn, f"{log_group_arn}:*"],
    })


SAGEMAKER_LOG_GROUPS = "/aws/sagemaker/*"  # where SageMaker jobs, endpoints and apps log (SageMaker developer guide)
ENI_ACTIONS = ("ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface",
               "ec2:DeleteNetworkInterfacePermission")


def sagemaker_execution_policy(bucket_arn: str, data_key_arn: str, model_registry_arns: Sequence[str], *,
                               partition: str, account_id: str, region: str, vpc_id: str,
                               subnet_ids: Sequence[str]) -> str:
    """SageMaker jobs: the artifact bucket, the data key, network interfaces in the factory's VPC and
    subnets only, the factory's model groups, logs and metrics under /aws/sagemaker only.

    `ec2:Vpc` is a condition key of the network-interface, subnet and security-group resources of these
    actions (Service Authorization Reference, Amazon EC2), so the interfaces cannot land elsewhere.
    """
    ec2 = f"arn:{partition}:ec2:{region}:{account_id}"
    logs = f"arn:{partition}:logs:{region}:{account_id}:log-group:{SAGEMAKER_LOG_GROUPS}"
    return _document(
        {"Sid": "ArtifactBucket", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"],
         "Resource": [bucket_arn, f"{bucket_arn}/*"]},
        {"Sid": "DataKey", "Effect": "Allow", "Action": list(KEY_USE_ACTIONS), "Resource": [data_key_arn]},
        {"Sid": "FactoryVpcNetworkInterfaces", "Effect": "Allow", "Action": list(ENI_ACTIONS),
         "Resource": [f"{ec2}:network-interface/*", f"{ec2}:security-group/*",
                      *(f"{ec2}:subnet/{subnet}" for subnet in subnet_ids)],
         "Condition": {"ArnEquals": {"ec2:Vpc": f"{ec2}:vpc/{vpc_id}"}}},
        {"Sid": "DescribeNetwork", "Effect": "Allow", "Resource": "*",
         "Action": ["ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups"]},
        {"Sid": "FactoryModelRegistry", "Effect": "Allow",
         "Action": ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage*", "sagemaker:ListModelPackages",
                    "sagemaker:UpdateModelPackage"],
         "Resource": list(model_registry_arns)},
        {"Sid": "SageMakerLogs", "Effect": "Allow", "Resource": [logs, f"{logs}:log-stream:*"],
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]},
        {"Sid": "SageMakerMetrics", "Effect": "Allow", "Resource": "*", "Action": ["cloudwatch:PutMetricData"],
         "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}}},
    )

