"""The Pulumi state's home: an S3 bucket and a KMS key in the factory's home region, made with boto3.

`bootstrap(factory, clients)` creates (or finds, and brings back to the settings below) the key
`alias/<factory>-pulumi-state` (customer-managed, rotated, used and administered by the deployer and
the spec's operator principals only) and the bucket `<factory>-pulumi-state` (in the home region,
versioned, SSE-KMS with that key, every public access blocked, bucket-owner-enforced, TLS only). A
second run changes nothing it need not. It returns the backend URL and secrets provider that the stack
file names (`aifactory:stateBackend`, `secretsprovider`) and that control SOV-15 accepts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import botocore.exceptions

from aifactory.spec import Factory

Clients = Callable[[str], object]  # service -> boto3 client in the factory's region

# What the state key's principals need: Pulumi encrypts and decrypts its secrets with it, S3 encrypts the
# state objects with it for them (SSE-KMS), and they keep the key itself. No kms:Create*, no grants.
STATE_KEY_ACTIONS = (
    "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey",
    "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:GetKeyRotationStatus",
    "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
)


@dataclass
class Bootstrap:
    bucket: str
    key_arn: str
    region: str
    created: list[str] = field(default_factory=list)  # what this run created (empty on a re-run)

    @property
    def backend_url(self) -> str:
        return f"s3://{self.bucket}?region={self.region}&awssdk=v2"

    @property
    def secrets_provider(self) -> str:
        return f"awskms://alias/{self.bucket}?region={self.region}"


class BootstrapError(Exception):
    """The bucket name is taken elsewhere or lives in another region."""


def caller_principal(sts) -> str:
    """The deployer as a key policy names it (an assumed-role session is named by its role)."""
    arn = sts.get_caller_identity()["Arn"]
    head, _, rest = arn.partition(":assumed-role/")
    return f"{head.replace(':sts:', ':iam:')}:role/{rest.split('/')[0]}" if rest else arn.replace(":sts::", ":iam::")


def state_key_policy(principals: list[str]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "StateKeyPrincipals", "Effect": "Allow", "Principal": {"AWS": sorted(set(principals))},
         "Action": list(STATE_KEY_ACTIONS), "Resource": "*"}]})


def state_bucket_policy(bucket: str, partition: str = "aws") -> str:
    arn = f"arn:{partition}:s3:::{bucket}"
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})


def _key(kms, alias: str, factory: Factory, principals: list[str], created: list[str]) -> str:
    try:
        return kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"]
    except botocore.exceptions.ClientError as err:
        if err.response["Error"]["Code"] != "NotFoundException":
            raise
    key = kms.create_key(Description=f"aifactory {factory.name}: Pulumi state and secrets", MultiRegion=False,
                         Policy=state_key_policy(principals),
                         Tags=[{"TagKey": "aifactory:factory", "TagValue": factory.name}])["KeyMetadata"]
    kms.enable_key_rotation(KeyId=key["KeyId"])
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    created.append(f"key {alias}")
    return key["Arn"]


def _bucket(s3, name: str, region: str, created: list[str]) -> None:
    try:
        s3.head_bucket(Bucket=name)
    except botocore.exceptions.ClientError as err:
        code = err.response["Error"]["Code"]
        if code in ("403", "Forbidden"):
            raise BootstrapError(f"the bucket name {name} is taken by another account; pass --bucket") from None
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
        params = {"Bucket": name}
        if region != "us-east-1":  # us-east-1 takes no location constraint
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**params)
        created.append(f"bucket {name}")
    location = s3.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
    if location != region:
        raise BootstrapError(f"the bucket {name} is in {location}, not the home region {region}")


def bootstrap(factory: Factory, clients: Clients, bucket: str | None = None) -> Bootstrap:
    """Create or bring back the state bucket and key; idempotent."""
    region = factory.sovereignty.region
    name = bucket or f"{factory.name}-pulumi-state"
    created: list[str] = []
    deployer = caller_principal(clients("sts"))
    principals = [deployer, *factory.identity.operator_principals]
    key_arn = _key(clients("kms"), f"alias/{name}", factory, principals, created)
    s3 = clients("s3")
    _bucket(s3, name, region, created)
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
        "BucketKeyEnabled": True}]})
    s3.put_bucket_policy(Bucket=name, Policy=state_bucket_policy(name, deployer.split(":")[1]))
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "aifactory:factory", "Value": factory.name}]})
    return Bootstrap(name, key_arn, region, created)
