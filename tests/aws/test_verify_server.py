"""The boto3 verification passes against a moto_server after a plan with --aws-endpoint, and catches an IGW."""

from __future__ import annotations

import boto3

from aifactory.aws.plan import make_plan
from aifactory.aws.moto_standin.backend import FAKE_CREDENTIALS, use_moto_account
from aifactory.spec import load_spec
from aifactory.aws.verify import find_hub_vpc, verify
from tests.conftest import site_dir


def test_verify_passes_after_plan_and_fails_on_igw(moto_server):
    site = site_dir("ohio-trn3")  # has buckets (SageMaker artifacts, in-region Bedrock logs)
    plan = make_plan(site, aws_endpoint=moto_server, progress=lambda line: None)
    assert plan.clean, plan.as_dict()["errors"]
    factory = load_spec(site)
    session = boto3.session.Session(**FAKE_CREDENTIALS)
    use_moto_account(session, plan.account)  # the plan's own account (as verify --aws-account does)
    clients = lambda service: session.client(service, region_name=factory.sovereignty.region, endpoint_url=moto_server)  # noqa: E731
    checks = verify(factory, clients)
    assert [c.name for c in checks if not c.ok] == []
    assert {"hub has no internet gateway", "endpoint bedrock-runtime", "transit gateway route table"} <= {c.name for c in checks}
    assert any(c.name.startswith("bucket ") for c in checks) and any(c.name.startswith("key ") for c in checks)

    ec2 = clients("ec2")
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=find_hub_vpc(ec2, factory)["VpcId"])
    failed = [c for c in verify(factory, clients) if not c.ok]
    assert [(c.name, c.detail) for c in failed] == [("hub has no internet gateway", igw)]
