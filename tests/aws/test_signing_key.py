"""The acceptance certificate's KMS signing key: asymmetric, so KMS cannot rotate it; SOV-04 (the plan) and
`aifactory verify` (the deployed key) exempt it from the rotation check, and only it."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from aifactory.aws.moto_standin.backend import FAKE_CREDENTIALS
from aifactory.aws.plan.engine import MOTO, PlannedResource
from aifactory.aws.plan.evaluate import evaluate
from aifactory.aws.verify import check_keys
from aifactory.spec import load_spec
from tests.conftest import site_dir


def key(name: str, **inputs) -> PlannedResource:
    typ = "aws:kms/key:Key"
    return PlannedResource(f"urn:pulumi:plan::aifactory::{typ}::{name}", typ, name, "Keys", inputs, inputs,
                           f"{name}-id", MOTO)


def sov04(*resources) -> list[str]:
    (control,) = [c for c in evaluate(list(resources)) if c.id == "SOV-04"]
    return [v.resource for v in control.violations]


def test_sov04_exempts_a_signing_key_from_rotation_and_nothing_else():
    signing = key("acceptance-key", keyUsage="SIGN_VERIFY", customerMasterKeySpec="ECC_NIST_P256", enableKeyRotation=False)
    encryption = key("data-key", keyUsage="ENCRYPT_DECRYPT", enableKeyRotation=False)
    default_usage = key("logs-key", enableKeyRotation=False)
    assert sov04(signing, encryption, default_usage) == ["data-key", "logs-key"]


@pytest.fixture
def kms():
    with mock_aws():
        yield boto3.session.Session(**FAKE_CREDENTIALS).client("kms", region_name="eu-west-3")


def test_verify_checks_the_signing_key_is_enabled_not_that_it_rotates(kms):
    f = load_spec(site_dir("paris-gb200"))
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/paris-gb200-acceptance", TargetKeyId=key_id)
    (check,) = check_keys(kms, f)
    assert check.ok and "cannot rotate" in check.detail and "ECC_NIST_P256" in check.detail
    kms.disable_key(KeyId=key_id)
    (check,) = check_keys(kms, f)
    assert not check.ok and "Disabled" in check.detail
