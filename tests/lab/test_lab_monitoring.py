"""The lab's monitoring pieces that need no booted lab: the files a site's PKI gives the monitoring roles (issued by
the lab CA), the alerts a rehearsal expects of its faults, and how the monitoring stage reads and judges Prometheus's
alerts. The stage itself runs in the lab-b200 rehearsal (tests/scenarios/test_rehearse.py)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys

import bcrypt
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from aifactory.lab import monitoring
from aifactory.lab.state import LabState
from aifactory.monitoring.receiver import AUDIT_FILE, Receiver
from aifactory.monitoring.role_vars import NODE_EXPORTER_CERT, NODE_EXPORTER_KEY, RECEIVER_CERT, RECEIVER_KEY
from aifactory.spec import load_spec
from tests.conftest import site_dir
from tests.monitoring.fakes import FakeSlurm, alert, payload

FILES = monitoring.FILES


def usages(path) -> set:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def addresses(path) -> list[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return [str(a) for a in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            .get_values_for_type(x509.IPAddress)]


def test_seed_gives_every_host_node_exporter_s_files_and_head_nodes_prometheus_s(tmp_path):
    state = LabState(site="lab-b200", root=tmp_path / "lab")
    node, head = tmp_path / "node", tmp_path / "head"
    monitoring.seed(state, node, "n01", "10.77.1.11", head=False)
    monitoring.seed(state, head, "head01", "10.77.1.250", head=True)
    for root, address in ((node, "10.77.1.11"), (head, "10.77.1.250")):
        cert = root / NODE_EXPORTER_CERT.lstrip("/")
        assert usages(cert) == {ExtendedKeyUsageOID.SERVER_AUTH} and addresses(cert) == [address]
        assert stat.S_IMODE((root / NODE_EXPORTER_KEY.lstrip("/")).stat().st_mode) == 0o600
        assert (root / FILES.ca.lstrip("/")).read_bytes() == (state.dir / "pki" / "lab-ca.crt").read_bytes()
    assert not (node / FILES.cert.lstrip("/")).exists() and not (node / FILES.alertmanager_password.lstrip("/")).exists()
    # Prometheus serves with its certificate and presents it to the exporters and Alertmanager.
    prometheus = head / FILES.cert.lstrip("/")
    assert usages(prometheus) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert addresses(prometheus) == ["10.77.1.250"]
    password = head / FILES.alertmanager_password.lstrip("/")
    assert stat.S_IMODE(password.stat().st_mode) == 0o600 and stat.S_IMODE((head / FILES.key.lstrip("/")).stat().st_mode) == 0o600
    env = monitoring.secrets()
    assert bcrypt.checkpw(password.read_text().strip().encode(), env[monitoring.HASH_ENV].encode())
    assert env[monitoring.PASSWORD_ENV] == password.read_text().strip()
    # The receiver serves Alertmanager's webhook on the head node's address.
    receiver = head / RECEIVER_CERT.lstrip("/")
    assert usages(receiver) == {ExtendedKeyUsageOID.SERVER_AUTH} and addresses(receiver) == ["10.77.1.250"]
    assert stat.S_IMODE((head / RECEIVER_KEY.lstrip("/")).stat().st_mode) == 0o600
    assert not (node / RECEIVER_CERT.lstrip("/")).exists()


def test_seed_installs_aifactory_on_a_head_node_for_the_receiver(tmp_path):
    state = LabState(site="lab-b200", root=tmp_path / "lab")
    head = tmp_path / "head"
    monitoring.seed(state, head, "head01", "10.77.1.250", head=True)
    command = head / monitoring.COMMAND.lstrip("/")
    assert command.stat().st_mode & stat.S_IXUSR
    assert f"PYTHONPATH={monitoring.INSTALL_DIR} " in command.read_text()
    installed = head / monitoring.INSTALL_DIR.lstrip("/")
    assert not list(installed.rglob("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "aifactory.cli", "monitoring-receiver", "--help"], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(installed), "PYTHONDONTWRITEBYTECODE": "1"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--state-dir" in done.stdout, done.stderr
    monitoring.seed(state, head, "head01", "10.77.1.250", head=True)  # a second `lab up` replaces it whole
    assert not list(installed.rglob("__pycache__"))


def test_a_rehearsal_expects_each_fault_s_alerts_and_slurm_s_drain():
    f = load_spec(site_dir("lab-b200"))
    n1, n2, n3 = (n.name for n in f.nodes)
    expected, unseen = monitoring.expected_alerts(f, {n1: ["nvlink-down"], n2: ["nvlink-bw-low"],
                                                      n3: ["ib-port-down", "xid-error"]})
    # The health check drains n1 (nvlink_links) and n3 (ib_ports); the slow NVLink raises nothing.
    assert expected == {n1: {"NvlinkDown", "SlurmNodeDrained"}, n3: {"GpuXidError", "SlurmNodeDrained"}}
    assert unseen == {"InfinibandPortDown": monitoring.NOT_SERVED}
    assert monitoring.expected_alerts(f, {}) == ({}, {})


def page(*alerts: tuple[str, dict, str]) -> str:
    return json.dumps({"status": "success", "data": {"alerts": [
        {"labels": {"alertname": name, **labels}, "state": state, "value": "1"} for name, labels, state in alerts]}})


def test_prometheus_s_alerts_are_read_by_node_and_a_slurm_alert_by_the_slurm_node():
    text = page(("NvlinkDown", {"node": "n1", "gpu": "0"}, "firing"),
                ("SlurmNodeDrained", {"node": "head01", "slurm_node": "n1"}, "pending"))
    assert monitoring.read_alerts(text) == [("NvlinkDown", "n1", "firing"), ("SlurmNodeDrained", "n1", "pending")]
    for bad in ("<html>502</html>", "{}", json.dumps({"data": {"alerts": [{"state": "firing"}]}}),
                json.dumps({"data": {"alerts": [{"labels": ["NodeDown"], "state": "firing"}]}})):
        with pytest.raises(ValueError, match="no alert list"):
            monitoring.read_alerts(bad)


def test_the_stage_waits_for_firing_alerts_and_fails_on_any_other():
    expected = {"n1": {"NvlinkDown", "SlurmNodeDrained"}, "n3": {"GpuThermalThrottling"}}
    long_for = {"GpuThermalThrottling"}
    done = [("NvlinkDown", "n1", "firing"), ("SlurmNodeDrained", "n1", "firing"), ("GpuThermalThrottling", "n3", "pending")]
    assert monitoring.judge(done, expected, long_for) == []
    # A short `for` still pending: not yet; an alert nobody expects: a problem, pending or firing.
    problems = monitoring.judge([*done[1:], ("NvlinkDown", "n1", "pending"), ("GpuMissing", "n2", "pending")],
                                expected, long_for)
    assert problems == ["not raised: n1: NvlinkDown pending", "unexpected: n2: GpuMissing pending"]
    assert monitoring.judge([], {}, long_for) == []
    assert monitoring.judge([], expected, long_for)[0] == "not raised: n1: NvlinkDown not raised"
    # One that fired at an earlier look stays a problem once resolved; one that was only pending does not.
    assert monitoring.judge(done, expected, long_for, {("NodeDown", "n2")}) == ["unexpected: n2: NodeDown fired, then resolved"]
    assert monitoring.judge([*done, ("NodeDown", "n2", "firing")], expected, long_for, {("NodeDown", "n2")}) == [
        "unexpected: n2: NodeDown firing"]


def history(*fired: tuple[str, dict]) -> str:
    """Prometheus's answer to the stage's query of the alerts that fired (ALERTS over the lookback)."""
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "ALERTS", "alertname": name, "alertstate": "firing", **labels}, "value": [0, "1"]}
        for name, labels in fired]}})


def looks(monkeypatch, pages: list[str], audits: list[str] = ("",), fired: str = history()) -> None:
    """The head node's Prometheus answering `pages` in turn (and `fired` to the query of what fired), and the
    receiver's audit log reading `audits` in turn (each the last one again after), polled without waiting."""
    answers = {"alerts": iter(pages), "cat": iter(audits), "query": iter([fired])}
    last = {"alerts": pages[-1], "cat": audits[-1], "query": fired}

    def ssh(state, address, command, timeout):
        if command == monitoring.AMP_COMMAND:
            return subprocess.CompletedProcess(["ssh"], 0, AMP_ANSWER, "")
        which = "cat" if command.startswith("cat ") else "query" if "/api/v1/query?" in command else "alerts"
        last[which] = next(answers[which], last[which])
        return subprocess.CompletedProcess(["ssh"], 0, last[which], "")
    monkeypatch.setattr(monitoring.nodes, "ssh", ssh)
    monkeypatch.setattr(monitoring.procs, "wait_until", lambda ready, timeout_s, every_s: any(ready() for _ in range(6)))


def receiver_audit(tmp_path, f, *alerts: dict, out: tuple[str, ...] = ()) -> str:
    """The audit log the real receiver writes for Alertmanager's call with `alerts`, the nodes `out` drained."""
    receiver = Receiver(f, FakeSlurm(states_now={n: "idle+drain" for n in out}), None, tmp_path / "receiver")
    receiver.handle(payload(*alerts), "10.0.0.1")
    return (tmp_path / "receiver" / AUDIT_FILE).read_text()


SKIPPED = {"monitoring": {"not_run": [{"step": "skipped: alert receiver, /usr/local/bin/aifactory is not installed"}]}}


def test_a_pending_alert_that_clears_passes_and_one_that_fired_and_resolved_fails(monkeypatch):
    f = load_spec(site_dir("lab-b200"))
    faulty, other = f.nodes[1].name, f.nodes[2].name
    faults = {faulty: ["nvlink-down"]}
    done = (("NvlinkDown", {"node": faulty}, "firing"), ("SlurmNodeDrained", {"slurm_node": faulty}, "firing"))
    blip = ("NodeDown", {"node": other}, "pending")
    looks(monkeypatch, [page(blip), page(blip, *done), page(*done)])
    outcome, detail = monitoring.monitoring_outcome(f, None, faults, SKIPPED)
    assert (outcome, detail) == ("passed", f"alerts on {f.head_nodes[0].name}'s Prometheus: {faulty}: NvlinkDown, "
                                           "SlurmNodeDrained; receiver's actions: none (skipped: alert receiver, "
                                           "/usr/local/bin/aifactory is not installed)"), detail
    looks(monkeypatch, [page(("NodeDown", {"node": other}, "firing"), *done), page(*done)])
    outcome, detail = monitoring.monitoring_outcome(f, None, faults, SKIPPED)
    assert outcome == "failed" and f"unexpected: {other}: NodeDown fired, then resolved;" in detail, detail
    looks(monkeypatch, [page(blip, *done)])  # still pending when the wait ends
    outcome, detail = monitoring.monitoring_outcome(f, None, faults, SKIPPED)
    assert outcome == "failed" and f"unexpected: {other}: NodeDown pending;" in detail, detail
    # One that fired and resolved before the stage's first look: Prometheus's ALERTS series still has it.
    looks(monkeypatch, [page(*done)], fired=history(("NodeDown", {"node": other}), ("NvlinkDown", {"node": faulty})))
    outcome, detail = monitoring.monitoring_outcome(f, None, faults, SKIPPED)
    assert outcome == "failed" and f"unexpected: {other}: NodeDown fired, then resolved;" in detail, detail
    assert "NvlinkDown fired" not in detail  # an expected alert that fired is what the stage waits for


def test_the_query_of_what_fired_is_read_by_node_and_refused_when_it_is_not_a_vector():
    text = history(("NodeDown", {"node": "n2"}), ("SlurmNodeDrained", {"node": "head01", "slurm_node": "n1"}))
    assert monitoring.read_fired(text) == {("NodeDown", "n2"), ("SlurmNodeDrained", "n1")}
    assert "max_over_time%28ALERTS%7Balertstate%3D%22firing%22%7D%5B1h%5D%29" in monitoring.fired_command("10.0.0.1")
    for bad in ("<html>502</html>", json.dumps({"data": {"result": [{"value": [0, "1"]}]}})):
        with pytest.raises(ValueError, match="no vector"):
            monitoring.read_fired(bad)


def test_the_stage_waits_for_the_receiver_to_decide_on_each_firing_alert(monkeypatch, tmp_path):
    f = load_spec(site_dir("lab-b200"))
    faulty, head = f.nodes[1].name, f.head_nodes[0].name
    done = (("NvlinkDown", {"node": faulty}, "firing"), ("SlurmNodeDrained", {"slurm_node": faulty}, "firing"))
    nvlink, drained = alert("NvlinkDown", faulty), alert("SlurmNodeDrained", head, fingerprint="b2", slurm_node=faulty)
    both = receiver_audit(tmp_path, f, drained, nvlink, out=(faulty,))  # the detail lists them by alert
    first = both.splitlines(keepends=True)[0]
    looks(monkeypatch, [page(*done)], ["", first, both])
    outcome, detail = monitoring.monitoring_outcome(f, None, {faulty: ["nvlink-down"]}, {})
    assert (outcome, detail) == ("passed", f"alerts on {head}'s Prometheus: {faulty}: NvlinkDown, SlurmNodeDrained; "
                                           f"receiver's actions: {faulty}: NvlinkDown: isolate-block of {faulty}; "
                                           f"already out in Slurm, not drained again: {faulty}, SlurmNodeDrained: "
                                           "observed"), detail
    looks(monkeypatch, [page(*done)], [first])  # never decides on the second
    outcome, detail = monitoring.monitoring_outcome(f, None, {faulty: ["nvlink-down"]}, {})
    assert outcome == "failed" and f"receiver has not acted on: {faulty}: NvlinkDown" in detail, detail


def test_a_refusal_or_an_unreadable_audit_log_fails_the_stage(monkeypatch, tmp_path):
    f = load_spec(site_dir("lab-b200"))
    faulty, other = f.nodes[1].name, f.nodes[2].name
    done = (("NvlinkDown", {"node": faulty}, "firing"), ("SlurmNodeDrained", {"slurm_node": faulty}, "firing"))
    # Both other nodes out: isolating the faulty node's block would pass the rack's share.
    refused = receiver_audit(tmp_path, f, alert("NvlinkDown", faulty), out=(f.nodes[0].name, other))
    looks(monkeypatch, [page(*done)], [refused])
    outcome, detail = monitoring.monitoring_outcome(f, None, {faulty: ["nvlink-down"]}, {})
    assert outcome == "failed" and f"receiver refused: {faulty}: NvlinkDown: circuit breaker:" in detail, detail
    looks(monkeypatch, [page(*done)], ['{"event": "acted"}\n'])
    outcome, detail = monitoring.monitoring_outcome(f, None, {faulty: ["nvlink-down"]}, {})
    assert (outcome, detail) == ("failed", f"{monitoring.RECEIVER_AUDIT} line 1: not an audit entry: "
                                           "'{\"event\": \"acted\"}'")


def test_the_detail_lists_every_action_of_the_receiver_and_no_repeat(tmp_path):
    """A power cycle made later (no alert in its entry) is listed under its node; a resolution or a second call of
    an alert already handled is not an action."""
    f = load_spec(site_dir("lab-b200"))
    faulty = f.nodes[1].name
    receiver = Receiver(f, FakeSlurm(), None, tmp_path)
    receiver.handle(payload(alert("GpuXidError", faulty)), "10.0.0.1")
    receiver.handle(payload(alert("GpuXidError", faulty)), "10.0.0.1")
    receiver.handle(payload(alert("GpuXidError", faulty, status="resolved")), "10.0.0.1")
    receiver.audit("power-cycled", "through the BMC, for GpuXidError", node=faulty, action="drain-power-cycle")
    audit = monitoring.read_audit((tmp_path / AUDIT_FILE).read_text())
    assert monitoring.receiver_actions(audit) == (f"{faulty}: GpuXidError: drain of {faulty}, GpuXidError: drained, "
                                                  "power-cycled")


class Clock:
    """time.time for the stage: `step` seconds later at every reading."""

    def __init__(self, now: float, step: float):
        self.now, self.step = now, step

    def time(self) -> float:
        self.now += self.step
        return self.now


def factory_in_service(monkeypatch, tmp_path, f, node: str, sinfo: str) -> dict:
    """The head node of a fault-free lab: no alert until `inject` is called; then the xid-error fault's alert fires on
    `node`, the real receiver's audit of Alertmanager's call for it, and Slurm's `sinfo` answering `sinfo`."""
    calls = {"injected_at": None}
    xid = alert("GpuXidError", node, xid="119", xid_class="gsp-firmware")
    audit = receiver_audit(tmp_path, f, xid)

    def ssh(state, address, command, timeout):
        injected = calls["injected_at"] is not None
        if "sinfo" in command:
            out = sinfo
        elif command == monitoring.AMP_COMMAND:
            out = AMP_ANSWER
        elif command.startswith("cat "):
            out = audit if injected else ""
        elif "/api/v1/query?" in command:
            out = history(*([("GpuXidError", {"node": node})] if injected else []))
        else:
            out = page(*([("GpuXidError", {"node": node, "xid_class": "gsp-firmware"}, "firing")] if injected else []))
        return subprocess.CompletedProcess(["ssh"], 0, out, "")
    monkeypatch.setattr(monitoring.nodes, "ssh", ssh)
    return calls


def test_without_faults_the_stage_holds_five_quiet_minutes_after_the_bring_up(monkeypatch, tmp_path):
    f = load_spec(site_dir("lab-gb200"))
    clock = Clock(10_000.0, 60.0)
    monkeypatch.setattr(monitoring, "time", clock)
    tries = []

    def wait_until(ready, timeout_s, every_s):
        tries.append(timeout_s)
        return any(ready() for _ in range(8))
    monkeypatch.setattr(monitoring.procs, "wait_until", wait_until)
    factory_in_service(monkeypatch, tmp_path, f, f.nodes[0].name, "")
    outcome, detail = monitoring.monitoring_outcome(f, None, {}, {}, brought_up_at=10_000.0 - 100)
    held = re.search(r"receiver's actions: none; no alert in the (\d+\.\d) min since the bring-up; AMP remote write: "
                     r"signed with the head node's session \(root:prometheus 640\), .* moto answered HTTP 404 "
                     r"\(it has no AMP data plane\)$", detail)
    assert outcome == "passed" and held and float(held[1]) >= 5, detail
    assert tries[0] >= monitoring.WAIT_S + 100  # the wait runs to the window's end at least
    # A wait that ends before the window does fails the stage (the detail says how long it was quiet).
    monkeypatch.setattr(monitoring.procs, "wait_until", lambda ready, timeout_s, every_s: ready())
    outcome, detail = monitoring.monitoring_outcome(f, None, {}, {}, brought_up_at=clock.now)
    assert outcome == "failed" and re.search(r"quiet window not held: [0-4]\.\d min since the bring-up, not 5", detail), detail


def test_an_alert_in_the_quiet_window_fails_the_stage_even_once_resolved(monkeypatch, tmp_path):
    f = load_spec(site_dir("lab-gb200"))
    monkeypatch.setattr(monitoring, "time", Clock(10_000.0, 60.0))
    looks(monkeypatch, [page()], fired=history(("ScratchNearlyFull", {"node": f.nodes[2].name})))
    outcome, detail = monitoring.monitoring_outcome(f, None, {}, {}, brought_up_at=10_000.0)
    assert outcome == "failed" and f"unexpected: {f.nodes[2].name}: ScratchNearlyFull fired, then resolved" in detail


def test_a_fault_in_service_comes_after_the_quiet_window_and_the_receiver_s_drain_is_read_in_slurm(monkeypatch, tmp_path):
    f = load_spec(site_dir("lab-gb200"))
    node, reason = f.nodes[3].name, "aifactory alert: GpuXidError"
    clock = Clock(10_000.0, 30.0)
    monkeypatch.setattr(monitoring, "time", clock)
    monkeypatch.setattr(monitoring.procs, "wait_until", lambda ready, timeout_s, every_s: any(ready() for _ in range(20)))
    calls = factory_in_service(monkeypatch, tmp_path, f, node, f"{f.nodes[0].name}|idle|none\n{node}|drain|{reason}\n")

    def inject(faults):
        calls["injected"], calls["injected_at"] = faults, clock.now
    outcome, detail = monitoring.monitoring_outcome(f, None, {}, {}, brought_up_at=10_000.0,
                                                    in_service={node: ["xid-error"]}, inject=inject)
    assert calls["injected"] == {node: ["xid-error"]}
    assert calls["injected_at"] >= 10_000.0 + monitoring.QUIET_S  # after the quiet window
    assert outcome == "passed", detail
    assert detail.startswith(f"alerts on {f.head_nodes[0].name}'s Prometheus: {node}: GpuXidError; receiver's actions: "
                             f"{node}: GpuXidError: drain-power-cycle of {node}, GpuXidError: drained, GpuXidError: proposed; no alert "
                             "in the "), detail
    assert detail.endswith(f"in service: {node}: xid-error injected; Slurm: {node} drained ({reason})"), detail
    # Slurm not showing the receiver's drain fails the stage, naming what it shows instead.
    calls = factory_in_service(monkeypatch, tmp_path / "again", f, node, f"{node}|idle|none\n")
    outcome, detail = monitoring.monitoring_outcome(f, None, {}, {}, brought_up_at=clock.now - 400,
                                                    in_service={node: ["xid-error"]}, inject=inject)
    assert outcome == "failed" and f"Slurm shows {node} idle (none), not drained for '{reason}'" in detail, detail


def test_slurm_drained_after_the_receiver_s_drain_may_fire_and_is_not_required():
    f = load_spec(site_dir("lab-gb200"))
    node = f.nodes[3].name
    expected, may_fire = monitoring.in_service_alerts(f, {node: ["xid-error"]})
    assert expected == {node: {"GpuXidError"}} and may_fire == {("SlurmNodeDrained", node)}
    both = [("GpuXidError", node, "firing"), ("SlurmNodeDrained", node, "firing")]
    assert monitoring.judge(both, expected, set(), may_fire=may_fire) == []
    assert monitoring.judge(both[:1], expected, set(), may_fire=may_fire) == []
    assert monitoring.judge(both, expected, set()) == [f"unexpected: {node}: SlurmNodeDrained firing"]
    # IMEX stopped: the health check drains the node too, at its next run, which may come before or after the stage
    # ends; Slurm's alert of it is not required either (at lab up it is: the bring-up's health check drains first).
    imex = {node: ["fabric-service-down"]}
    assert monitoring.in_service_alerts(f, imex) == ({node: {"FabricServiceDown"}}, {("SlurmNodeDrained", node)})
    assert monitoring.expected_alerts(f, imex)[0] == {node: {"FabricServiceDown", "SlurmNodeDrained"}}


AMP_404 = ('ts=2026-12-07T14:20:01.123Z caller=dedupe.go:112 component=remote level=error remote_name=amp '
           'url=https://aps-workspaces.eu-central-1.amazonaws.com/workspaces/ws-5a4e/api/v1/remote_write '
           'msg="non-recoverable error" count=120 exemplarCount=0 err="server returned HTTP status 404 Not Found: '
           '<!doctype html>"')
AMP_ANSWER = f"root:prometheus 640\n{AMP_404}\n"  # lab-gb200's head node, writing to AMP (amp_remote_write)
AMP_NO_CREDENTIALS = ('time=2026-12-07T14:20:01Z level=WARN source=queue_manager.go:1700 msg="Failed to send batch, '
                      'retrying" component=remote remote_name=amp err="Post \\"https://aps-workspaces\\": '
                      'NoCredentialProviders: no valid providers in chain"')


def test_the_amp_write_is_judged_by_the_session_s_mode_and_prometheus_s_last_answer():
    problem, note = monitoring.amp_write(f"root:prometheus 640\n{AMP_404}\n")
    assert problem is None and "moto answered HTTP 404" in note
    problem, _ = monitoring.amp_write(f"root:prometheus 640\n{AMP_NO_CREDENTIALS}\n")
    assert problem.startswith("no write to the AMP workspace reached its endpoint: Post") and "NoCredentialProviders" in problem
    assert monitoring.amp_write("root:prometheus 640\n")[0].endswith("Prometheus logged no attempt")
    assert "root:root 644, not root:prometheus 640" in monitoring.amp_write(f"root:root 644\n{AMP_404}")[0]
    assert "missing, not root:prometheus 640" in monitoring.amp_write("missing\n")[0]
