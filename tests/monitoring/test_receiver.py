"""The alert receiver's decisions: one action per alert, kept across a restart, the circuit breaker, power cycles
only where the spec allows, replacement requests, refusals, and the audit log of all of it."""

from __future__ import annotations

import json
import logging

import pytest

from aifactory.monitoring.receiver import AUDIT_FILE, REPLACEMENTS_FILE, Receiver
from aifactory.spec import load_spec
from tests.conftest import put, site_dir
from tests.monitoring.fakes import FakePower, FakeSlurm, alert, payload
from tests.spec.conftest import write_site  # noqa: F401 - a fixture

NODE = "paris-gb200-r001-n03"
RACK1 = [f"paris-gb200-r001-n{i:02d}" for i in range(1, 19)]


@pytest.fixture(scope="module")
def paris():
    return load_spec(site_dir("paris-gb200"))


def audit(state_dir) -> list[dict]:
    return [json.loads(line) for line in (state_dir / AUDIT_FILE).read_text().splitlines()]


def events(state_dir, event: str) -> list[dict]:
    return [e for e in audit(state_dir) if e["event"] == event]


def test_one_alert_drains_its_node_once_with_the_alert_as_reason(tmp_path, paris):
    slurm = FakeSlurm()
    receiver = Receiver(paris, slurm, None, tmp_path)
    assert receiver.handle(payload(alert("GpuEccDoubleBit", NODE, gpu="3")), "10.0.0.5") == (200, "ok\n")
    assert slurm.drains == [(NODE, "aifactory alert: GpuEccDoubleBit")]
    [drained] = events(tmp_path, "drained")
    assert drained["node"] == NODE and drained["action"] == "drain" and drained["peer"] == "10.0.0.5"
    assert events(tmp_path, "acted")[0]["fingerprint"] == "a1"


def test_the_same_alert_twice_and_after_a_restart_acts_once(tmp_path, paris):
    slurm = FakeSlurm()
    Receiver(paris, slurm, None, tmp_path).handle(payload(alert("GpuEccDoubleBit", NODE)), "peer")
    Receiver(paris, slurm, None, tmp_path).handle(payload(alert("GpuEccDoubleBit", NODE)), "peer")
    slurm.states_now.clear()  # resumed by the health check: still the same alert, not acted on again
    restarted = Receiver(paris, slurm, None, tmp_path)
    restarted.handle(payload(alert("GpuEccDoubleBit", NODE)), "peer")
    assert slurm.drains == [(NODE, "aifactory alert: GpuEccDoubleBit")]
    assert len(events(tmp_path, "duplicate")) == 2
    restarted.handle(payload(alert("GpuEccDoubleBit", NODE, starts_at="2026-12-06T05:00:00Z")), "peer")
    assert len(slurm.drains) == 2  # it fired again later: a new alert


def test_a_storm_on_one_rack_acts_no_further_than_the_rack_breaker(tmp_path, paris):
    slurm = FakeSlurm()
    receiver = Receiver(paris, slurm, None, tmp_path)
    for i in range(1000):
        body = payload(alert("GpuEccDoubleBit", RACK1[i % 18], fingerprint=f"{i:x}"))
        assert receiver.handle(body, "peer")[0] == 200
    assert len(slurm.drains) == 4  # 25% of 18 trays: 4 out, a fifth would pass the share
    drained = {node for node, _ in slurm.drains}
    refused = events(tmp_path, "refused")
    assert len(refused) == sum(RACK1[i % 18] not in drained for i in range(1000))
    assert all("max_rack_out 0.25" in e["detail"] and e["node"] not in drained for e in refused)


def test_nodes_already_out_count_and_the_factory_breaker_holds_across_racks(tmp_path, paris):
    slurm = FakeSlurm(states_now={RACK1[0]: "down*", RACK1[1]: "idle+drain", "paris-gb200-r002-n01": "idle"})
    receiver = Receiver(paris, slurm, None, tmp_path)
    for i in range(200):
        node = f"paris-gb200-r{i % 4 + 1:03d}-n{i // 4 % 18 + 1:02d}"
        receiver.handle(payload(alert("InfinibandPortDown", node, fingerprint=f"{i:x}")), "peer")
    assert len(slurm.drains) + 2 == 7  # 10% of the factory's 72 nodes, two of them out before
    assert RACK1[0] not in {n for n, _ in slurm.drains}  # already out: not drained again
    assert any("max_factory_out 0.1" in e["detail"] for e in events(tmp_path, "refused"))


def test_isolating_a_block_drains_the_whole_rack_once_while_the_factory_is_within_its_share(tmp_path, paris):
    slurm = FakeSlurm()
    receiver = Receiver(paris, slurm, None, tmp_path)
    receiver.handle(payload(alert("NvlinkDown", NODE, gpu="0")), "peer")
    assert sorted(n for n, _ in slurm.drains) == RACK1
    assert {reason for _, reason in slurm.drains} == {"aifactory alert: NvlinkDown"}
    receiver.handle(payload(alert("NvlinkDown", "paris-gb200-r002-n01", fingerprint="b2")), "peer")
    assert len(slurm.drains) == 18 and "circuit breaker" in events(tmp_path, "refused")[0]["detail"]


def test_on_a_platform_whose_nvlink_domain_is_a_node_isolation_drains_the_node(tmp_path):
    slurm = FakeSlurm()
    receiver = Receiver(load_spec(site_dir("lab-b200")), slurm, None, tmp_path)
    receiver.handle(payload(alert("NvlinkDown", "lab-b200-r001-n02")), "peer")
    assert slurm.drains == [("lab-b200-r001-n02", "aifactory alert: NvlinkDown")]
    receiver.handle(payload(alert("NvlinkDown", "lab-b200-r001-n03", fingerprint="b2")), "peer")
    assert len(slurm.drains) == 1  # a rack of 3 may lose one node (never less than one), not two


def test_a_node_already_out_is_not_drained_again_and_the_audit_says_so(tmp_path):
    """The health check drained the node before its alert fired (as in the lab): the action is audited as done
    with the node named as already out, and no second drain; a Slurm alert is its Slurm node's, not the
    controller's that exports its series."""
    faulty = "lab-b200-r001-n02"
    slurm = FakeSlurm(states_now={faulty: "idle+drain"})
    receiver = Receiver(load_spec(site_dir("lab-b200")), slurm, None, tmp_path)
    receiver.handle(payload(alert("NvlinkDown", faulty),
                            alert("SlurmNodeDrained", "lab-b200-head01", fingerprint="b2", slurm_node=faulty)), "peer")
    assert slurm.drains == []
    [acted] = events(tmp_path, "acted")
    assert acted["node"] == faulty and acted["detail"] == (f"isolate-block of {faulty}; already out in Slurm, "
                                                           f"not drained again: {faulty}")
    assert [e["node"] for e in events(tmp_path, "observed")] == [faulty]


def test_by_default_a_power_cycle_is_proposed_not_made(tmp_path, paris):
    slurm, power = FakeSlurm(), FakePower()
    receiver = Receiver(paris, slurm, power, tmp_path)
    receiver.handle(payload(alert("GpuRowRemapPending", NODE)), "peer")
    receiver.tick()
    assert slurm.drains == [(NODE, "aifactory alert: GpuRowRemapPending")] and power.cycled == []
    [proposal] = events(tmp_path, "proposed")
    assert proposal["node"] == NODE and "operator's approval" in proposal["detail"]
    assert NODE in json.loads((tmp_path / "state.json").read_text())["proposed_power_cycles"]


def test_where_the_spec_allows_it_a_node_is_power_cycled_once_it_is_idle(tmp_path, write_site):
    f = load_spec(write_site("paris-gb200", put("monitoring.actions", {"power_cycle": "automatic"})))
    slurm, power = FakeSlurm(busy={NODE}), FakePower()
    receiver = Receiver(f, slurm, power, tmp_path / "state")
    receiver.handle(payload(alert("GpuXidError", NODE, xid_class="fell-off-bus")), "peer")
    receiver.tick()
    assert power.cycled == []  # its jobs still run
    slurm.finish_jobs(NODE)
    Receiver(f, slurm, power, tmp_path / "state").tick()  # pending across a restart
    receiver_after = Receiver(f, slurm, power, tmp_path / "state")
    receiver_after.tick()
    assert power.cycled == [NODE]
    assert [e["node"] for e in events(tmp_path / "state", "power-cycled")] == [NODE]


def test_a_flapping_port_drains_the_node_and_requests_its_replacement(tmp_path, paris):
    slurm = FakeSlurm()
    Receiver(paris, slurm, None, tmp_path).handle(payload(alert("InfinibandPortFlapping", NODE, device="mlx5_0")), "p")
    [request] = json.loads((tmp_path / REPLACEMENTS_FILE).read_text())["requests"]
    assert request["node"] == NODE and request["outcome"] == "requested"
    assert request["address"] == next(n.address for n in paris.nodes if n.name == NODE)
    assert request["finish"] == f"aifactory replace SITE {NODE}" and slurm.drains[0][0] == NODE
    assert events(tmp_path, "replacement requested")


def test_observe_resolved_and_unknown_alerts_take_no_node_out(tmp_path, paris):
    slurm = FakeSlurm()
    receiver = Receiver(paris, slurm, None, tmp_path)
    receiver.handle(payload(alert("GpuThermalThrottling", NODE, fingerprint="c1"),
                            alert("GpuEccDoubleBit", NODE, fingerprint="c2", status="resolved"),
                            alert("SomethingNew", NODE, fingerprint="c3"),
                            alert("GpuEccDoubleBit", "paris-gb200-head01", fingerprint="c4")), "peer")
    assert slurm.drains == []
    assert [e["event"] for e in audit(tmp_path)] == ["observed", "resolved", "refused", "refused"]
    assert "severity table does not know" in audit(tmp_path)[2]["detail"]
    assert "compute node" in audit(tmp_path)[3]["detail"]


@pytest.mark.parametrize(("body", "named"), [
    (b"{not json", "not JSON"),
    (payload(alert("NodeDown", NODE)).replace(b'"version": "4"', b'"version": "3"'), "version"),
    (payload(alert("NodeDown", NODE, fingerprint="not-hex!")), "alerts.0.fingerprint"),
    (json.dumps({"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"node": NODE},
                                                              "startsAt": "x", "fingerprint": "ab"}]}).encode(),
     "alerts.0.labels: no alertname"),
    (json.dumps({"version": "4", "status": "firing", "alerts": []}).encode(), "alerts"),
])
def test_a_malformed_payload_is_refused_with_a_log_line_naming_the_field(tmp_path, paris, caplog, body, named):
    slurm = FakeSlurm()
    with caplog.at_level(logging.WARNING, logger="aifactory.monitoring.receiver"):
        status, text = Receiver(paris, slurm, None, tmp_path).handle(body, "10.0.0.9")
    assert status == 400 and named in text and slurm.drains == []
    assert any("malformed payload from 10.0.0.9" in r.getMessage() and named in r.getMessage() for r in caplog.records)
    assert events(tmp_path, "refused")[0]["peer"] == "10.0.0.9"


def test_annotations_free_text_is_neither_logged_nor_audited(tmp_path, paris, caplog):
    leaky = alert("GpuEccDoubleBit", NODE)
    leaky["annotations"]["description"] = "token=sk-live-5ecret"
    with caplog.at_level(logging.DEBUG):
        Receiver(paris, FakeSlurm(), None, tmp_path).handle(payload(leaky), "peer")
    assert "5ecret" not in (tmp_path / AUDIT_FILE).read_text() and "5ecret" not in caplog.text
    assert "5ecret" not in (tmp_path / "state.json").read_text()


def test_a_failed_power_cycle_is_audited_without_the_bmc_password(tmp_path, write_site, caplog):
    from urllib.error import URLError

    from aifactory.monitoring.actuators import BmcCredentials, RedfishPower, bmc_context

    def unreachable(request, context):
        raise URLError("connection refused")

    f = load_spec(write_site("paris-gb200", put("monitoring.actions", {"power_cycle": "automatic"})))
    power = RedfishPower({n.name: n.bmc_address for n in f.nodes}, BmcCredentials("admin", "hunter2-bmc"),
                         bmc_context(None), send=unreachable)
    receiver = Receiver(f, FakeSlurm(), power, tmp_path / "state")
    with caplog.at_level(logging.DEBUG):
        receiver.handle(payload(alert("NodeDown", NODE)), "peer")
        receiver.tick()
    [failed] = events(tmp_path / "state", "failed")
    assert failed["node"] == NODE and "connection refused" in failed["detail"]
    everything = caplog.text + "".join(p.read_text() for p in (tmp_path / "state").iterdir())
    assert "hunter2" not in everything


def test_without_slurms_node_states_nothing_is_done_and_alertmanager_is_asked_to_retry(tmp_path, paris):
    from aifactory.monitoring.actuators import ActuatorError

    class NoSlurm(FakeSlurm):
        def states(self):
            raise ActuatorError("sinfo exited 1: Unable to contact slurm controller")

    slurm = NoSlurm()
    status, _ = Receiver(paris, slurm, None, tmp_path).handle(payload(alert("GpuEccDoubleBit", NODE)), "peer")
    assert status == 503 and slurm.drains == []
    assert "Unable to contact slurm controller" in events(tmp_path, "failed")[0]["detail"]
    slurm.states = FakeSlurm().states
    Receiver(paris, slurm, None, tmp_path).handle(payload(alert("GpuEccDoubleBit", NODE)), "peer")
    assert slurm.drains == [(NODE, "aifactory alert: GpuEccDoubleBit")]  # not remembered as handled
