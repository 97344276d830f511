"""The Pulumi state's home: `aifactory bootstrap` against moto, and SOV-15 on where a stack keeps state and secrets."""

from __future__ import annotations

import json

import pytest

from aifactory.aws.bootstrap import BootstrapError, bootstrap
from aifactory.cli import main
from aifactory.aws.moto_standin.backend import client_factory, in_process_moto
from aifactory.aws.plan.controls import state_problems
from aifactory.spec import load_spec
from tests.conftest import REPO, site_dir


@pytest.fixture
def factory():
    return load_spec(site_dir("ohio-trn3"))


def test_bootstrap_makes_a_private_versioned_customer_keyed_bucket_in_region_and_is_idempotent(factory):
    region = factory.sovereignty.region
    with in_process_moto():
        clients = client_factory(None)
        first = bootstrap(factory, lambda service: clients(service, region))
        second = bootstrap(factory, lambda service: clients(service, region))
        s3, kms = clients("s3", region), clients("kms", region)
        bucket = first.bucket
        assert first.created == [f"key alias/{bucket}", f"bucket {bucket}"] and second.created == []
        assert second.key_arn == first.key_arn
        assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == region
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": first.key_arn}
        assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
        assert "aws:SecureTransport" in s3.get_bucket_policy(Bucket=bucket)["Policy"]
        assert kms.get_key_rotation_status(KeyId=first.key_arn)["KeyRotationEnabled"]
        policy = json.loads(kms.get_key_policy(KeyId=first.key_arn, PolicyName="default")["Policy"])
        assert not [a for s in policy["Statement"] for a in s["Action"] if a.endswith("*")]
        assert first.key_arn.split(":")[3] == region
    assert state_problems(first.backend_url, first.secrets_provider, region) == []


def test_bootstrap_refuses_a_bucket_of_that_name_in_another_region(factory):
    with in_process_moto():
        clients = client_factory(None)
        clients("s3", "eu-west-1").create_bucket(Bucket=f"{factory.name}-pulumi-state",
                                                 CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        with pytest.raises(BootstrapError, match="not the home region"):
            bootstrap(factory, lambda service: clients(service, factory.sovereignty.region))


def test_bootstrap_command_prints_the_stack_settings(capsys, factory):
    with in_process_moto():
        assert main(["bootstrap", str(site_dir("ohio-trn3")), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["backend_url"].startswith(f"s3://{factory.name}-pulumi-state?region={factory.sovereignty.region}")


@pytest.mark.parametrize("backend, secrets, words", [
    ("", "awskms://alias/f-state?region=eu-west-3", "Pulumi Cloud"),
    ("https://api.pulumi.com", "awskms://alias/f-state?region=eu-west-3", "not an S3 bucket"),
    ("s3://f-state?region=us-east-1", "awskms://alias/f-state?region=eu-west-3", "not pinned to the home region"),
    ("s3://f-state", "awskms://alias/f-state?region=eu-west-3", "not pinned to the home region"),
    ("s3://f-state?region=eu-west-3", "passphrase", "not a customer KMS key"),
    ("s3://f-state?region=eu-west-3", "", "not a customer KMS key"),
    ("s3://f-state?region=eu-west-3", "awskms://alias/aws/s3?region=eu-west-3", "AWS-managed"),
    ("s3://f-state?region=eu-west-3", "awskms:///arn:aws:kms:us-east-1:111122223333:key/k", "not in the home region"),
])
def test_state_outside_the_home_region_or_not_customer_keyed_is_refused(backend, secrets, words):
    problems = state_problems(backend, secrets, "eu-west-3")
    assert len(problems) == 1 and words in problems[0]


def test_example_stacks_keep_state_and_secrets_home(monkeypatch):
    from infra.state import declared_state

    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    for site in ("paris-gb200", "ohio-trn3", "lab-b200"):
        region = load_spec(site_dir(site)).sovereignty.region
        assert state_problems(*declared_state(REPO, site), region) == [], site
