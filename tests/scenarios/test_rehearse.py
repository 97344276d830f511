"""`aifactory rehearse lab-b200 --fault NODE:nvlink-down --fault OTHER:nvlink-bw-low`: one rehearsal proves the
deployment and the fault paths. Every build stage passes, the second bringup changes nothing, the drivers and
fabric stages install from the lab's stand-in vendor repositories, acceptance runs every check of the HGX B200
profile on every node and fails exactly the faulty node's NVLink check (the other nodes pass every check: a
slow NVLink is no hardware fault), the steps a container cannot run are reported as skipped, Slurm drains the
faulty node for that check and runs jobs on the others, the performance stage fails the slow node at its own
tray tier and names no other, the head node's Prometheus raises the NVLink alert and Slurm's drain for the faulty
node alone, the alert receiver on the head node decides on both, and the lab is gone afterwards (checked here, independently of `lab down`).
lab-gb200's rehearsal (test_rehearse_gb200.py) is the one that passes whole."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from aifactory.cli import main
from aifactory.lab.hardware import FAULTS
from aifactory.lab.rehearsal import AWS_LINK_CHECKS
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


def test_rehearsal_with_a_fault_fails_exactly_that_node_and_check_and_leaves_no_lab(lab_dir, capsys):
    f = load_spec(site_dir("lab-b200"))
    faulty, healthy = f.nodes[1].name, [n.name for n in f.nodes if n.name != f.nodes[1].name]
    slow = f.nodes[2].name  # its NVLink bandwidth at half: acceptance passes it, performance must not
    rc = main(["rehearse", str(site_dir("lab-b200")), "--fault", f"{faulty}:nvlink-down", "--fault",
               f"{slow}:nvlink-bw-low", "--format", "json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    stages = {s["name"]: s for s in report["stages"]}
    outcomes = {name: s["outcome"] for name, s in stages.items()}
    assert list(outcomes) == ["lab up", "plan (AWS side against moto_server)", "bringup",
                              "bringup again (must change nothing)", "acceptance", "GPU / kernel-module steps",
                              "AWS link (node side)", "scheduler (Slurm on the nodes)", "performance", "monitoring",
                              "air gap (what the nodes reached)", "lab down"], "\n".join(
        f"{s['name']}: {s['outcome']}: {s['detail']}" for s in report["stages"])
    # The faults fail the rehearsal in acceptance and performance alone: every other stage passed. Performance ran
    # on the nodes acceptance passed, and named the slow node alone, at its own tray tier.
    assert rc == 1 and not report["passed"]
    assert {name: o for name, o in outcomes.items() if o != "passed"} == {"acceptance": "failed",
                                                                         "performance": "failed"}, "\n".join(
        f"{s['name']}: {s['outcome']}: {s['detail']}" for s in report["stages"] if s["outcome"] != "passed")
    performance = stages["performance"]["detail"]
    assert performance.startswith(f"tray tier: pass on {healthy[0]}, fail on {slow}") \
        and f"not run on {faulty} (hardware acceptance failed)" in performance, performance
    named = performance.split("named: ", 1)[1]
    assert named.startswith(f"{slow} (tray tier, its own run: ") and [n.name for n in f.nodes if n.name in named] == [slow]
    assert all(s["seconds"] >= 0 for s in report["stages"])
    hosts = 2 * len(f.nodes) + len(f.head_nodes) + 1  # nodes, their BMCs, the head node, the controller
    assert stages["bringup"]["detail"].startswith(f"{hosts} hosts ok")
    # Before each bring-up, Slurm was asked which nodes run jobs (issue 30): the first found no Slurm yet on
    # the head node, the second a Slurm that runs none (the drained node included).
    head = f.head_nodes[0].name
    assert f"; Slurm on {head} did not answer (" in stages["bringup"]["detail"], stages["bringup"]
    assert stages["bringup again (must change nothing)"]["detail"] == (
        f"{hosts} hosts ok, 0 changes; Slurm on {head}: 0 node(s) running jobs")
    # The drivers and fabric stages installed for real, from the stand-in vendor repositories, leaving no step out.
    for stage in ("drivers", "fabric"):
        assert report["bringup_stages"][stage]["changed"] > 0 and report["bringup_stages"][stage]["failed"] == 0
    assert report["bringup_stages"]["drivers"]["not_run"] == []
    # Acceptance: exactly the faulty node's NVLink check failed; every other check of the HGX B200 profile ran and
    # passed on every node, the hardware ones against the stand-in tools (scratch and the Bedrock checks use the
    # node's own disk and network).
    acceptance = stages["acceptance"]["detail"]
    assert f"{faulty}: nvlink_links (GPU 0: 1 of 18 links inactive)" in acceptance
    assert re.search(rf"{faulty} fail \(\d+ passed, 1 failed", acceptance), acceptance
    checks = report["acceptance_checks"]
    for node in healthy:
        assert f"{node} pass ({len(checks)} passed, 0 failed, 0 could not run)" in acceptance, acceptance
    assert {"accelerator_count", "ecc_enabled", "memory_health", "driver_version", "fabric_state",
            "fabric_manager_service", "fabric_manager_version", "nvlink_links", "dcgm_diag", "ib_ports", "scratch",
            "bedrock_https"} <= set(checks)
    assert FAULTS["nvlink-down"].fails({}) == {"nvlink_links"}
    for name, row in checks.items():
        expected = (len(healthy), 1, 0) if name == "nvlink_links" else (len(f.nodes), 0, 0)
        assert (row["pass"], row["fail"], row["skipped"]) == expected, (name, row)
        own = name in ("scratch", *AWS_LINK_CHECKS)
        assert row["stand_in"] == (0 if own else len(f.nodes)), (name, row)
    assert stages["GPU / kernel-module steps"]["detail"] == "no check skipped"
    # What a container cannot do is reported as not run, with its reason (never faked): the kernel parameters.
    os_not_run = {n["step"] for n in report["bringup_stages"]["os"]["not_run"]}
    assert any(step.startswith("kernel parameters") and "os_baseline_apply_sysctl is false (a container shares the "
               "host's kernel)" in step for step in os_not_run)
    # Slurm on the nodes: the faulty node drained by the health check (the acceptance verdict) for its check, every
    # healthy node idle, srun on each, a batch job in sacct.
    scheduler = stages["scheduler (Slurm on the nodes)"]["detail"]
    assert f"{faulty} drained (nvlink_links)" in scheduler, scheduler
    assert f"srun -N{len(healthy)} hostname answered from each" in scheduler, scheduler
    # Monitoring (issue 32): the head node's Prometheus, scraping node exporter and the DCGM exporter stand-in on every
    # node, raised the NVLink fault's alert on the faulty node and Slurm's drain of it, and nothing else: the slow
    # node's bandwidth moves no counter, the healthy node raised none.
    monitoring = stages["monitoring"]["detail"]
    assert monitoring.startswith(f"alerts on {head}'s Prometheus: {faulty}: NvlinkDown, SlurmNodeDrained;"), monitoring
    assert "unexpected" not in monitoring and slow not in monitoring and healthy[0] not in monitoring, monitoring
    # The receiver beside Alertmanager (aifactory installed on the head node by the lab) decided on both alerts: the
    # node the health check had drained is not drained again.
    assert (f"receiver's actions: {faulty}: NvlinkDown: isolate-block of {faulty}; already out in Slurm, not drained "
            f"again: {faulty}, SlurmNodeDrained: observed" in monitoring), monitoring
    assert report["bringup_stages"]["monitoring"]["failed"] == 0 and report["bringup_stages"]["monitoring"]["tasks"] > 0
    # The AWS link ran: the plan's stack outputs in the inventory, its tasks run on every node, and the
    # Bedrock checks passed through the private endpoint names (the lab's DNS, HTTPS and moto stand-ins).
    assert report["bringup_stages"]["awslink"]["tasks"] > 0 and report["bringup_stages"]["awslink"]["not_run"] == []
    # The nodes installed from a mirror bundle that `aifactory mirror build` made of the lab's stand-in upstreams and
    # `aifactory mirror verify` checked at lab up (issue 31), and reached nothing else but the AWS link's stand-ins:
    # every flow a node opened towards the gateway was recorded (nftables) and has a lab stand-in behind it.
    err = captured.err
    verified = re.search(r"mirror bundle: (\S+)/bundle: verified, the manifest signed by the site's mirror key", err)
    assert verified, err[-3000:]
    # Its bill of materials, from the same upstreams (the Debian archive, the stand-in vendor repositories), is
    # valid CycloneDX with the driver, Fabric Manager, DOCA and Slurm of the HGX B200 site.
    sbom = (Path(verified.group(1)) / "bom.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(sbom) is None
    found = {c["name"]: c for c in json.loads(sbom)["components"]}
    for name in ("nvidia-open-580", "nvidia-fabricmanager-580", "doca-ofed", "slurmd", "munge", "chrony"):
        assert found[name]["purl"].endswith("arch=amd64"), name
    air_gap = stages["air gap (what the nodes reached)"]
    assert air_gap["outcome"] == "passed" and "packages from the mirror bundle alone" in air_gap["detail"], air_gap
    reached = report["reached"]
    assert reached and all(r["stand_in"] for r in reached), reached
    hosts = sorted([*(n.name for n in f.nodes), *(h.name for h in f.head_nodes)])
    served = [r for r in reached if r["stand_in"] == "bundle"]
    assert len(served) == 1 and sorted(served[0]["nodes"]) == hosts, served
    assert not {r["stand_in"] for r in reached} & {"apt", "vendor"}, reached
    assert LabState.load("lab-b200") is None
    assert lab_leftovers(lab_dir) == []
