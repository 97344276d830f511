"""The example sites validate unchanged, without a warning, and derive what they imply."""

from __future__ import annotations

import ipaddress

import pytest

from aifactory.spec import load_spec
from tests.conftest import SITES, site_dir


@pytest.mark.parametrize("site", SITES)
def test_example_validates_without_a_warning(site):
    warnings = []
    factory = load_spec(site_dir(site), warnings=warnings)
    assert factory.name == site
    assert [str(w) for w in warnings] == []  # a shipped example shows what a clean site looks like


def test_paris_derives_racks_nodes_power_and_addresses():
    f = load_spec(site_dir("paris-gb200"))
    assert (f.compute.racks, f.nodes_per_rack, f.node_count) == (4, 18, 72)
    assert f.accelerator_count == 288
    assert len(f.switch_trays) == 36
    assert f.power_kw == 4 * f.rack_power_kw <= f.facility.power_budget_kw
    first, last = f.nodes[0], f.nodes[-1]
    assert (first.name, first.rack, first.slot) == ("paris-gb200-r001-n01", 1, 1)
    assert (last.name, last.rack, last.slot) == ("paris-gb200-r004-n18", 4, 18)
    assert first.address == "10.40.8.11" and first.bmc_address == "10.40.0.11"
    # Every address is unique and inside its range; a rack's switch-tray BMCs follow its node BMCs' block.
    for field, cidr in (("address", f.network.host_cidr), ("bmc_address", f.network.bmc_cidr),
                        ("storage_address", f.network.storage_cidr)):
        values = [getattr(n, field) for n in f.nodes]
        assert len(set(values)) == 72
        assert all(ipaddress.IPv4Address(v) in ipaddress.IPv4Network(cidr) for v in values)
    bmcs = [n.bmc_address for n in f.nodes] + [t.bmc_address for t in f.switch_trays]
    assert len(set(bmcs)) == 108
    assert (f.switch_trays[0].bmc_address, f.switch_trays[9].bmc_address) == ("10.40.0.29", "10.40.0.56")
    assert f.nodes[18].bmc_address == "10.40.0.38"  # rack 2's block starts after rack 1's 18 nodes and 9 trays
    assert f.air_gapped is True


def test_ohio_inference_profile_routing_and_trainium_counts():
    f = load_spec(site_dir("ohio-trn3"))
    assert (f.node_count, f.accelerator_count, len(f.switch_trays)) == (72, 288, 0)
    assert f.platform.software_stack == "neuron"
    routes = f.bedrock_routing_regions["us.anthropic.claude-sonnet-4-5-20250929-v1:0"]
    assert set(routes) == {"us-east-1", "us-east-2", "us-west-1", "us-west-2"}
    assert f.bedrock_foundation_models == ("anthropic.claude-sonnet-4-5-20250929-v1:0",)


def test_lab_uses_spec_nodes_per_rack_and_node_power():
    f = load_spec(site_dir("lab-b200"))
    assert [n.name for n in f.nodes] == ["lab-b200-r001-n01", "lab-b200-r001-n02", "lab-b200-r001-n03"]
    assert [n.address for n in f.nodes] == ["10.77.1.11", "10.77.1.12", "10.77.1.13"]
    assert f.power_kw == pytest.approx(3 * 14.3)
    assert f.air_gapped is True and f.software.mirrors.apt == "http://mirror.lab.factory.internal/debian"  # the lab stands in for them


def test_site_dir_and_file_are_the_same_spec():
    a = load_spec(site_dir("lab-b200"))
    b = load_spec(site_dir("lab-b200") / "factory.yaml")
    assert a == b and a.trust_anchor_path == b.trust_anchor_path
