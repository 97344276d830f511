"""Lab fixtures: a booted lab for the example site lab-b200, shared by the tests of one module.

These tests need root and systemd-nspawn/debootstrap (scripts/install-lab-deps.sh installs them);
elsewhere they skip and say why. The base root is built once and cached (aifactory/lab/base.py).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from aifactory.lab import aws, lifecycle, nodes, preflight
from aifactory.lab.state import LabState
from aifactory.spec import load_spec
from tests.conftest import site_dir


# Lab tests marked `lab_long` run only with AIFACTORY_LAB_LONG=1: each is a lab of its own that runs for longer
# than `make test`'s share of CI's time on two cores allows (the README's "The two commands" lists them).
LONG_ENV = "AIFACTORY_LAB_LONG"


def pytest_collection_modifyitems(config, items):
    problems = preflight.missing()
    long_skip = pytest.mark.skip(reason=f"long lab scenario: set {LONG_ENV}=1 to run it")
    for item in items:
        if "lab_long" in item.keywords and os.environ.get(LONG_ENV) != "1":
            item.add_marker(long_skip)
    if not problems:
        return
    skip = pytest.mark.skip(reason="lab tests: " + "; ".join(problems))
    for item in items:
        if "lab" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def lab_dir(tmp_path_factory, monkeypatch_session):
    d = tmp_path_factory.mktemp("lab-state")
    monkeypatch_session.setenv("AIFACTORY_LAB_DIR", str(d))
    return d


@pytest.fixture(scope="session")
def monkeypatch_session():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def lab(lab_dir, request):
    """lab-b200's lab, up for the module and removed after it; yields (Factory, LabState).
    Each node gets the module's LAB_SCRATCH_DISKS empty loop devices (2 when it sets none)."""
    f = load_spec(site_dir("lab-b200"))
    lifecycle.up(f, progress=lambda line: None, scratch_disks=getattr(request.module, "LAB_SCRATCH_DISKS", 2))
    try:
        yield f, LabState.load(f.name)
    finally:
        lifecycle.down(f.name, progress=lambda line: None)


@pytest.fixture(scope="module")
def lab_stack_outputs(lab):
    """The stack outputs of lab-b200 planned against the lab's moto_server, in the lab's stack-outputs
    file (whose endpoint names the lab's DNS stand-in answers), as `aifactory rehearse` makes them."""
    f, state = lab
    path = aws.stack_outputs_path(state)
    done = subprocess.run([sys.executable, "-m", "aifactory.cli", "plan", str(site_dir(f.name)), "--aws-endpoint",
                           state.endpoints["aws"], "--format", "json", "--stack-outputs", str(path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and path.is_file(), done.stderr[-2000:]
    return path


def node_ssh(state: LabState, address: str, command: str) -> subprocess.CompletedProcess:
    return nodes.ssh(state, address, command, timeout=60)
