"""Lab fixtures: a booted lab for the example site lab-b200, shared by the tests of one module.

These tests need root and systemd-nspawn/debootstrap (scripts/install-lab-deps.sh installs them);
elsewhere they skip and say why. The base root is built once and cached (aifactory/lab/base.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from aifactory.lab import aws, lifecycle, nodes, preflight
from aifactory.lab.state import LabState
from aifactory.spec import load_spec
from bench.specs import lab_network
from tests.conftest import LAB_ORDER, site_dir


def pytest_sessionstart(session):
    """Take down the labs of these tests' sites that an earlier test run left up when it was killed (a CI run cut
    off at its time limit): each would refuse its site's network to every lab module of this run. Only a lab
    recorded under pytest's temporary directory is taken down, found by the machine's traces of it
    (aifactory.lab.traces); a lab someone brought up by hand is left, and its site's tests say it is up.
    The controller does it once, before any worker starts a lab."""
    if hasattr(session.config, "workerinput") or os.geteuid() != 0 or preflight.missing():
        return
    temp_root = Path(tempfile.gettempdir()).resolve()
    say = session.config.pluginmanager.get_plugin("terminalreporter")
    for site in LAB_ORDER:
        left = LabState.load(site)
        if left is not None and left.root.resolve().is_relative_to(temp_root) and "pytest-of-" in str(left.root):
            lifecycle.down(site, progress=lambda line: None)
            if say is not None:
                say.write_line(f"removed the lab of {site} an earlier test run left up (recorded in {left.dir})",
                               yellow=True)


def pytest_collection_modifyitems(config, items):
    problems = preflight.missing()
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


def lab_b200_copy(name: str, octet: int, dest: Path) -> Path:
    """lab-b200 as the site `name` on 10.`octet`.0.0/16, written under `dest`: a lab of its own, which can be up
    beside lab-b200's (tests/conftest.py's LAB_SITES gives its module a group of its own). Without monitoring: the
    lab-b200 rehearsal proves it (test_rehearse.py), and these labs spend their minutes on what they test."""
    site = dest / name
    shutil.copytree(site_dir("lab-b200"), site)
    data = yaml.safe_load((site / "factory.yaml").read_text())
    data["name"] = name
    data["monitoring"]["enabled"] = False
    data["network"].update(domain=f"{name}.factory.internal", **lab_network(octet))
    data["hybrid_link"]["vpc_cidr"] = f"10.{100 + octet}.0.0/24"
    (site / "factory.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return site


@pytest.fixture(scope="module")
def lab(lab_dir, request, tmp_path_factory):
    """lab-b200's lab, up for the module and removed after it; yields (Factory, LabState).
    Each node gets the module's LAB_SCRATCH_DISKS empty loop devices (2 when it sets none). A module that sets
    LAB_COPY = (name, octet) gets a copy of lab-b200 under that name and network instead (lab_b200_copy)."""
    copy = getattr(request.module, "LAB_COPY", None)
    site = lab_b200_copy(*copy, tmp_path_factory.mktemp("site")) if copy else site_dir("lab-b200")
    f = load_spec(site)
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
    done = subprocess.run([sys.executable, "-m", "aifactory.cli", "plan", str(f.site_dir), "--aws-endpoint",
                           state.endpoints["aws"], "--format", "json", "--stack-outputs", str(path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and path.is_file(), done.stderr[-2000:]
    return path


def node_ssh(state: LabState, address: str, command: str) -> subprocess.CompletedProcess:
    return nodes.ssh(state, address, command, timeout=60)
