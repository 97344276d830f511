"""The Pulumi state's home: `aifactory bootstrap` against moto, and SOV-15 on where a stack keeps state and secrets."""

from __future__ import annotations

import json
import shutil

import pytest

from aifactory.aws.bootstrap import BootstrapError, bootstrap
from aifactory.cli import main
from aifactory.aws.moto_standin.backend import client_factory, in_process_moto
from aifactory.aws.plan import make_plan
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


def test_a_missing_stack_file_is_named_not_judged_as_pulumi_cloud(tmp_path, monkeypatch):
    from infra.state import stack_state

    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    args = stack_state("eu-west-3", tmp_path, "nowhere")
    assert args.missing_stack_file == str(tmp_path / "Pulumi.nowhere.yaml")
    (problem,) = state_problems(args.backend_url, args.secrets_provider, args.home_region, args.missing_stack_file)
    assert f"found no stack file {tmp_path / 'Pulumi.nowhere.yaml'}" in problem and "Pulumi Cloud" not in problem
    assert stack_state("eu-central-1", REPO, "lab-b200").missing_stack_file == ""


def test_plan_of_a_site_without_a_stack_file_names_the_file_it_looked_for(tmp_path, monkeypatch):
    """A new site planned before its Pulumi.<stack>.yaml exists: SOV-15 names that file."""
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    site = tmp_path / "no-stack-file"
    shutil.copytree(site_dir("lab-b200"), site)
    spec = site / "factory.yaml"
    spec.write_text(spec.read_text().replace("name: lab-b200", "name: no-stack-file", 1))
    plan = make_plan(site, progress=lambda line: None)
    (sov15,) = [c for c in plan.controls if c.id == "SOV-15"]
    (violation,) = sov15.violations
    assert f"found no stack file {REPO / 'Pulumi.no-stack-file.yaml'}" in violation.message
    assert "Pulumi Cloud" not in violation.message
