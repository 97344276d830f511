"""The lab's BMC stand-in gives each BMC an endpoint of its own, as real hardware does: there, the Redfish
Systems collection lists that BMC's system only and another system is not found; the emulator's own
endpoint still lists every system. (No node is booted: sushy-emulator alone, on 127.0.0.1.)"""

from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.request

import pytest

from aifactory.lab import procs, redfish
from aifactory.lab.state import LabState

SITE = "lab-endpoints"
SYSTEMS = [("n01", "10.0.1.1"), ("n02", "10.0.1.2"), ("sw01", "10.0.2.1")]


def get(url: str) -> dict:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with urllib.request.urlopen(url, context=context, timeout=30) as answer:
        return json.load(answer)


def members(url: str) -> list[str]:
    return [m["@odata.id"].rsplit("/", 1)[1] for m in get(f"{url}/redfish/v1/Systems")["Members"]]


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    state = LabState(site=SITE, root=tmp_path_factory.mktemp("lab"))
    try:
        url = redfish.start(state, SYSTEMS, "gb200-nvl72")
        yield url, state
    finally:
        for item in state.resources:
            if item["kind"] == "process":
                procs.stop(item)


def test_each_bmc_endpoint_lists_its_own_system_only(stand_in):
    url, state = stand_in
    own = state.endpoints["bmc_systems"]
    assert sorted(own) == sorted(name for name, _ in SYSTEMS) and len(set(own.values()) | {url}) == len(SYSTEMS) + 1
    for name, endpoint in own.items():
        assert members(endpoint) == [redfish.system_uuid(SITE, name)]
        system = get(f"{endpoint}/redfish/v1/Systems/{redfish.system_uuid(SITE, name)}")
        assert system["Name"] == name and system["SerialNumber"] == redfish.serial_number(system["UUID"])
    assert sorted(members(url)) == sorted(redfish.system_uuid(SITE, name) for name, _ in SYSTEMS)


def test_another_system_is_not_found_on_a_bmc_endpoint(stand_in):
    _, state = stand_in
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(f"{state.endpoints['bmc_systems']['n01']}/redfish/v1/Systems/{redfish.system_uuid(SITE, 'n02')}")
    assert refused.value.code == 404


def test_the_endpoints_are_in_the_lab_state(stand_in):
    _, state = stand_in
    saved = json.loads(state.path.read_text())["endpoints"]["bmc_systems"]
    assert saved == state.endpoints["bmc_systems"]


def test_a_stand_in_whose_port_was_taken_before_it_listened_starts_on_new_ports(tmp_path, monkeypatch):
    """Between picking a port and listening on it, another lab may take it: the emulator exits with
    'Address already in use', and the lab picks again instead of failing `lab up`."""
    state = LabState(site=SITE, root=tmp_path)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    picks = iter([[taken.getsockname()[1]] * (1 + len(SYSTEMS))])
    real_free_ports = procs.free_ports
    monkeypatch.setattr(procs, "free_ports", lambda count, address="127.0.0.1": next(picks, None)
                        or real_free_ports(count, address))
    try:
        url = redfish.start(state, SYSTEMS, "gb200-nvl72")
        assert not url.endswith(f":{taken.getsockname()[1]}")
        assert sorted(members(url)) == sorted(redfish.system_uuid(SITE, name) for name, _ in SYSTEMS)
        started = [item for item in state.resources if item["kind"] == "process"]
        assert len(started) == 2 and not procs.alive(started[0]) and procs.alive(started[1])
        assert procs.PORT_IN_USE in (tmp_path / SITE / "bmc" / "emulator.log").read_bytes()
    finally:
        taken.close()
        for item in state.resources:
            if item["kind"] == "process":
                procs.stop(item)


def test_free_ports_are_distinct_and_outside_the_ephemeral_range():
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    ports = procs.free_ports(200)
    assert len(set(ports)) == 200 and all(procs.PICK_FROM <= p < low for p in ports)


def test_a_new_lab_up_starts_with_every_system_off_whatever_the_last_one_left(tmp_path):
    """The fake driver keeps its power states in the lab's directory; a second lab of the site must not find
    the first one's systems still on (the racks stage would then power nothing on)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    system = redfish.system_uuid(SITE, "n01")
    for expected in ("Off", "Off"):
        state = LabState(site=SITE, root=tmp_path)
        try:
            url = redfish.start(state, SYSTEMS, "gb200-nvl72")
            assert get(f"{url}/redfish/v1/Systems/{system}")["PowerState"] == expected
            request = urllib.request.Request(f"{url}/redfish/v1/Systems/{system}/Actions/ComputerSystem.Reset",
                                             data=json.dumps({"ResetType": "On"}).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
            urllib.request.urlopen(request, context=context, timeout=30).close()
            # the fake driver applies a power command 1 to 11 s later, as hardware does
            assert procs.wait_until(lambda: get(f"{url}/redfish/v1/Systems/{system}")["PowerState"] == "On", 60)
        finally:
            for item in state.resources:
                if item["kind"] == "process":
                    procs.stop(item)
