"""`aifactory lab up` then `lab down` through the CLI leaves nothing behind: no namespace, link,
mount, loop device, cgroup or process, and `lab status` tells up from down."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from aifactory.cli import main
from aifactory.lab import cgroups, lifecycle, procs, traces
from aifactory.lab.state import LabState
from aifactory.spec import load_spec
from tests.conftest import site_dir

pytestmark = pytest.mark.lab


def leftovers(state: dict) -> list[str]:
    """Every recorded resource that still exists on this machine."""
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    mounts = Path("/proc/mounts").read_text()
    loops = subprocess.run(["losetup", "-n", "-O", "NAME,BACK-FILE"], capture_output=True, text=True).stdout
    for r in state["resources"]:
        kind = r["kind"]
        if kind == "netns" and r["name"] in netns:
            found.append(f"netns {r['name']}")
        elif kind == "link" and subprocess.run(["ip", "link", "show", r["name"]], capture_output=True).returncode == 0:
            found.append(f"link {r['name']}")
        elif kind == "mount" and f" {r['path']} " in mounts:
            found.append(f"mount {r['path']}")
        elif kind == "loop" and r["backing"] in loops:
            found.append(f"loop {r['device']}")
        elif kind == "process" and procs.alive(r):
            found.append(f"process {r['pid']}")
        elif kind == "cgroup" and any(Path(h, r["path"]).exists() for h in ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified")):
            found.append(f"cgroup {r['path']}")
        elif kind == "nft" and subprocess.run(["nft", "list", "table", "inet", r["table"]],
                                              capture_output=True).returncode == 0:
            found.append(f"nft table {r['table']}")
    return found


def test_up_status_down_leaves_nothing_behind(lab_dir, capsys, monkeypatch, tmp_path):
    site = site_dir("lab-b200")
    assert main(["lab", "up", str(site), "--scratch-disks", "1"]) == 0
    out = capsys.readouterr().out
    assert "AWS stand-in: moto_server at http://127.0.0.1:" in out
    assert "BMC stand-in: sushy-emulator at https://127.0.0.1:" in out
    f = load_spec(site)
    assert out.count("node stand-in") == 2 * (len(f.nodes) + len(f.head_nodes))  # booting + up, per node and head node
    recorded = json.loads((Path(os.environ["AIFACTORY_LAB_DIR"]) / "lab-b200" / "state.json").read_text())
    kinds = {r["kind"] for r in recorded["resources"]}
    assert kinds == {"process", "netns", "link", "mount", "loop", "cgroup", "nft"}
    assert len(leftovers(recorded)) == len(recorded["resources"])  # everything recorded exists

    assert main(["lab", "status", str(site), "--format", "json"]) == 0
    assert all(r["up"] for r in json.loads(capsys.readouterr().out)["resources"])

    # A process that lost the record (another lab root and state directory: a killed run's) still finds the lab
    # through the bridge, which names the state file, and `lab down` removes what that file records.
    bridge = next(r["name"] for r in recorded["resources"] if r["kind"] == "link" and r["name"].startswith("afbr"))
    assert traces.bridge_alias(bridge) == str(Path(os.environ["AIFACTORY_LAB_DIR"]) / "lab-b200" / "state.json")
    monkeypatch.setenv("AIFACTORY_LAB_DIR", str(tmp_path / "another-lab-root"))
    monkeypatch.setenv("AIFACTORY_STATE_DIR", str(tmp_path / "another-state-dir"))
    assert main(["lab", "down", str(site)]) == 0
    assert leftovers(recorded) == []
    nodes_dir = lab_dir / "lab-b200" / "nodes"
    # No node's upper layer or disk image is left; only the console logs.
    assert [p for p in nodes_dir.rglob("*") if p.name != "console.log" and not p.is_dir()] == []
    assert LabState.load("lab-b200") is None
    assert main(["lab", "status", str(site)]) == 1
    assert "no lab is up for lab-b200" in capsys.readouterr().out


def test_down_kills_what_a_stopped_node_s_cgroup_still_holds(lab_dir):
    """A container's service may outlive the node's supervisor for a moment (munged did, under load): `lab down`
    kills what is left in the node's cgroup and then removes it, instead of failing on a busy cgroup and leaving
    the other nodes up."""
    site = "lab-leftover"
    state = LabState(site=site)
    rel = cgroups.relative_path(site, "n01")
    left = subprocess.Popen(["sleep", "600"])
    try:
        cgroups.enter(rel, left.pid)
        state.record("cgroup", path=rel)
        assert cgroups.populated(rel)
        assert lifecycle.down(site, progress=lambda line: None)
        assert left.wait(timeout=30) == -9 and not cgroups.exists(rel) and LabState.load(site) is None
    finally:
        left.kill()
