"""Audit: who did what, kept in the home region (SOV-13).

- an access-log bucket: every other bucket the program creates sends its S3 server access logs there;
- unless the organisation runs its own (`sovereignty.audit_trail: organization`), a home-region
  CloudTrail trail with management events and the data events of S3 objects and Bedrock, into a private
  bucket encrypted with the logs key, its log files validated;
- IAM Access Analyzer for the account, in the home region.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from aifactory.spec.model import Sovereignty
from infra import policies
from infra.account import Account
from infra.buckets import PrivateBucket, PrivateBucketArgs

# Data events the trail records, by CloudTrail resource type (AWS CloudTrail user guide, "Logging data
# events"; Bedrock's model invocations are management events, logged anyway).
DATA_EVENT_TYPES = ("AWS::S3::Object", "AWS::Bedrock::Guardrail", "AWS::Bedrock::AgentAlias",
                    "AWS::Bedrock::KnowledgeBase")


def trail_selectors() -> list[dict]:
    """Advanced event selectors: management events, and every data event of the types above."""
    return [{"name": "Management events", "field_selectors": [{"field": "eventCategory", "equals": ["Management"]}]}] + [
        {"name": f"Data events: {kind}", "field_selectors": [{"field": "eventCategory", "equals": ["Data"]},
                                                             {"field": "resources.type", "equals": [kind]}]}
        for kind in DATA_EVENT_TYPES]


@dataclass(frozen=True)
class AuditArgs:
    """The spec's sovereignty section (home region, who owns the trail), the logs key, the account."""

    sovereignty: Sovereignty
    logs_key_arn: pulumi.Input[str]
    account: pulumi.Output[Account]


class Audit(pulumi.ComponentResource):
    """The access-log bucket, the trail (when the program owns it) and the access analyzer."""

    access_logs: PrivateBucket

    def __init__(self, name: str, args: AuditArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aifactory:infra:Audit", f"{name}-audit", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        region, account = args.sovereignty.region, args.account
        self.access_logs = PrivateBucket(f"{name}-access-logs", PrivateBucketArgs(
            args.logs_key_arn, policy=lambda arn: account.apply(lambda a: policies.access_log_bucket_policy(arn, a.id))),
            opts=child)
        if args.sovereignty.audit_trail == "own":
            trail_name = f"{name}-trail"
            bucket = PrivateBucket(f"{name}-trail-logs", PrivateBucketArgs(
                args.logs_key_arn, access_logs=self.access_logs,
                policy=lambda arn: account.apply(
                    lambda a: policies.trail_bucket_policy(arn, a.partition, a.id, region, trail_name))),
                opts=child)
            aws.cloudtrail.Trail(
                trail_name, name=trail_name, s3_bucket_name=bucket.bucket.id, kms_key_id=args.logs_key_arn,
                is_multi_region_trail=False, include_global_service_events=True, enable_log_file_validation=True,
                enable_logging=True, advanced_event_selectors=trail_selectors(),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[bucket.policy]))
        aws.accessanalyzer.Analyzer(f"{name}-access-analyzer", analyzer_name=f"{name}-account",
                                    type="ACCOUNT", opts=child)
        self.register_outputs({"access_log_bucket": self.access_logs.bucket.id})
