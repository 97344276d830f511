"""The moto worker: one process per plan that answers like an in-process Backend, errors included."""

from __future__ import annotations

import gc
import json
import os
import re
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pulumi.runtime import rpc

from aifactory.core.batch_gc import BATCH_THRESHOLDS, fewer_collections
from aifactory.aws.moto_standin import backend as backend_module
from aifactory.aws.moto_standin.backend import ACCOUNT_ID, KNOWN_AFTER_APPLY, WARM_UP, AwsRejected, Backend, client_factory, in_process_moto
from aifactory.aws.moto_standin.worker import MotoWorker, WorkerFailed
from aifactory.aws.plan import make_plan
from tests.aws.conftest import LAB, PROGRAMS

REGION = "eu-west-3"


def test_worker_answers_as_moto_in_its_own_account():
    with MotoWorker(REGION) as aws:
        assert aws.caller_identity()["Account"] == ACCOUNT_ID
        assert {z["ZoneName"] for z in aws.availability_zones()} >= {f"{REGION}a", f"{REGION}b"}
        vpc_id, outputs = aws.create("aws:ec2/vpc:Vpc", "hub", {"cidrBlock": "10.20.0.0/16"})
        assert vpc_id.startswith("vpc-") and outputs["arn"].endswith(f"vpc/{vpc_id}")
        subnet_id, _ = aws.create("aws:ec2/subnet:Subnet", "a", {"vpcId": vpc_id, "cidrBlock": "10.20.1.0/24"})
        assert subnet_id.startswith("subnet-")  # the VPC made by the previous call is there


def test_handler_errors_come_back_as_themselves():
    with MotoWorker(REGION) as aws:
        with pytest.raises(AwsRejected, match="InvalidVpcID.NotFound"):
            aws.create("aws:ec2/subnet:Subnet", "a", {"vpcId": "vpc-0000000000000000", "cidrBlock": "10.20.1.0/24"})
        with pytest.raises(KeyError, match="cidrBlock"):
            aws.create("aws:ec2/vpc:Vpc", "hub", {})
        assert aws.caller_identity()["Account"] == ACCOUNT_ID  # still serving after both


def test_calls_from_many_threads_each_get_their_own_answer():
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    names = [f"role-{i}" for i in range(24)]
    with MotoWorker(REGION) as aws, ThreadPoolExecutor(8) as pool:  # requests in flight together
        answers = list(pool.map(lambda n: aws.create("aws:iam/role:Role", n, {"name": n, "assumeRolePolicy": trust}), names))
    assert [role_id for role_id, _ in answers] == names
    assert all(out["arn"].endswith(f":role/{n}") for n, (_, out) in zip(names, answers))


def test_the_worker_ends_when_the_plan_ends_and_is_killed_on_ctrl_c():
    with MotoWorker(REGION) as finished:
        finished.caller_identity()
    assert finished._proc.returncode == 0  # it read the end of its stdin and exited
    with pytest.raises(KeyboardInterrupt), MotoWorker(REGION) as interrupted:
        raise KeyboardInterrupt  # still setting moto up: not waited for
    assert interrupted._proc.returncode == -signal.SIGKILL


def test_a_dead_worker_is_an_error_not_a_hang():
    with MotoWorker(REGION) as aws:
        os.kill(aws.pid, signal.SIGKILL)
        with pytest.raises(WorkerFailed, match="exited .*exit status -9"):
            aws.caller_identity()


def test_plans_name_the_worker_as_their_aws():
    plan = make_plan(LAB, PROGRAMS / "baseline", progress=lambda line: None)
    assert plan.backend == "moto (worker process)" and plan.clean


def test_warm_up_covers_every_service_the_handlers_call():
    source = Path(backend_module.__file__).read_text()
    called = set(re.findall(r'clients\("([a-z0-9]+)"', source)) | {"ec2"}  # Backend.ec2() for EC2
    assert called <= set(WARM_UP)
    with in_process_moto():
        backend = Backend(client_factory(None), REGION)
        for service in WARM_UP:
            backend.warm_up(service)  # each read exists in moto and needs no resource


def test_known_after_apply_is_pulumis_unknown():
    assert KNOWN_AFTER_APPLY == rpc.UNKNOWN


def test_fewer_collections_is_undone_even_on_error():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        with fewer_collections():
            assert gc.get_threshold() == BATCH_THRESHOLDS
            raise RuntimeError("the plan failed")
    assert gc.get_threshold() == before
