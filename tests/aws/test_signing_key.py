"""The acceptance certificate's KMS signing key: asymmetric, so KMS cannot rotate it; SOV-04 (the plan) and
`aifactory verify` (the deployed key) exempt it from the rotation check, and only it."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from aifactory.aws.moto_standin.backend import FAKE_CREDENTIALS
from aifactory.aws.plan import make_plan
from aifactory.aws.plan.engine import MOTO, PlannedResource
from aifactory.aws.plan.evaluate import evaluate
from aifactory.aws.verify import check_keys
from aifactory.spec import load_spec
from tests.conftest import site_dir
from tests.spec.conftest import write_site  # noqa: F401  (fixture: a mutated copy of an example site)


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


def test_a_spec_choosing_rsa_3072_plans_that_key_and_the_controls_pass(write_site):
    def rsa_3072(data):
        data["acceptance"]["certificate"]["kms_key_spec"] = "RSA_3072"
    plan = make_plan(write_site("ohio-trn3", rsa_3072), progress=lambda line: None)
    assert plan.errors == [] and [r.error for r in plan.resource_errors] == []
    (signing,) = [r for r in plan.resources if r.name == "ohio-trn3-acceptance-key"]
    assert signing.inputs["customerMasterKeySpec"] == "RSA_3072" and signing.inputs["keyUsage"] == "SIGN_VERIFY"
    assert signing.inputs["enableKeyRotation"] is False and signing.checked_by == MOTO
    assert [c.id for c in plan.controls if not c.passed] == []  # SOV-04 among them: the signing key is exempt
