"""Plans run in-process: each run gets its own event loop, Pulumi settings and moto state."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aifactory.aws.moto_standin.backend import new_account_id
from aifactory.aws.moto_standin.worker import MotoWorker
from aifactory.aws.plan import make_plan
from aifactory.spec import load_spec

PROGRAMS = Path(__file__).resolve().parent / "programs"
BASELINE = PROGRAMS / "baseline"
REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "inventories" / "lab-b200"


@pytest.fixture(scope="module")
def shared_moto_worker():
    """One moto worker for a module's plans (moto starts once); each plan takes an account of its own in it,
    as `aifactory plan` does for several sites, so no plan sees another's resources."""
    with MotoWorker(load_spec(LAB).sovereignty.region) as worker:
        yield worker


@pytest.fixture
def plan_with_fault(monkeypatch, shared_moto_worker):
    """Plan lab-b200 with the baseline program and one injected fault (PLAN_FAULT), in a new account of the
    module's moto worker."""

    def run(fault: str):
        monkeypatch.setenv("PLAN_FAULT", fault)
        site = shared_moto_worker.site(shared_moto_worker.region, new_account_id())
        return make_plan(LAB, BASELINE, progress=lambda line: None, worker=site)

    return run


def failed_controls(plan) -> dict[str, list]:
    return {c.id: c.violations for c in plan.controls if not c.passed}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto_server(managed_policies: bool):
    """A moto_server on a free port, with or without AWS's managed policies; yields its URL."""
    port = free_port()
    moto_bin = Path(sys.executable).with_name("moto_server")
    env = {k: v for k, v in os.environ.items() if k not in ("MOTO_IAM_LOAD_MANAGED_POLICIES", "MOTO_ACCOUNT_ID")}
    if managed_policies:
        env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    proc = subprocess.Popen([str(moto_bin), "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def moto_server():
    yield from start_moto_server(managed_policies=True)


@pytest.fixture
def bare_moto_server():
    """A moto_server started without MOTO_IAM_LOAD_MANAGED_POLICIES."""
    yield from start_moto_server(managed_policies=False)
