"""Names and addresses never move (docs/addressing.md): growing a factory renames no host and moves no
address of a node, its BMC, its storage interface or an NVLink switch tray's BMC.

Each example site grows by one rack through the inventory plugin (`ansible-inventory --list`); larger
growth (paris-gb200 from 99 to 101 racks, every site to the most racks its ranges hold, HGX racks
filled up) goes through the Python model that the plugin serves.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aifactory.spec import Factory, SpecError, load_spec
from tests.conftest import REPO, SITES, site_dir

ANSIBLE_INVENTORY = str(Path(sys.executable).parent / "ansible-inventory")
# Every address a host has in the inventory, by kind of host.
ADDRESS_VARS = ("ansible_host", "aifactory_bmc_address", "aifactory_storage_address")


def grown_copy(tmp_path: Path, site: str, **compute) -> Path:
    """A copy of an example site (pki/ and all) with `compute` changed and a power budget that fits."""
    target = tmp_path / f"{site}-{'-'.join(f'{k}{v}' for k, v in compute.items())}"
    shutil.copytree(site_dir(site), target)
    data = yaml.safe_load((target / "factory.yaml").read_text())
    data["compute"].update(compute)
    data["facility"]["power_budget_kw"] = 10**6  # power is not what these tests are about
    (target / "factory.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def widened(site: Path, **ranges: str) -> Path:
    data = yaml.safe_load((site / "factory.yaml").read_text())
    data["network"].update(ranges)
    (site / "factory.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return site


def plain(value):
    """ansible-inventory marks strings from inventory plugins as untrusted: unwrap them."""
    if isinstance(value, dict):
        return value["__ansible_unsafe"] if set(value) == {"__ansible_unsafe"} else {k: plain(v) for k, v in value.items()}
    return [plain(v) for v in value] if isinstance(value, list) else value


def inventory_addresses(site: Path) -> dict[str, dict[str, str]]:
    """host -> its addresses, as Ansible sees the inventory."""
    result = subprocess.run([ANSIBLE_INVENTORY, "-i", str(site / "aifactory.yml"), "--list"], cwd=REPO,
                            capture_output=True, text=True, env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    assert result.returncode == 0, result.stderr
    hostvars = plain(json.loads(result.stdout)["_meta"]["hostvars"])
    return {host: {k: v[k] for k in ADDRESS_VARS if k in v} for host, v in hostvars.items()}


def model_addresses(f: Factory) -> dict[str, dict[str, str]]:
    """host -> its addresses, from the model: nodes, their BMCs, switch-tray BMCs."""
    hosts = {}
    for n in f.nodes:
        hosts[n.name] = {"ansible_host": n.address, "aifactory_bmc_address": n.bmc_address,
                         "aifactory_storage_address": n.storage_address}
        hosts[f"{n.name}-bmc"] = {"aifactory_bmc_address": n.bmc_address}
    for t in f.switch_trays:
        hosts[f"{t.name}-bmc"] = {"aifactory_bmc_address": t.bmc_address}
    return hosts


def assert_nothing_existing_moved(before: dict, after: dict) -> None:
    """Every host of `before` is in `after` under its name with its addresses; no address is used twice."""
    moved = {host: (addresses, after.get(host)) for host, addresses in before.items() if after.get(host) != addresses}
    assert not moved, f"{len(moved)} hosts renamed or moved, e.g. {next(iter(moved.items()))}"
    for var in ADDRESS_VARS:
        owners = [h for h, addresses in after.items() if var in addresses and (var != "aifactory_bmc_address"
                                                                               or h.endswith("-bmc"))]
        assert len({after[h][var] for h in owners}) == len(owners), f"an address of {var} is used twice"


@pytest.mark.parametrize("site", SITES)
def test_one_more_rack_moves_nothing_in_the_ansible_inventory(tmp_path, site):
    before = inventory_addresses(site_dir(site))
    racks = load_spec(site_dir(site)).compute.racks
    after = inventory_addresses(grown_copy(tmp_path, site, racks=racks + 1))
    assert_nothing_existing_moved(before, after)
    added = set(after) - set(before)
    f = load_spec(site_dir(site))
    per_rack = 2 * f.nodes_per_rack + f.switch_trays_per_rack  # nodes, their BMCs, switch-tray BMCs
    assert len(added) == per_rack and all(f"-r{racks + 1:03d}-" in host for host in added)


def test_paris_from_99_to_101_racks_moves_nothing(tmp_path):
    """paris-gb200's own ranges hold 37 racks (its BMC range is the limit, below), so this copy widens
    the BMC range to a /20 elsewhere in its on-prem range and the storage range to a /21, for both counts."""
    wide = {"bmc_cidr": "10.40.32.0/20", "storage_cidr": "10.40.16.0/21"}
    f99 = load_spec(widened(grown_copy(tmp_path, "paris-gb200", racks=99), **wide))
    f101 = load_spec(widened(grown_copy(tmp_path, "paris-gb200", racks=101), **wide))
    assert_nothing_existing_moved(model_addresses(f99), model_addresses(f101))
    names = [n.name for n in f101.nodes]
    assert names[98 * 18] == "paris-gb200-r099-n01" and names[99 * 18] == "paris-gb200-r100-n01"
    assert names[-1] == "paris-gb200-r101-n18" and f101.switch_trays[-1].name == "paris-gb200-r101-sw09"
    assert f101.nodes[-1].rack_group == "rack101"


@pytest.mark.parametrize("site", SITES)
def test_growing_to_the_most_racks_the_ranges_hold_moves_nothing(tmp_path, site):
    f = load_spec(site_dir(site))
    most = f.max_racks
    grown = load_spec(grown_copy(tmp_path, site, racks=most))
    assert_nothing_existing_moved(model_addresses(f), model_addresses(grown))
    with pytest.raises(SpecError) as refused:
        load_spec(grown_copy(tmp_path, site, racks=most + 1))
    limit = min(f.rack_capacity, key=f.rack_capacity.get)
    assert f"network.{limit}" in {p.path for p in refused.value.problems}


def test_the_real_ranges_of_each_example_hold():
    """What each example's ranges hold (docs/addressing.md quotes these)."""
    assert {s: load_spec(site_dir(s)).max_racks for s in SITES} == {"paris-gb200": 37, "ohio-trn3": 13, "lab-b200": 15, "lab-gb200": 9}


def test_filling_hgx_racks_up_to_the_address_block_moves_nothing(tmp_path):
    """nodes_per_rack of an HGX factory can change; each rack's block is sized for the platform's most."""
    three = load_spec(grown_copy(tmp_path, "lab-b200", racks=2))
    sixteen = load_spec(grown_copy(tmp_path, "lab-b200", racks=2, nodes_per_rack=16))
    assert_nothing_existing_moved(model_addresses(three), model_addresses(sixteen))
    assert sixteen.nodes[16].name == "lab-b200-r002-n01" and sixteen.nodes[16].address == "10.77.1.27"


def test_widening_a_range_from_the_same_first_address_moves_nothing(tmp_path):
    f = load_spec(grown_copy(tmp_path, "ohio-trn3", racks=2))
    wider = load_spec(widened(grown_copy(tmp_path, "ohio-trn3", racks=20), bmc_cidr="172.20.0.0/22",
                              storage_cidr="172.20.8.0/22"))
    assert_nothing_existing_moved(model_addresses(f), model_addresses(wider))
