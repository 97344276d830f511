"""The lab's monitoring pieces that need no booted lab: the files a site's PKI gives the monitoring roles (issued by
the lab CA), the alerts a rehearsal expects of its faults, and how the monitoring stage reads and judges Prometheus's
alerts. The stage itself runs in the lab-b200 rehearsal (tests/scenarios/test_rehearse.py)."""

from __future__ import annotations

import json
import stat
import subprocess

import bcrypt
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from aifactory.lab import monitoring
from aifactory.lab.state import LabState
from aifactory.monitoring.role_vars import NODE_EXPORTER_CERT, NODE_EXPORTER_KEY
from aifactory.spec import load_spec
from tests.conftest import site_dir

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
    for bad in ("<html>502</html>", "{}", json.dumps({"data": {"alerts": [{"state": "firing"}]}})):
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


def looks(monkeypatch, pages: list[str]) -> None:
    """The head node's Prometheus answering `pages` in turn (the last one again after), polled without waiting."""
    answers = iter(pages)
    last = []

    def ssh(state, address, command, timeout):
        last[:] = [next(answers, last[0] if last else pages[-1])]
        return subprocess.CompletedProcess(["ssh"], 0, last[0], "")
    monkeypatch.setattr(monitoring.nodes, "ssh", ssh)
    monkeypatch.setattr(monitoring.procs, "wait_until", lambda ready, timeout_s, every_s: any(ready() for _ in range(6)))


def test_a_pending_alert_that_clears_passes_and_one_that_fired_and_resolved_fails(monkeypatch):
    f = load_spec(site_dir("lab-b200"))
    faulty, other = f.nodes[1].name, f.nodes[2].name
    faults = {faulty: ["nvlink-down"]}
    done = (("NvlinkDown", {"node": faulty}, "firing"), ("SlurmNodeDrained", {"slurm_node": faulty}, "firing"))
    blip = ("NodeDown", {"node": other}, "pending")
    looks(monkeypatch, [page(blip), page(blip, *done), page(*done)])
    outcome, detail = monitoring.monitoring_outcome(f, None, faults, {})
    assert (outcome, detail) == ("passed", f"alerts on {f.head_nodes[0].name}'s Prometheus: {faulty}: NvlinkDown, "
                                           "SlurmNodeDrained"), detail
    looks(monkeypatch, [page(("NodeDown", {"node": other}, "firing"), *done), page(*done)])
    outcome, detail = monitoring.monitoring_outcome(f, None, faults, {})
    assert outcome == "failed" and detail.endswith(f"unexpected: {other}: NodeDown fired, then resolved"), detail
    looks(monkeypatch, [page(blip, *done)])  # still pending when the wait ends
    outcome, detail = monitoring.monitoring_outcome(f, None, faults, {})
    assert outcome == "failed" and detail.endswith(f"unexpected: {other}: NodeDown pending"), detail
