"""The traces a lab leaves on the machine name where its state file is, read as input: a lab a killed run left up
is found by them (the scenario tests/scenarios/test_lab_teardown.py finds one by its bridge's alias)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from aifactory.lab import network, state, traces
from aifactory.lab.state import LabState

SITE = "lab-b200"
NODE_MOUNT = ("aifactory-lab-lab-b200-r001-n01 /tmp/run-1/lab-state0/lab-b200/nodes/lab-b200-r001-n01/root overlay "
              "rw,relatime,lowerdir=/var/cache/base,upperdir=u,workdir=w 0 0")


def test_a_node_overlay_names_its_lab_root_and_nothing_else_does():
    other = [
        "proc /proc proc rw 0 0",
        # another site's node, a mount not made by a lab, a path that climbs out, a node whose name does not match
        NODE_MOUNT.replace("lab-state0/lab-b200/", "lab-state0/lab-gb200/"),
        "overlay /var/lib/docker/overlay2/x/merged overlay rw 0 0",
        "aifactory-lab-n /tmp/../etc/lab-b200/nodes/n/root overlay rw 0 0",
        NODE_MOUNT.replace("aifactory-lab-lab-b200-r001-n01 ", "aifactory-lab-other "),
    ]
    assert traces.lab_roots(SITE, "afbr-none", "\n".join(other)) == []
    assert traces.lab_roots(SITE, "afbr-none", "\n".join([*other, NODE_MOUNT, NODE_MOUNT])) == [Path("/tmp/run-1/lab-state0")]


@pytest.mark.parametrize(("alias", "root"), [("/tmp/run-2/lab-b200/state.json", Path("/tmp/run-2")),
                                             ("/tmp/run-2/lab-gb200/state.json", None),
                                             ("tmp/lab-b200/state.json", None),
                                             ("/tmp/../lab-b200/state.json", None),
                                             ("/tmp/run-2/lab-b200/other.json", None),
                                             ("", None)])
def test_a_bridge_alias_names_a_lab_root_only_as_the_site_s_state_file(alias, root):
    assert traces.root_of_state_file(alias, SITE) == root


@pytest.mark.machine_traces
def test_a_lab_recorded_elsewhere_is_loaded_from_where_the_machine_says(tmp_path, monkeypatch):
    """No state under this environment's lab root or pointer: the traces' root is read, as strictly as any."""
    monkeypatch.setenv("AIFACTORY_LAB_DIR", str(tmp_path / "here"))
    monkeypatch.setenv("AIFACTORY_STATE_DIR", str(tmp_path / "state"))
    elsewhere = tmp_path / "killed-run"
    recorded = LabState(site=SITE, root=elsewhere)
    recorded.save()
    recorded.record("netns", name="aifactory-lab-lab-b200-lab-b200-r001-n01")
    (tmp_path / "state" / "labs" / f"{SITE}.path").unlink()  # the pointer went with the killed run's state directory
    monkeypatch.setattr(traces, "bridge_alias", lambda bridge: str(elsewhere / SITE / "state.json"))
    found = LabState.load(SITE)
    assert found is not None and found.root == elsewhere and found.resources == recorded.resources

    (elsewhere / SITE / "state.json").write_text('{"site": "lab-b200", "resources": [{"kind": "anything"}]}')
    with pytest.raises(state.BadInput, match="not the lab state of lab-b200"):
        LabState.load(SITE)


def test_a_machine_without_iproute2_has_no_bridge_alias(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert traces.bridge_alias("afbr000000") == ""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="creates a bridge: root and iproute2")
@pytest.mark.parametrize("name_bytes", [network.IFALIAS_MAX_BYTES, network.IFALIAS_MAX_BYTES + 1])
def test_the_bridge_names_its_state_file_when_the_kernel_can_keep_the_path(tmp_path, name_bytes):
    """The alias holds at most 255 bytes: a lab root whose state file's path is longer (counted in bytes, an "é"
    is two) gets a bridge without one, and is found through its record as before."""
    site = "lab-alias-test"
    fixed = len(str(tmp_path / "" / site / "state.json").encode()) + 1
    root = tmp_path / ("é" * ((name_bytes - fixed) // 2) + "x" * ((name_bytes - fixed) % 2))
    state = LabState(site=site, root=root)
    assert len(str(state.path).encode()) == name_bytes
    try:
        bridge = network.create_bridge(state, "10.250.77.0/24")
        expected = str(state.path) if name_bytes <= network.IFALIAS_MAX_BYTES else ""
        assert traces.bridge_alias(bridge) == expected
    finally:
        network.remove_link(network.bridge_name(site))
