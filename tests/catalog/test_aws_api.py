"""The AWS API's model and the sourced table of limits it lacks (aifactory.catalog.aws_api)."""

from __future__ import annotations

import pytest

from aifactory.catalog import aws_api


def test_every_row_of_the_table_names_a_member_of_the_model_and_its_source():
    for row in aws_api.limits()["members"]:
        aws_api.member_shape(row["service"], row["operation"], row["member"])  # KeyError: a typo in the table
        assert row["source"].startswith("https://docs.aws.amazon.com/"), row
    for section in ("s3_bucket_name", "vpc_reserved_blocks"):
        assert aws_api.limits()[section]["source"].startswith("https://docs.aws.amazon.com/")


def test_table_adds_the_limit_the_model_lacks():
    assert aws_api.member_shape("ec2", "CreateCustomerGateway", "BgpAsn").metadata.get("max") is None  # the model is silent
    assert aws_api.member_range("ec2", "CreateCustomerGateway", "BgpAsn") == (1, 2147483647)
    refused = aws_api.check_input("ec2", "CreateCustomerGateway", {"Type": "ipsec.1", "BgpAsn": 4200000001})
    assert [r.path for r in refused] == ["BgpAsn"] and "2147483647" in refused[0].message


def test_model_checks_required_members_types_enums_ranges_lengths_and_patterns():
    refused = aws_api.check_input("rolesanywhere", "CreateProfile", {
        "roleArns": ["not-an-arn"], "durationSeconds": "3600", "tags": [{"key": "k" * 200, "value": "v"}]})
    by_path = {r.path: r.message for r in refused}
    assert "required by rolesanywhere CreateProfile" in by_path["name"]
    assert "does not match" in by_path["roleArns[0]"]
    assert "must be an integer" in by_path["durationSeconds"]
    assert "takes at most 128" in by_path["tags[0].key"]
    assert aws_api.check_input("rolesanywhere", "CreateProfile", {"name": "nodes", "roleArns": [], "durationSeconds": 900}) == []


def test_sensitive_values_are_never_carried():
    refused = aws_api.check_member("kms", "CreateCustomKeyStore", "XksProxyAuthenticationCredential",
                                   {"AccessKeyId": "AIFACTORYOFFLINEPLANXKS", "RawSecretAccessKey": "short"})
    assert [r.path for r in refused] == ["RawSecretAccessKey"] and refused[0].value is None


@pytest.mark.parametrize("name, words", [("ab", "3-63 characters"), ("Factory-logs", "lowercase"), ("a..b", "adjacent dots"),
                                         ("192.168.1.1", "IP address"), ("xn--factory", "'xn--'"),
                                         ("factory-s3alias", "'-s3alias'")])
def test_bucket_names_s3_refuses(name, words):
    assert words in aws_api.bucket_name_problem(name)


def test_bucket_name_s3_accepts():
    assert aws_api.bucket_name_problem("paris-gb200-pulumi-state") is None


def test_partition_of_a_region():
    assert [aws_api.partition_of(r) for r in ("eu-west-3", "cn-north-1", "us-gov-west-1", "us-east-1")] == \
        ["aws", "aws-cn", "aws-us-gov", "aws"]


def test_vpc_ranges_in_reserved_blocks():
    assert "used by some AWS services" in aws_api.vpc_reserved_overlap("172.17.0.0/22")
    assert aws_api.vpc_reserved_overlap("10.210.0.0/22") is None
