"""The policy pack serves the same SOV-nn policies to a Pulumi engine, all MANDATORY."""

from __future__ import annotations

import subprocess
import sys

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2_grpc

from aifactory.aws.plan.controls import CONTROLS
from tests.conftest import REPO


def test_policy_pack_serves_every_control():
    proc = subprocess.Popen([sys.executable, str(REPO / "policies" / "__main__.py")], cwd=REPO / "policies",
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(proc.stdout.readline().strip())  # the analyzer prints its port, as the engine expects
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert info.name == "aifactory-sovereignty"
    assert [p.name for p in info.policies] == [c.policy.name for c in CONTROLS]
    ids = {p.description.split(":")[0] for p in info.policies}
    assert ids == {f"SOV-{i:02d}" for i in range(1, len(ids) + 1)} and len(ids) >= 11
    assert {p.enforcementLevel for p in info.policies} == {1}  # MANDATORY in the analyzer proto
