"""`aifactory verify`'s key check against moto: KMS keys must rotate; keys in an external key store
(XKS) are checked for where they live and whether they are usable, never for KMS rotation."""

from __future__ import annotations

import shutil

import boto3
import pytest
import yaml
from moto import mock_aws

from aifactory.aws.moto_standin.backend import FAKE_CREDENTIALS
from aifactory.spec import Factory, load_spec
from aifactory.aws.verify import check_keys
from tests.conftest import site_dir

XKS = {"proxy_uri_endpoint": "https://xks.par1.factory.internal", "connectivity": "vpc-endpoint-service",
       "vpc_endpoint_service_name": "com.amazonaws.vpce.eu-west-3.vpce-svc-0123456789abcdef0"}
STORE = "cks-0123456789abcdef0"


def paris(tmp_path, mutate=None) -> Factory:
    site = shutil.copytree(site_dir("paris-gb200"), tmp_path / "paris-gb200")
    data = yaml.safe_load((site / "factory.yaml").read_text())
    if mutate:
        mutate(data)
    (site / "factory.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return load_spec(site)


def with_external_key_store(data):
    data["sovereignty"].update(keys="external-key-store", external_key_store=XKS)


@pytest.fixture
def kms():
    with mock_aws():
        yield boto3.session.Session(**FAKE_CREDENTIALS).client("kms", region_name="eu-west-3")


def key(kms, alias: str, **create) -> str:
    key_id = kms.create_key(**create)["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    return key_id


def xks_key(kms, alias: str) -> str:
    return key(kms, alias, Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=STORE, XksKeyId="factory-data-1")


def results(checks):
    return {c.name: c.ok for c in checks}


def test_external_key_store_keys_get_no_rotation_check(kms, tmp_path):
    f = paris(tmp_path, with_external_key_store)
    xks_key(kms, "alias/paris-gb200-data")
    xks_key(kms, "alias/paris-gb200-logs")
    key(kms, "alias/someone-else")  # not the factory's
    checks = check_keys(kms, f)
    # moto reports rotation off for these keys: a rotation check would have failed them.
    assert results(checks) == {"key alias/paris-gb200-data": True, "key alias/paris-gb200-logs": True}
    assert checks[0].detail.endswith(", Enabled; rotated by the external key manager, not KMS")


def test_external_key_store_key_disabled_or_held_by_kms_fails(kms, tmp_path):
    f = paris(tmp_path, with_external_key_store)
    kms.disable_key(KeyId=xks_key(kms, "alias/paris-gb200-data"))
    kms.enable_key_rotation(KeyId=key(kms, "alias/paris-gb200-logs"))
    checks = {c.name: c for c in check_keys(kms, f)}
    assert not checks["key alias/paris-gb200-data"].ok and "Disabled" in checks["key alias/paris-gb200-data"].detail
    assert not checks["key alias/paris-gb200-logs"].ok
    assert checks["key alias/paris-gb200-logs"].detail == "origin AWS_KMS, but sovereignty.keys is external-key-store"


def test_customer_managed_keys_must_rotate(kms, tmp_path):
    f = paris(tmp_path)
    kms.enable_key_rotation(KeyId=key(kms, "alias/paris-gb200-data"))
    key(kms, "alias/paris-gb200-logs")
    xks_key(kms, "alias/paris-gb200-extra")
    checks = {c.name: (c.ok, c.detail) for c in check_keys(kms, f)}
    assert checks == {
        "key alias/paris-gb200-data": (True, "rotation on"),
        "key alias/paris-gb200-logs": (False, "rotation off"),
        "key alias/paris-gb200-extra": (False, "in an external key store, but sovereignty.keys is customer-managed"),
    }
