"""The inventory of a factory: built in Python, and served to Ansible by the `aifactory` plugin."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aifactory.inventory import (AWS_OUTPUT_KEYS, InventoryInputError, build_inventory, load_host_overrides,
                                 load_stack_outputs)
from aifactory.spec import load_spec
from tests.conftest import REPO, site_dir

ANSIBLE_INVENTORY = str(Path(sys.executable).parent / "ansible-inventory")
SECRET_CODE = "ssm-activation-code-do-not-leak-7f3a"
STACK_OUTPUTS = {
    "region": "eu-west-3",
    "vpc_id": "vpc-0123456789abcdef0",
    "endpoint_dns": {"bedrock-runtime": "vpce-0a1b-bedrock-runtime.eu-west-3.vpce.amazonaws.com"},
    "trust_anchor_arn": "arn:aws:rolesanywhere:eu-west-3:111122223333:trust-anchor/1b2c",
    "node_profile_arn": "arn:aws:rolesanywhere:eu-west-3:111122223333:profile/3d4e",
    "node_role_arn": "arn:aws:iam::111122223333:role/paris-gb200-node",
    "ssm_activation_id": "5e1c2f9b-0d47-4a3b-9c1e-8f7a6b5c4d3e",
    "ssm_activation_code": SECRET_CODE,
}
FACTORY_VARS = {"aifactory_factory_name", "aifactory_domain", "aifactory_platform", "aifactory_software_stack",
                "aifactory_expected_hardware", "aifactory_node_os", "aifactory_air_gapped", "aifactory_mirrors",
                "aifactory_nvidia", "aifactory_neuron", "aifactory_fabric", "aifactory_mtu", "aifactory_storage",
                "aifactory_region", "aifactory_aws", "aifactory_trust_anchor_file"}


def ansible_inventory(source: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([ANSIBLE_INVENTORY, "-i", str(source), *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), **(env or {})})


def plain(value):
    """ansible-inventory marks strings from inventory plugins as untrusted (never templated): unwrap them."""
    if isinstance(value, dict):
        return value["__ansible_unsafe"] if set(value) == {"__ansible_unsafe"} else {k: plain(v) for k, v in value.items()}
    return [plain(v) for v in value] if isinstance(value, list) else value


def copy_site(tmp_path: Path, site: str, mutate=None) -> Path:
    target = tmp_path / site
    shutil.copytree(site_dir(site), target)
    if mutate:
        data = yaml.safe_load((target / "factory.yaml").read_text())
        mutate(data)
        (target / "factory.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return target


# --- built in Python -------------------------------------------------------------------------------

def test_gb200_groups_and_hosts():
    inv = build_inventory(load_spec(site_dir("paris-gb200")))
    groups = inv.groups
    assert groups["nodes"].children == ["rack01", "rack02", "rack03", "rack04"]
    assert [len(groups[f"rack0{r}"].hosts) for r in range(1, 5)] == [18] * 4
    assert groups["gpu_nodes"].children == ["nodes"] and groups["platform_nvidia_gb200_nvl72"].children == ["nodes"]
    assert "trainium_nodes" not in groups
    assert set(groups["factory_paris_gb200"].children) >= {"nodes", "bmcs"}
    assert groups["bmcs"].children == ["switch_tray_bmcs", "node_bmcs"]
    assert (len(groups["switch_tray_bmcs"].hosts), len(groups["node_bmcs"].hosts)) == (36, 72)
    assert groups["switch_tray_bmcs"].hosts[0] == "paris-gb200-r001-sw01-bmc"
    assert groups["bmcs"].vars["ansible_connection"] == "local"


def test_vars_of_nodes_bmcs_and_the_factory():
    f = load_spec(site_dir("paris-gb200"))
    inv = build_inventory(f)
    node = f.nodes[19]
    assert inv.hostvars[node.name] == {
        "ansible_host": node.address, "aifactory_rack": 2, "aifactory_rack_group": "rack02", "aifactory_slot": 2,
        "aifactory_bmc_address": node.bmc_address, "aifactory_storage_address": node.storage_address}
    assert inv.hostvars[f"{node.name}-bmc"] == {
        "aifactory_bmc_address": node.bmc_address, "aifactory_bmc_endpoint": f"https://{node.bmc_address}",
        "aifactory_rack": 2, "aifactory_rack_group": "rack02"}
    shared = inv.groups["factory_paris_gb200"].vars
    assert set(shared) == FACTORY_VARS
    assert shared["aifactory_expected_hardware"]["fabric"] == "imex"
    assert shared["aifactory_nvidia"]["driver_branch"] == "580" and shared["aifactory_neuron"] is None
    assert shared["aifactory_mirrors"]["neuron"] is None and shared["aifactory_air_gapped"] is True
    assert shared["aifactory_storage"]["shared"][0]["type"] == "lustre"
    assert shared["aifactory_aws"] == {}
    assert inv.groups["switch_tray_bmcs"].vars == {"aifactory_bmc_kind": "switch-tray"}
    assert inv.groups["node_bmcs"].vars == {"aifactory_bmc_kind": "compute"}


def test_trainium_factory():
    inv = build_inventory(load_spec(site_dir("ohio-trn3")))
    assert inv.groups["trainium_nodes"].children == ["nodes"] and "gpu_nodes" not in inv.groups
    assert inv.groups["switch_tray_bmcs"].hosts == [] and len(inv.groups["node_bmcs"].hosts) == 72
    assert inv.groups["factory_ohio_trn3"].vars["aifactory_software_stack"] == "neuron"


def test_stack_outputs_keep_only_non_secret_keys(tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(STACK_OUTPUTS))
    aws = load_stack_outputs(path)
    assert set(aws) == set(AWS_OUTPUT_KEYS)
    inv = build_inventory(load_spec(site_dir("paris-gb200")), stack_outputs=aws)
    assert inv.groups["factory_paris_gb200"].vars["aifactory_aws"]["endpoint_dns"] == STACK_OUTPUTS["endpoint_dns"]
    assert SECRET_CODE not in json.dumps(inv.to_ansible_list())


def test_host_overrides_apply_last_and_name_known_hosts(tmp_path):
    f = load_spec(site_dir("lab-b200"))
    inv = build_inventory(f, host_overrides={"lab-b200-r001-n01": {"ansible_host": "127.0.0.1", "ansible_port": 2201}})
    assert inv.hostvars["lab-b200-r001-n01"]["ansible_host"] == "127.0.0.1"
    with pytest.raises(InventoryInputError, match="lab-b200-r009-n01: no such host"):
        build_inventory(f, host_overrides={"lab-b200-r009-n01": {"ansible_port": 22}})


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON at line 1"),
    ("[1, 2]", "must be a JSON object"),
    ('{"endpoint_dns": ["a"]}', "endpoint_dns: must map each service to a DNS name"),
])
def test_bad_stack_outputs_file(tmp_path, text, message):
    path = tmp_path / "outputs.json"
    path.write_text(text)
    with pytest.raises(InventoryInputError, match=message):
        load_stack_outputs(path)
    with pytest.raises(InventoryInputError, match="no such host overrides file"):
        load_host_overrides(tmp_path / "missing.json")


# --- through Ansible -------------------------------------------------------------------------------

def test_ansible_inventory_lists_the_paris_factory(tmp_path):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(STACK_OUTPUTS))
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"paris-gb200-r001-n01-bmc": {"aifactory_bmc_endpoint": "https://127.0.0.1:8001"}}))
    result = ansible_inventory(site_dir("paris-gb200") / "aifactory.yml", "--list",
                               env={"AIFACTORY_STACK_OUTPUTS": str(outputs), "AIFACTORY_HOST_OVERRIDES": str(overrides)})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["nodes"]["children"] == ["rack01", "rack02", "rack03", "rack04"]
    nodes = [h for r in data["nodes"]["children"] for h in data[r]["hosts"]]
    assert len(nodes) == 72
    hostvars = plain(data["_meta"]["hostvars"])
    assert hostvars["paris-gb200-r004-n18"]["ansible_host"] == "10.40.8.82"
    assert hostvars["paris-gb200-r004-n18"]["aifactory_aws"]["trust_anchor_arn"] == STACK_OUTPUTS["trust_anchor_arn"]
    bmc = hostvars["paris-gb200-r001-n01-bmc"]
    assert (bmc["ansible_connection"], bmc["aifactory_bmc_kind"]) == ("local", "compute")
    assert bmc["aifactory_bmc_endpoint"] == "https://127.0.0.1:8001"
    assert hostvars["paris-gb200-r001-sw01-bmc"]["aifactory_bmc_kind"] == "switch-tray"
    assert SECRET_CODE not in result.stdout


def test_bad_spec_is_a_clear_parser_error(tmp_path):
    def break_it(data):
        data["compute"]["racks"] = "four"
        data["network"]["host_cidr"] = "10.40.8.0/33"
    site = copy_site(tmp_path, "paris-gb200", break_it)
    result = ansible_inventory(site / "aifactory.yml", "--graph", env={"ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True"})
    assert result.returncode != 0
    assert "factory.yaml: 2 problem(s)" in result.stderr
    assert "compute.racks: Input should be a valid integer" in result.stderr
    assert "network.host_cidr: not an IPv4 CIDR" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_thousand_racks_list_with_group_vars_once(tmp_path):
    """1,000 GB200 racks: 18,000 nodes and 27,000 BMCs (measured: ~8 s for `--list --export` on 2 cores)."""
    def grow(data):
        data["compute"]["racks"] = 1000
        data["facility"]["power_budget_kw"] = 200000
        data["network"].update(onprem_cidr="10.0.0.0/12", bmc_cidr="10.0.0.0/16", host_cidr="10.1.0.0/16",
                               storage_cidr="10.2.0.0/16")
        for share in data["storage"]["shared"]:
            share["source"] = share["source"].replace("10.40.16", "10.2.0")
    site = copy_site(tmp_path, "paris-gb200", grow)
    result = ansible_inventory(site / "aifactory.yml", "--list", "--export")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    racks = data["nodes"]["children"]
    assert len(racks) == 1000 and racks[-1] == "rack1000"
    assert sum(len(data[r]["hosts"]) for r in racks) == 18000
    assert len(data["node_bmcs"]["hosts"]) == 18000 and len(data["switch_tray_bmcs"]["hosts"]) == 9000
    assert len(data["_meta"]["hostvars"]) == 45000
    # Shared vars live once on the factory group, not copied into 45,000 hosts.
    assert "aifactory_expected_hardware" in data["factory_paris_gb200"]["vars"]
    assert "aifactory_expected_hardware" not in data["_meta"]["hostvars"]["paris-gb200-r1000-n18"]
