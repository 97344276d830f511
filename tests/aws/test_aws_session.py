"""`aws_session`: the one way bootstrap and verify reach AWS or a moto_server."""

from __future__ import annotations

from argparse import Namespace

from aifactory.commands.aws import aws_session
from aifactory.aws.moto_standin.backend import FAKE_CREDENTIALS


def test_a_moto_endpoint_gets_fake_credentials_and_the_region():
    client = aws_session(Namespace(aws_endpoint="http://127.0.0.1:5999"), "eu-west-3")("sts")
    assert client.meta.endpoint_url == "http://127.0.0.1:5999"
    assert client.meta.region_name == "eu-west-3"
    assert client._request_signer._credentials.access_key == FAKE_CREDENTIALS["aws_access_key_id"]


def test_real_aws_uses_the_regional_endpoint(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    client = aws_session(Namespace(aws_endpoint=None, aws_account="111122223333"), "eu-central-1")("sts")
    assert client.meta.endpoint_url == "https://sts.eu-central-1.amazonaws.com"
    assert client._request_signer._credentials.access_key == "AKIDEXAMPLE"
