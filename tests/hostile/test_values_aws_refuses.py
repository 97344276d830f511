"""Values AWS refuses (issue 27, class 6, the AWS side): they pass the spec's types but an AWS call would fail.

Each is refused by validate, naming the field, against the AWS API's model or the sourced table of limits
(aifactory.catalog.aws_api), the reference the offline plan holds mock-only resources to as well.
"""

from __future__ import annotations

import pytest

from tests.conftest import put
from tests.hostile.conftest import assert_refused, run_inprocess


def external_key_store(**xks):
    def mutate(data):
        data["sovereignty"]["keys"] = "external-key-store"
        data["sovereignty"]["external_key_store"] = {"proxy_uri_endpoint": "https://xks.example.com",
                                                     "connectivity": "public-endpoint", **xks}
    return mutate


def test_valid_external_key_store_passes(site, capsys):
    code, _, err = run_inprocess(capsys, "validate", site("paris-gb200", external_key_store()))
    assert code == 0, err


@pytest.mark.parametrize("field, value, words", [
    ("proxy_uri_endpoint", "https://xks.example.com:8443", "does not match kms CreateCustomKeyStore's pattern"),
    ("proxy_uri_path", "/v.1/kms/xks/v1", "does not match kms CreateCustomKeyStore's pattern"),
    ("proxy_uri_path", "/" + "p" * 120 + "/kms/xks/v1", "takes at most 128"),
], ids=["endpoint-port", "path-dot", "path-long"])
def test_external_key_store_kms_refuses(site, capsys, field, value, words):
    code, _, err = run_inprocess(capsys, "validate", site("paris-gb200", external_key_store(**{field: value})))
    assert_refused(code, err, f"sovereignty.external_key_store.{field}", words)


def test_external_key_store_service_name_kms_refuses(site, capsys):
    mutate = external_key_store(connectivity="vpc-endpoint-service", vpc_endpoint_service_name="vpce-svc-0123456789abcdef0")
    code, _, err = run_inprocess(capsys, "validate", site("paris-gb200", mutate))
    assert_refused(code, err, "sovereignty.external_key_store.vpc_endpoint_service_name", "pattern")


@pytest.mark.parametrize("principal, words", [
    ("arn:aws-cn:iam::123456789012:role/factory-ops", "partition aws-cn"),
    ("arn:aws-us-gov:iam::123456789012:user/alice", "partition aws-us-gov"),
    ("arn:aws:iam::123456789012:role/" + "o" * 65, "its role name has 65 characters"),
    ("arn:aws:iam::123456789012:user/team/" + "u" * 70, "its user name has 70 characters"),
], ids=["cn-role", "gov-user", "long-role", "long-user"])
def test_operator_principal_iam_refuses(site, capsys, principal, words):
    code, _, err = run_inprocess(capsys, "validate", site("paris-gb200", put("identity.operator_principals.0", principal)))
    assert_refused(code, err, "identity.operator_principals.0", words)


def test_customer_gateway_asn_beyond_ec2s_range_is_refused(site, capsys):
    # a private 32-bit ASN (private_asns takes it) that EC2's customer gateway BgpAsn does not
    code, _, err = run_inprocess(capsys, "validate", site("paris-gb200", put("hybrid_link.onprem_asn", 4200000001)))
    assert_refused(code, err, "hybrid_link.onprem_asn", "above the maximum 2147483647")


@pytest.mark.parametrize("prefix", ["xn--", "sthree-", "amzn-s3-demo-"])
def test_factory_name_s3_refuses_as_bucket_prefix(site, capsys, prefix):
    code, _, err = run_inprocess(capsys, "validate", site("paris-gb200", put("name", f"{prefix}factory")))
    assert_refused(code, err, "S3 refuses", repr(prefix))


def test_repeated_model_group_is_refused(site, capsys):
    groups = ["fraud-detection", "document-understanding", "fraud-detection"]
    code, _, err = run_inprocess(capsys, "validate", site("paris-gb200", put("aws_services.sagemaker.model_groups", groups)))
    assert_refused(code, err, "aws_services.sagemaker.model_groups.2", "repeats an earlier model group")
    assert "model_groups.0" not in err


def test_model_group_sagemaker_refuses_as_too_long_is_refused(site, capsys):
    groups = ["fraud-detection", "g" * 60]  # a DNS label, but paris-gb200-ggg... is over SageMaker's 63
    code, _, err = run_inprocess(capsys, "validate", site("paris-gb200", put("aws_services.sagemaker.model_groups", groups)))
    assert_refused(code, err, "aws_services.sagemaker.model_groups.1", "sagemaker CreateModelPackageGroup takes at most 63")


@pytest.mark.parametrize("cidr, words", [("172.17.0.0/22", "used by some AWS services"), ("169.254.8.0/22", "link-local")])
def test_vpc_range_in_a_block_aws_reserves_is_refused(site, capsys, cidr, words):
    code, _, err = run_inprocess(capsys, "validate", site("paris-gb200", put("hybrid_link.vpc_cidr", cidr)))
    assert_refused(code, err, "hybrid_link.vpc_cidr", words)
