"""The boto3 verification passes against a moto_server after a plan with --aws-endpoint, and catches an IGW."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from aifactory.plan import make_plan
from aifactory.moto_standin.backend import FAKE_CREDENTIALS
from aifactory.spec import load_spec
from aifactory.verify import find_hub_vpc, verify
from tests.conftest import site_dir


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def moto_server():
    port = _free_port()
    moto_bin = Path(sys.executable).with_name("moto_server")
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    proc = subprocess.Popen([str(moto_bin), "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until it accepts connections (readiness, not timing)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("moto_server exited at start")
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.kill()
        proc.wait()


def test_verify_passes_after_plan_and_fails_on_igw(moto_server):
    site = site_dir("ohio-trn3")  # has buckets (SageMaker artifacts, in-region Bedrock logs)
    plan = make_plan(site, aws_endpoint=moto_server, progress=lambda line: None)
    assert plan.clean, plan.as_dict()["errors"]
    factory = load_spec(site)
    session = boto3.session.Session(**FAKE_CREDENTIALS)
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
