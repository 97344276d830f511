"""Bedrock: the factory's guardrail and, only when the spec asks for it, in-region invocation logging (SOV-07).

Guardrail: encrypted with the factory's data key; PII entities blocked or anonymized as the spec says
(`pii: off` leaves PII alone); one denied topic per blocked topic; a PROMPT_ATTACK filter. It uses the
CLASSIC tier: the STANDARD tier needs a cross-region guardrail profile, which would process prompts in
other regions of the geography, and the catalog does not record where those profiles route.

Invocation logging is one setting per account and region: with `bedrock_invocation_logs: in-region` the
program owns it and logs to a private CMK bucket in the home region, whose logs expire after
`bedrock_invocation_log_days` (replaced versions after `bedrock_invocation_log_noncurrent_days`); with
`disabled` it creates none.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.account import Account
from aifactory.spec.model import Guardrail as GuardrailSpec, Sovereignty
from infra.buckets import PrivateBucket, PrivateBucketArgs

PII_ENTITIES = ("NAME", "EMAIL", "PHONE", "ADDRESS", "AGE", "USERNAME", "PASSWORD", "IP_ADDRESS",
                "CREDIT_DEBIT_CARD_NUMBER", "INTERNATIONAL_BANK_ACCOUNT_NUMBER", "SWIFT_CODE",
                "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "US_SOCIAL_SECURITY_NUMBER", "UK_NATIONAL_INSURANCE_NUMBER")
PII_ACTIONS = {"block": "BLOCK", "anonymize": "ANONYMIZE"}
GUARDRAIL_TIER = "CLASSIC"
BLOCKED_MESSAGE = "This request is not allowed by the factory's guardrail."


def guardrail_arguments(spec: GuardrailSpec) -> dict:
    """The guardrail's policy arguments from the spec (pure: unit-tested without Pulumi)."""
    arguments: dict = {
        "content_policy_config": {
            "filters_configs": [{"type": "PROMPT_ATTACK", "input_strength": "HIGH", "output_strength": "NONE"}],
            "tier_configs": [{"tier_name": GUARDRAIL_TIER}],
        },
    }
    if spec.pii in PII_ACTIONS:
        arguments["sensitive_information_policy_config"] = {
            "pii_entities_configs": [{"type": entity, "action": PII_ACTIONS[spec.pii]} for entity in PII_ENTITIES],
        }
    if spec.blocked_topics:
        arguments["topic_policy_config"] = {
            "topics_configs": [{"name": topic, "type": "DENY",
                                "definition": f"Requests for or answers giving {topic.replace('-', ' ')}."}
                               for topic in spec.blocked_topics],
            "tier_configs": [{"tier_name": GUARDRAIL_TIER}],
        }
    return arguments


@dataclass(frozen=True)
class BedrockArgs:
    """The spec's sovereignty section (invocation logging) and guardrail, the data key, the account, and the
    bucket that receives the invocation-log bucket's access logs."""

    sovereignty: Sovereignty
    guardrail: GuardrailSpec
    data_key_arn: pulumi.Input[str]
    account: pulumi.Output[Account]
    access_logs: PrivateBucket | None = None


class Bedrock(pulumi.ComponentResource):
    """Guardrail + version; invocation logging to a CMK bucket when in-region logging is on."""

    guardrail_arn: pulumi.Output[str]
    guardrail_id: pulumi.Output[str]
    guardrail_version: pulumi.Output[str]

    def __init__(self, name: str, args: BedrockArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aifactory:infra:Bedrock", f"{name}-bedrock", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        resource = aws.bedrock.Guardrail(
            f"{name}-guardrail", name=f"{name}-guardrail", kms_key_arn=args.data_key_arn,
            description=f"aifactory {name}: required on every model invocation",
            blocked_input_messaging=BLOCKED_MESSAGE, blocked_outputs_messaging=BLOCKED_MESSAGE,
            opts=child, **guardrail_arguments(args.guardrail))
        version = aws.bedrock.GuardrailVersion(f"{name}-guardrail-version",
                                               guardrail_arn=resource.guardrail_arn,
                                               description="deployed by aifactory", opts=child)
        if args.sovereignty.bedrock_invocation_logs == "in-region":
            self._invocation_logging(name, args)
        self.guardrail_arn = resource.guardrail_arn
        self.guardrail_id = resource.guardrail_id
        self.guardrail_version = version.version
        self.register_outputs({"guardrail_id": self.guardrail_id, "guardrail_version": self.guardrail_version})

    def _invocation_logging(self, name: str, args: BedrockArgs) -> None:
        sovereignty, region = args.sovereignty, args.sovereignty.region
        bucket = PrivateBucket(f"{name}-bedrock-logs", PrivateBucketArgs(
            args.data_key_arn, access_logs=args.access_logs,
            policy=lambda arn: args.account.apply(
                lambda a: policies.bedrock_logging_bucket_policy(arn, a.partition, a.id, region))),
            opts=pulumi.ResourceOptions(parent=self))
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-bedrock-logs-retention", bucket=bucket.bucket.id,
            rules=[{"id": "invocation-log-retention", "status": "Enabled", "filter": {},
                    "expiration": {"days": sovereignty.bedrock_invocation_log_days},
                    "noncurrent_version_expiration": {"noncurrent_days": sovereignty.bedrock_invocation_log_noncurrent_days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7}}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[bucket.policy]))
        aws.bedrockmodel.InvocationLoggingConfiguration(
            f"{name}-invocation-logging",
            logging_config={"s3_config": {"bucket_name": bucket.bucket.id},
                            "text_data_delivery_enabled": True, "image_data_delivery_enabled": True,
                            "embedding_data_delivery_enabled": True, "video_data_delivery_enabled": True},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[bucket.policy]))
