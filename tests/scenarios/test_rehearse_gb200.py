"""`aifactory rehearse lab-gb200`: two NVL72 racks, the first two compute trays of each booted. The racks
stage powers every switch tray before the compute trays of its rack, and the drivers stage rolls out a
canary, then the rest of the first rack, then the next rack: asserted from the runner's events. Slurm
shows one topology block per rack. It runs with Mitogen's strategy (the same task results as the default,
linear: test_strategy_equality.py, in about half the time); lab-b200's rehearsal runs the default whole.
Monitoring, on a factory without faults: no alert in the five minutes after the bring-up; then, in service, an XID
appears on one tray, and the alert receiver drains it in Slurm itself (no health check reads XIDs), and IMEX stops
on another: FabricServiceDown fires for that tray alone and it is drained (by the receiver, or by Slurm's health
check where that ran first); a third slows for heat: its alert is pending (it waits ten minutes) and nothing acts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aifactory.cli import main
from aifactory.reports import certificate, signing
from aifactory.spec import load_spec
from aifactory.spec.model import Acceptance, AcceptanceCertificate
from aifactory.node.task_results import changed, read_job_events
from tests.conftest import site_dir

pytestmark = [pytest.mark.lab]

POWER_TASK = "Send the power command"
IN_SERVICE = "lab-gb200-r002-n02"  # the tray an XID appears on once the factory is in service
IMEX_DOWN = "lab-gb200-r001-n02"  # the tray whose IMEX service stops once the factory is in service
HOT = "lab-gb200-r001-n01"  # the tray whose GPU 0 slows for heat once the factory is in service
DRIVERS_PLAY = "Install the NVIDIA driver stack"


def result_counters(evs: list[dict], play: str, task: str | None = None) -> dict[str, list[int]]:
    """{host: counters of its task results} in `play` (and `task`)."""
    out: dict[str, list[int]] = {}
    for e in evs:
        d = e.get("event_data") or {}
        if e["event"].startswith("runner_on_") and d.get("play") == play and (task is None or d.get("task") == task):
            out.setdefault(d["host"], []).append(e["counter"])
    return out


def test_rehearse_lab_gb200_powers_switch_trays_first_and_rolls_out_rack_by_rack(lab_dir, capsys):
    rc = main(["rehearse", str(site_dir("lab-gb200")), "--strategy", "mitogen", "--fault-in-service",
               f"{IN_SERVICE}:xid-error", "--fault-in-service", f"{IMEX_DOWN}:fabric-service-down", "--fault-in-service",
               f"{HOT}:thermal-throttling", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["passed"], "\n".join(f"{s['name']}: {s['detail']}" for s in report["stages"]
                                                   if s["outcome"] == "failed")
    stages = {s["name"]: s for s in report["stages"]}
    assert stages["lab up"]["detail"].startswith("4 of 36 nodes")
    # Every check of the GB200 profile ran on every node, against the stand-in tools where it needs one, but
    # the IMEX channel: a device node of a loaded NVIDIA driver (kernel-bound), which no container has.
    checks = report["acceptance_checks"]
    assert {name for name, c in checks.items() if c["skipped"]} == {"imex_channel"}
    assert all(c["pass"] == 4 for name, c in checks.items() if name != "imex_channel"), checks
    assert checks["ib_ports"]["stand_in"] == 4 and checks["nvlink_domain"]["stand_in"] == 4
    # Slurm: one topology block per rack; the 4-node job spans both NVLink domains in segments of 2.
    scheduler = stages["scheduler (Slurm on the nodes)"]["detail"]
    assert "srun -N4 --segment=2 hostname answered from each" in scheduler
    assert "topology: 2 blocks (rack01, rack02)" in scheduler
    # Performance through Slurm (issue 33): tray, rack and cross-rack tiers ran on the stand-ins and passed (the
    # checks GB200 has no published figure for against lab-gb200's recorded baselines). The certificate the
    # stage wrote with the lab's key verifies, and a one-byte change to it does not.
    performance = stages["performance"]
    assert performance["outcome"] == "passed", performance
    assert performance["detail"].startswith(
        "tray tier: pass on lab-gb200-r001-n01 lab-gb200-r001-n02 lab-gb200-r002-n01 lab-gb200-r002-n02; "
        "rack tier: pass on rack01 rack02; cross-rack tier: pass on all"), performance
    cert_path, public = re.search(r"certificate (\S+) verifies against (\S+) ", performance["detail"]).groups()
    f = load_spec(site_dir("lab-gb200"))
    named = f.model_copy(update={"acceptance": Acceptance(certificate=AcceptanceCertificate(
        signing="local-key", public_key_file=public))})
    text = Path(cert_path).read_text()
    assert certificate.verify(text, named, signing.public_key(named)).ok
    at = text.index('"result": "pass"') + len('"result": "')
    assert not certificate.verify(text[:at] + "f" + text[at + 1:], named, signing.public_key(named)).ok
    # Monitoring: no alert fired in the five minutes after the bring-up; then the XID injected in service fired on
    # that tray alone, the receiver drained it for that alert (XID 119 is of class gsp-firmware: drain, and propose a
    # power cycle) and Slurm shows it drained for that reason. IMEX stopped on the other tray: FabricServiceDown on it
    # alone, and a drain (the node's GPUs cannot use the NVLink fabric) by the receiver, or by Slurm's health check
    # (its imex_service check) where that ran first, the receiver then not draining it again. Slurm's own alert of a
    # drain may follow. The hot tray's alert waits its ten minutes pending (past the stage's wait: no receiver call).
    monitoring = stages["monitoring"]
    assert monitoring["outcome"] == "passed", monitoring
    drained = r"(, SlurmNodeDrained( \(pending\))?)?"
    by_health_check = rf"; already out in Slurm, not drained again: {IMEX_DOWN}"
    match = re.fullmatch(
        rf"alerts on lab-gb200-head01's Prometheus: {HOT}: GpuThermalThrottling \(pending\); "
        rf"{IMEX_DOWN}: FabricServiceDown{drained}; "
        rf"{IN_SERVICE}: GpuXidError{drained}; "
        rf"receiver's actions: {IMEX_DOWN}: FabricServiceDown: drain of {IMEX_DOWN}(?P<health>{by_health_check}"
        rf"|, FabricServiceDown: drained)(, SlurmNodeDrained: observed)?; "
        rf"{IN_SERVICE}: GpuXidError: drain-power-cycle of {IN_SERVICE}, GpuXidError: drained, "
        rf"GpuXidError: proposed(, SlurmNodeDrained: observed)?; no alert in the (\d+\.\d) min since the bring-up; "
        r"AMP remote write: signed with the head node's session \(root:prometheus 640\), sent through the private "
        r"endpoint; the lab's moto answered HTTP 404 \(it has no AMP data plane\); "
        rf"in service: {HOT}: thermal-throttling injected; {IMEX_DOWN}: fabric-service-down injected; "
        rf"{IN_SERVICE}: xid-error injected; "
        rf"Slurm: (?P<drains>.*)", monitoring["detail"])
    assert match, monitoring["detail"]
    # Slurm's word on each drain the receiver made, in the order it made them.
    drains = {f"{IN_SERVICE} drained (aifactory alert: GpuXidError)"}
    if match["health"] != by_health_check:
        drains.add(f"{IMEX_DOWN} drained (aifactory alert: FabricServiceDown)")
    assert set(match["drains"].split(", ")) == drains, monitoring["detail"]
    assert float(re.search(r"no alert in the (\d+\.\d) min", monitoring["detail"])[1]) >= 5
    # lab-gb200's nodes are arm64 on this machine's containers: no bundle (its packages would not run here); the
    # lab's stand-in repositories serve them, and nothing else but the AWS link's stand-ins was reached.
    air_gap = stages["air gap (what the nodes reached)"]
    assert air_gap["outcome"] == "passed" and "this lab serves no mirror bundle" in air_gap["detail"], air_gap
    assert {r["stand_in"] for r in report["reached"]} >= {"apt", "vendor"}, report["reached"]
    evs = read_job_events(report["bringup_artifacts"])

    switch_power = result_counters(evs, "Bring up the NVLink switch trays through their BMCs", POWER_TASK)
    node_power = result_counters(evs, "Bring up the compute nodes through their BMCs", POWER_TASK)
    assert len(switch_power) == 18 and len(node_power) == 4
    for rack in ("r001", "r002"):
        trays = {h: cs for h, cs in switch_power.items() if f"-{rack}-" in h}
        computes = [c for h, cs in node_power.items() if f"-{rack}-" in h for c in cs]
        assert len(trays) == 9 and max(c for cs in trays.values() for c in cs) < min(computes)
    powered = {e["event_data"]["host"] for e in evs if e["event"] == "runner_on_ok"
               and e["event_data"].get("task") == POWER_TASK and changed(e)}  # no_log: censored results
    assert powered == set(switch_power) | set(node_power)  # every system was off and was powered on

    drivers = result_counters(evs, DRIVERS_PLAY)
    batches = [["lab-gb200-r001-n01"], ["lab-gb200-r001-n02"], ["lab-gb200-r002-n01", "lab-gb200-r002-n02"]]
    assert sorted(drivers) == sorted(h for b in batches for h in b)
    for earlier, later in zip(batches, batches[1:]):
        assert max(c for h in earlier for c in drivers[h]) < min(c for h in later for c in drivers[h])
