"""PrivateBucket: an S3 bucket that is private, KMS-encrypted with a factory key, versioned, TLS-only (SOV-05),
with its server access logs in the factory's access-log bucket (SOV-13)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies


@dataclass(frozen=True)
class PrivateBucketArgs:
    """The key that encrypts the bucket; `policy(bucket_arn) -> JSON` gives the bucket policy (TLS-only by
    default); `access_logs` is the bucket that receives its server access logs (none: it is that bucket)."""

    kms_key_arn: pulumi.Input[str]
    policy: Callable[[str], str | pulumi.Output[str]] = policies.bucket_tls_only_policy
    access_logs: "PrivateBucket | None" = None


class PrivateBucket(pulumi.ComponentResource):
    """The bucket `name` and its encryption, public access block, ownership, versioning, policy and logging."""

    bucket: aws.s3.Bucket
    policy: aws.s3.BucketPolicy

    def __init__(self, name: str, args: PrivateBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aifactory:infra:PrivateBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(name, force_destroy=False, opts=child)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-sse", bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms",
                                                                "kms_master_key_id": args.kms_key_arn},
                    "bucket_key_enabled": True}],
            opts=child)
        access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=child)
        aws.s3.BucketOwnershipControls(f"{name}-ownership", bucket=bucket.id,
                                       rule={"object_ownership": "BucketOwnerEnforced"}, opts=child)
        aws.s3.BucketVersioning(f"{name}-versioning", bucket=bucket.id,
                                versioning_configuration={"status": "Enabled"}, opts=child)
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy", bucket=bucket.id, policy=bucket.arn.apply(args.policy),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[access_block]))
        if args.access_logs is not None:
            aws.s3.BucketLogging(f"{name}-access-logging", bucket=bucket.id, target_bucket=args.access_logs.bucket.id,
                                 target_prefix=f"{name}/",
                                 opts=pulumi.ResourceOptions(parent=self, depends_on=[args.access_logs.policy]))
        self.bucket = bucket
        self.register_outputs({"bucket": bucket.id, "arn": bucket.arn})
