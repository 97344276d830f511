"""What the receiver acts through: Slurm's commands and states, the BMC's Redfish reset, its credentials."""

from __future__ import annotations

import base64
import json
import urllib.error

import pytest

from aifactory.monitoring.actuators import (ActuatorError, BmcCredentials, RedfishPower, ScontrolSlurm, bmc_context,
                                            is_idle_out, is_out, load_bmc_credentials, parse_sinfo)

SECRET = "hunter2-bmc-password"


def test_drain_is_scontrol_update_with_the_reason_and_states_come_from_sinfo():
    calls = []

    def run(argv):
        calls.append(argv)
        return "n01|idle\nn02|drained\nn03|down*\nn04|mixed+drain\nn03|down*\n" if argv[0] == "sinfo" else ""

    slurm = ScontrolSlurm(run)
    slurm.drain("n01", "aifactory alert: GpuEccDoubleBit")
    assert calls[0] == ["scontrol", "update", "nodename=n01", "state=drain", "reason=aifactory alert: GpuEccDoubleBit"]
    assert slurm.states() == {"n01": "idle", "n02": "drained", "n03": "down*", "n04": "mixed+drain"}


@pytest.mark.parametrize(("state", "out", "idle"), [
    ("idle", False, False), ("allocated", False, False), ("mixed", False, False),
    ("draining", True, False), ("mixed+drain", True, False), ("drained", True, True), ("idle+drain", True, True),
    ("down*", True, True), ("DOWN", True, True), ("fail", True, False), ("", False, False),
])
def test_a_node_is_out_when_it_takes_no_new_job_and_idle_when_nothing_runs(state, out, idle):
    assert (is_out(state), is_idle_out(state)) == (out, idle)


def test_parse_sinfo_skips_lines_that_are_not_node_and_state():
    assert parse_sinfo("garbage\n|idle\nn01|idle\n") == {"n01": "idle"}


def redfish(sent, members=("/redfish/v1/Systems/1",), fail=None):
    def send(request, context):
        sent.append(request)
        if fail:
            raise fail
        return {"Members": [{"@odata.id": m} for m in members]} if request.get_method() == "GET" else {}
    return RedfishPower({"n01": "10.9.0.11"}, BmcCredentials("admin", SECRET), bmc_context(None), send=send)


def test_a_power_cycle_resets_the_bmcs_only_system_with_basic_auth():
    sent = []
    redfish(sent).cycle("n01")
    assert [(r.get_method(), r.full_url) for r in sent] == [
        ("GET", "https://10.9.0.11/redfish/v1/Systems"),
        ("POST", "https://10.9.0.11/redfish/v1/Systems/1/Actions/ComputerSystem.Reset")]
    assert json.loads(sent[1].data) == {"ResetType": "ForceRestart"}
    assert sent[1].get_header("Authorization") == "Basic " + base64.b64encode(f"admin:{SECRET}".encode()).decode()


def test_a_bmc_with_several_systems_and_no_id_is_not_reset():
    sent = []
    with pytest.raises(ActuatorError, match="2 systems match"):
        redfish(sent, members=("/redfish/v1/Systems/1", "/redfish/v1/Systems/2")).cycle("n01")
    assert [r.get_method() for r in sent] == ["GET"]


@pytest.mark.parametrize("fail", [urllib.error.URLError("connection refused"),
                                  urllib.error.HTTPError("https://10.9.0.11/", 401, "Unauthorized", {}, None)])
def test_a_bmc_error_names_the_bmc_never_the_password(fail):
    with pytest.raises(ActuatorError) as err:
        redfish([], fail=fail).cycle("n01")
    assert "10.9.0.11" in str(err.value) and SECRET not in str(err.value)
    assert SECRET not in repr(BmcCredentials("admin", SECRET))


def test_bmc_credentials_come_from_a_root_only_file_and_errors_never_show_them(tmp_path):
    path = tmp_path / "bmc"
    path.write_text(json.dumps({"username": "admin", "password": SECRET}))
    path.chmod(0o600)
    assert load_bmc_credentials(path) == BmcCredentials("admin", SECRET)
    path.chmod(0o644)
    with pytest.raises(ValueError, match="readable by others") as err:
        load_bmc_credentials(path)
    path.write_text(json.dumps({"username": "admin", "pass": SECRET}))
    path.chmod(0o400)
    with pytest.raises(ValueError, match="username and password") as other:
        load_bmc_credentials(path)
    assert SECRET not in str(err.value) + str(other.value)
