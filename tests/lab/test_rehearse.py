"""`aifactory rehearse lab-b200`: the whole deployment against the lab passes, the second bringup
changes nothing, the acceptance results come from the nodes, the steps a container cannot run are
reported as skipped, and the lab is gone afterwards (checked here, independently of `lab down`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from aifactory.cli import main
from aifactory.lab.state import LabState
from aifactory.spec import load_spec
from tests.conftest import site_dir

pytestmark = pytest.mark.lab


def lab_leftovers(lab_dir) -> list[str]:
    """Namespaces, loop devices and processes of a lab-b200 lab under `lab_dir` that still exist."""
    netns = [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
             if n.startswith("aifactory-lab-lab-b200-")]
    loops = [ln for ln in subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout.splitlines()
             if str(lab_dir) in ln]
    cgroups = [str(d) for h in ("", "systemd", "unified")
               if (d := Path("/sys/fs/cgroup") / h / "aifactory-lab" / "lab-b200").exists()]
    return netns + loops + cgroups + lab_processes(lab_dir)


def lab_processes(lab_dir) -> list[str]:
    """Processes writing their output into `lab_dir` (every lab process logs there) or run from it."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            out = os.readlink(proc / "fd" / "1")
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if out.startswith(str(lab_dir)) or str(lab_dir) in cmdline:
            found.append(f"process {proc.name}: {cmdline[:120]}")
    return found


def test_rehearse_lab_b200_passes_and_leaves_no_lab(lab_dir, capsys):
    rc = main(["rehearse", str(site_dir("lab-b200")), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    stages = {s["name"]: s for s in report["stages"]}
    outcomes = {name: s["outcome"] for name, s in stages.items()}
    assert rc == 0 and report["passed"], [s for s in report["stages"] if s["outcome"] == "failed"]
    assert list(outcomes) == ["lab up", "plan (AWS side against moto_server)", "bringup",
                              "bringup again (must change nothing)", "acceptance", "GPU / kernel-module steps",
                              "AWS link (node side)", "lab down"]
    assert all(s["seconds"] >= 0 for s in report["stages"])
    assert stages["bringup"]["detail"].startswith("7 hosts ok")  # 3 nodes, 3 BMCs, the controller
    assert stages["bringup again (must change nothing)"]["detail"] == "7 hosts ok, 0 changes"
    # Every node ran its checks, scratch was formatted and mounted on the node's empty disk; the checks that
    # need hardware could not run on the stand-ins: incomplete, truthfully, without failing the rehearsal.
    assert outcomes["acceptance"] == "incomplete"
    for node in load_spec(site_dir("lab-b200")).nodes:
        assert f"{node.name} incomplete (3 passed, 0 failed, " in stages["acceptance"]["detail"]  # scratch, Bedrock
    assert "lab stand-in: no NVIDIA GPU" in stages["acceptance"]["detail"]
    # Never faked: what a container cannot do is reported skipped, with the verdict's own reason.
    assert outcomes["GPU / kernel-module steps"] == "skipped"
    assert "lab stand-in: no NVIDIA GPU" in stages["GPU / kernel-module steps"]["detail"]
    # The AWS link ran: the plan's stack outputs in the inventory, its tasks run on every node, and the
    # Bedrock checks passed through the private endpoint names (the lab's DNS, HTTPS and moto stand-ins).
    assert outcomes["AWS link (node side)"] == "passed", stages["AWS link (node side)"]["detail"]
    assert report["bringup_stages"]["awslink"]["tasks"] > 0 and report["bringup_stages"]["awslink"]["not_run"] == []
    nodes = len(load_spec(site_dir("lab-b200")).nodes)
    assert {c: report["acceptance_checks"][c]["pass"] for c in ("bedrock_dns", "bedrock_https")} == {
        "bedrock_dns": nodes, "bedrock_https": nodes}
    assert outcomes["lab down"] == "passed"
    assert LabState.load("lab-b200") is None
    assert lab_leftovers(lab_dir) == []
