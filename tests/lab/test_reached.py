"""What the lab's nodes reached (aifactory.lab.reached): nftables' record read as input, each address named by the
lab stand-in behind it, and the rehearsal's air-gap verdict. The last test records real flows from a namespace."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from aifactory.lab import dns, lifecycle, network, reached
from aifactory.lab.state import LabState

GATEWAY = "10.77.1.1"
ENDPOINTS = {"bundle": f"http://{GATEWAY}:18080", "apt": f"http://{GATEWAY}:18080/apt",
             "aws_https": f"https://{GATEWAY}:443", "aws_downloads": f"http://{GATEWAY}:18081",
             "aws": "http://127.0.0.1:5000", "dns": GATEWAY, "bmc_systems": {"n01": "http://127.0.0.1:8000"}}
NAMES = {"10.77.1.11": "n01", "10.77.1.12": "n02", "10.77.1.200": "head01"}


def listing(*flows: list, other: tuple = ()) -> str:
    return json.dumps({"nftables": [{"metainfo": {"version": "1.0.6"}}, {"table": {"name": "t"}},
                                    {"set": {"name": "flows", "elem": [{"concat": f} for f in flows]}},
                                    {"set": {"name": "other", **({"elem": [{"concat": o} for o in other]}
                                                                 if other else {})}}]})


def test_nft_s_listing_gives_each_flow_once_ports_as_numbers_and_portless_protocols_without():
    text = listing(["10.77.1.12", GATEWAY, "tcp", 18080], ["10.77.1.11", GATEWAY, "tcp", 18080],
                   ["10.77.1.11", GATEWAY, "udp", 53], other=(["10.77.1.11", GATEWAY, "icmp"],))
    assert reached.parse(text) == [
        reached.Flow("10.77.1.11", GATEWAY, "icmp", None), reached.Flow("10.77.1.11", GATEWAY, "udp", 53),
        reached.Flow("10.77.1.11", GATEWAY, "tcp", 18080), reached.Flow("10.77.1.12", GATEWAY, "tcp", 18080)]
    # An element with a timeout comes wrapped ({"elem": {"val": ...}}); a protocol nft does not name is a number.
    wrapped = json.dumps({"nftables": [{"set": {"name": "other", "elem": [
        {"elem": {"val": {"concat": ["10.77.1.11", GATEWAY, 47]}, "timeout": 60}}]}}]})
    assert reached.parse(wrapped) == [reached.Flow("10.77.1.11", GATEWAY, "47", None)]


@pytest.mark.parametrize("text", ["", "[]", '{"nftables": 3}', listing(["10.77.1.11", GATEWAY])])
def test_a_listing_that_is_not_nft_s_is_refused_not_read_as_no_flow(text):
    with pytest.raises(reached.ReachedError):
        reached.parse(text)


def test_each_address_is_named_by_the_stand_in_listening_there_and_an_unknown_one_by_none():
    flows = [reached.Flow("10.77.1.11", GATEWAY, "tcp", 18080), reached.Flow("10.77.1.200", GATEWAY, "tcp", 18080),
             reached.Flow("10.77.1.11", GATEWAY, "udp", 53), reached.Flow("10.77.1.11", GATEWAY, "udp", 123),
             reached.Flow("10.77.1.11", GATEWAY, "tcp", 443), reached.Flow("10.77.1.12", GATEWAY, "tcp", 5000),
             reached.Flow("10.77.1.12", GATEWAY, "udp", 18080)]
    found = {(r.protocol, r.port): r for r in reached.classify(flows, ENDPOINTS, GATEWAY, NAMES)}
    assert found["tcp", 18080].stand_in == "bundle" and found["tcp", 18080].nodes == ("head01", "n01")
    assert found["udp", 53].stand_in.startswith("DNS") and found["udp", 123].stand_in.startswith("NTP")
    assert found["tcp", 443].stand_in == "aws_https"
    # moto_server listens on 127.0.0.1, not on the gateway; a UDP flow to a TCP stand-in's port is no stand-in.
    assert found["tcp", 5000].stand_in is None and found["udp", 18080].stand_in is None


def outcome(monkeypatch, flows, endpoints=ENDPOINTS, misses=None):
    monkeypatch.setattr(reached, "flows", lambda state: flows)
    monkeypatch.setattr(reached, "dns_misses", lambda state: misses or {})
    state = LabState(site="lab-b200", root=None)
    state.endpoints = dict(endpoints)
    return reached.air_gap_outcome(state, GATEWAY, NAMES)


def test_a_lab_with_a_bundle_passes_when_its_nodes_fetched_from_it_alone(monkeypatch):
    verdict, detail, found = outcome(monkeypatch, [reached.Flow("10.77.1.11", GATEWAY, "tcp", 18080),
                                                   reached.Flow("10.77.1.11", GATEWAY, "udp", 53)])
    assert verdict == "passed" and "packages from the mirror bundle alone" in detail, detail
    assert "mirror bundle (tcp 10.77.1.1:18080, 1 host(s))" in detail and len(found) == 2


def test_an_address_no_stand_in_serves_fails_the_air_gap_naming_it_and_who_reached_it(monkeypatch):
    verdict, detail, _found = outcome(monkeypatch, [reached.Flow("10.77.1.11", GATEWAY, "tcp", 18080),
                                                    reached.Flow("10.77.1.12", GATEWAY, "tcp", 3128)])
    assert verdict == "failed" and detail.startswith(f"tcp {GATEWAY}:3128 from n02: no lab stand-in there"), detail


def test_a_lab_with_a_bundle_fails_when_a_node_fetched_packages_from_a_stand_in_repository(monkeypatch):
    endpoints = {**ENDPOINTS, "vendor": f"http://{GATEWAY}:18090"}
    verdict, detail, _found = outcome(monkeypatch, [reached.Flow("10.77.1.11", GATEWAY, "tcp", 18090)], endpoints)
    assert verdict == "failed" and "packages fetched from the vendor repository stand-ins, not the mirror bundle" in detail


def test_a_lab_without_a_bundle_says_where_its_packages_came_from_and_why(monkeypatch):
    endpoints = {k: v for k, v in ENDPOINTS.items() if k != "bundle"} | {"apt": f"http://{GATEWAY}:18080/debian",
                                                                         "vendor": f"http://{GATEWAY}:18090"}
    verdict, detail, _found = outcome(monkeypatch, [reached.Flow("10.77.1.11", GATEWAY, "tcp", 18080),
                                                    reached.Flow("10.77.1.11", GATEWAY, "tcp", 18090)], endpoints)
    assert verdict == "passed"
    assert ("packages from partial Debian mirror stand-in, vendor repository stand-ins (this lab serves no mirror "
            "bundle: its site's architecture is not this machine's)") in detail, detail


def test_an_aws_name_the_private_link_does_not_serve_fails_the_air_gap_naming_who_looked_it_up(monkeypatch):
    bundle = [reached.Flow("10.77.1.11", GATEWAY, "tcp", 18080)]
    misses = {"iam.amazonaws.com": {"10.77.1.11", "10.77.1.200"}, "ntp.lab.factory.internal": {"10.77.1.11"}}
    verdict, detail, _found = outcome(monkeypatch, bundle, misses=misses)
    assert verdict == "failed" and detail.startswith(
        "iam.amazonaws.com looked up from head01, n01: an AWS name the private link does not serve"), detail
    assert detail.endswith("names the lab's DNS did not answer: ntp.lab.factory.internal"), detail
    many = {f"host{i}.lab.factory.internal": {"10.77.1.11"} for i in range(7)}
    verdict, detail, _found = outcome(monkeypatch, bundle, misses=many)
    assert verdict == "passed" and detail.endswith(f"host4.lab.factory.internal and {7 - reached.NAMES_SHOWN} more")


@pytest.mark.parametrize("record", ['{"name": "iam.amazonaws.com"}', "not json", '{"name": 1, "from": "10.77.1.11"}'])
def test_a_dns_record_that_is_not_the_stand_in_s_is_refused_not_read_as_no_lookup(tmp_path, record):
    state = LabState(site="lab-b200", root=tmp_path)
    (state.dir / "aws").mkdir(parents=True)
    (state.dir / dns.MISSES_FILE).write_text('{"name": "deb.debian.org", "from": "10.77.1.11"}\n' + record + "\n")
    with pytest.raises(reached.ReachedError, match="line 2: not a record of the lab's DNS stand-in"):
        reached.dns_misses(state)
    (state.dir / dns.MISSES_FILE).write_text('{"name": "deb.debian.org", "from": "10.77.1.11"}\n')
    assert reached.dns_misses(state) == {"deb.debian.org": {"10.77.1.11"}}


@pytest.mark.skipif(os.geteuid() != 0 or not reached.available() or shutil.which("ip") is None,
                    reason="creates a bridge, a namespace and an nftables table: root, iproute2 and nftables")
def test_flows_from_a_node_namespace_to_the_gateway_are_recorded_and_lab_down_removes_the_table(tmp_path,
                                                                                                  monkeypatch):
    monkeypatch.setenv("AIFACTORY_LAB_DIR", str(tmp_path))
    site = "lab-reached-test"
    state = LabState(site=site, root=tmp_path)
    cidr, node_address = "10.250.78.0/24", "10.250.78.11"
    gateway = str(network.gateway(cidr).ip)
    try:
        bridge = network.create_bridge(state, cidr)
        table = reached.start(state, bridge, cidr, gateway)
        ns = network.create_node_netns(state, bridge, "n01", 1, node_address, 24)
        network.create_node_netns(state, bridge, "n02", 2, "10.250.78.12", 24)
        state.save()
        with socket.socket() as server:
            server.bind((gateway, 0))
            server.listen()
            port = server.getsockname()[1]
            client = ("import socket; socket.create_connection((%r, %d), timeout=5).close(); "
                      "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', (%r, 123)); "
                      "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('10.250.78.12', 7))"
                      ) % (gateway, port, gateway)
            subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", client], check=True, timeout=30)
        # What went to the gateway is recorded; what stayed between the factory's hosts is not.
        assert set(reached.flows(state)) == {reached.Flow(node_address, gateway, "tcp", port),
                                             reached.Flow(node_address, gateway, "udp", 123)}
        item = next(r for r in state.resources if r["kind"] == "nft")
        assert lifecycle.resource_present(item) and lifecycle.resource_id(item) == table
        assert lifecycle.down(site, lambda line: None)
        assert not reached.exists(table) and not lifecycle.resource_present(item)
    finally:
        for r in state.resources:  # what a failed assertion above left
            if r["kind"] == "nft":
                reached.remove(r["table"])
            elif r["kind"] == "netns":
                network.remove_netns(r["name"])
            elif r["kind"] == "link":
                network.remove_link(r["name"])
