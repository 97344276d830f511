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
                              "AWS link (node side)", "scheduler (Slurm on the nodes)", "lab down"]
    assert all(s["seconds"] >= 0 for s in report["stages"])
    f = load_spec(site_dir("lab-b200"))
    hosts = 2 * len(f.nodes) + len(f.head_nodes) + 1  # nodes, their BMCs, the head node, the controller
    assert stages["bringup"]["detail"].startswith(f"{hosts} hosts ok")
    assert stages["bringup again (must change nothing)"]["detail"] == f"{hosts} hosts ok, 0 changes"
    # The drivers and fabric stages installed for real, from the stand-in vendor repositories, leaving no step out.
    for stage in ("drivers", "fabric"):
        assert report["bringup_stages"][stage]["changed"] > 0 and report["bringup_stages"][stage]["failed"] == 0
    assert report["bringup_stages"]["drivers"]["not_run"] == []
    # Every check of the HGX B200 profile ran and passed on every node, the hardware ones against the stand-in
    # tools (scratch and the Bedrock checks use the node's own disk and network).
    assert outcomes["acceptance"] == "passed", stages["acceptance"]["detail"]
    checks = report["acceptance_checks"]
    for node in f.nodes:
        assert f"{node.name} pass ({len(checks)} passed, 0 failed, 0 could not run)" in stages["acceptance"]["detail"]
    assert {"accelerator_count", "driver_version", "nvlink_links", "fabric_manager_version", "dcgm_diag",
            "ib_ports", "scratch", "bedrock_https"} <= set(checks)
    for name, row in checks.items():
        assert (row["pass"], row["fail"], row["skipped"]) == (len(f.nodes), 0, 0), (name, row)
        own = name in ("scratch", "bedrock_dns", "bedrock_https")
        assert row["stand_in"] == (0 if own else len(f.nodes)), (name, row)
    assert (outcomes["GPU / kernel-module steps"], stages["GPU / kernel-module steps"]["detail"]) == (
        "passed", "no check skipped")
    # What a container cannot do is reported as not run, with its reason (never faked): the kernel parameters.
    os_not_run = {n["step"] for n in report["bringup_stages"]["os"]["not_run"]}
    assert any(step.startswith("kernel parameters") and "os_baseline_apply_sysctl is false (a container shares the "
               "host's kernel)" in step for step in os_not_run)
    # Slurm on the nodes: every healthy node idle, srun on each, a batch job in sacct.
    assert outcomes["scheduler (Slurm on the nodes)"] == "passed", stages["scheduler (Slurm on the nodes)"]["detail"]
    assert f"srun -N{len(f.nodes)} hostname answered from each" in stages["scheduler (Slurm on the nodes)"]["detail"]
    # The AWS link ran: the plan's stack outputs in the inventory, its tasks run on every node, and the
    # Bedrock checks passed through the private endpoint names (the lab's DNS, HTTPS and moto stand-ins).
    assert outcomes["AWS link (node side)"] == "passed", stages["AWS link (node side)"]["detail"]
    assert report["bringup_stages"]["awslink"]["tasks"] > 0 and report["bringup_stages"]["awslink"]["not_run"] == []
    assert outcomes["lab down"] == "passed"
    assert LabState.load("lab-b200") is None
    assert lab_leftovers(lab_dir) == []
