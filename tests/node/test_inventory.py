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

from aifactory.node.batches import inventory_serial, plan_batches, serial_sizes
from aifactory.node.inventory import (AWS_OUTPUT_KEYS, MONITORING_VAR, InventoryInputError, aws_vars, build_inventory,
                                 load_host_overrides, load_stack_outputs)
from aifactory.node.parsers.acceptance import Observations, planned_checks
from aifactory.lab.lifecycle import CONTAINER_CAPABILITIES
from aifactory.node.role_vars import HOST_CAPABILITIES, OLD_STAND_IN_SWITCHES, ROLE_CAPABILITIES, role_vars
from aifactory.spec import load_spec
from tests.conftest import REPO, put, site_dir
from tests.spec.conftest import write_site  # noqa: F401 - a fixture

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
    "amp_remote_write_url": "https://aps-workspaces.eu-west-3.amazonaws.com/workspaces/ws-0b1c/api/v1/remote_write",
}
ROLES = REPO / "playbooks" / "roles"


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
    assert groups["switch_tray_bmcs"].hosts[0] == f"{load_spec(site_dir('paris-gb200')).switch_trays[0].name}-bmc"
    assert groups["bmcs"].vars["ansible_connection"] == "local"


def test_vars_of_nodes_bmcs_and_the_factory():
    f = load_spec(site_dir("paris-gb200"))
    inv = build_inventory(f)
    node = f.nodes[19]
    assert inv.hostvars[node.name] == {
        "ansible_host": node.address, "aifactory_rack": 2, "aifactory_rack_group": "rack02", "aifactory_slot": 2,
        "aifactory_bmc_address": node.bmc_address, "aifactory_storage_address": node.storage_address}
    assert inv.hostvars[f"{node.name}-bmc"] == {
        "aifactory_bmc_address": node.bmc_address, "bmc_endpoint": f"https://{node.bmc_address}",
        "aifactory_rack": 2, "aifactory_rack_group": "rack02"}
    assert inv.groups["factory_paris_gb200"].vars == {
        "aifactory_factory_name": "paris-gb200", "aifactory_platform": "nvidia-gb200-nvl72",
        # paris has the SSM hybrid activation; the AMP workspace is the monitoring stage's
        "aifactory_awslink_required_outputs": [k for k in AWS_OUTPUT_KEYS if k != "amp_remote_write_url"],
        "aifactory_monitoring_enabled": False}
    assert inv.groups["switch_tray_bmcs"].vars == {"aifactory_bmc_kind": "switch-tray"}
    assert inv.groups["node_bmcs"].vars == {"aifactory_bmc_kind": "compute"}


def test_the_monitoring_stage_runs_where_the_spec_enables_it(write_site):  # noqa: F811
    f = load_spec(write_site("paris-gb200", put("monitoring.enabled", True)))
    assert build_inventory(f).groups["factory_paris_gb200"].vars[MONITORING_VAR] is True


def test_trainium_factory():
    inv = build_inventory(load_spec(site_dir("ohio-trn3")))
    assert inv.groups["trainium_nodes"].children == ["nodes"] and "gpu_nodes" not in inv.groups
    assert inv.groups["switch_tray_bmcs"].hosts == [] and len(inv.groups["node_bmcs"].hosts) == 72
    assert inv.groups["factory_ohio_trn3"].vars["aifactory_platform"] == "aws-trn3-ultraserver"


def test_stack_outputs_keep_only_non_secret_keys(tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(STACK_OUTPUTS))
    aws = load_stack_outputs(path)
    assert set(aws) == set(AWS_OUTPUT_KEYS)
    inv = build_inventory(load_spec(site_dir("paris-gb200")), stack_outputs=aws)
    nodes = inv.groups["nodes"].vars
    assert nodes["aws_node_identity_outputs"]["endpoint_dns"] == STACK_OUTPUTS["endpoint_dns"]
    assert nodes["aws_node_identity_region"] == "eu-west-3"
    assert SECRET_CODE not in json.dumps(inv.to_ansible_list())


def test_host_overrides_apply_last_and_name_known_hosts(tmp_path):
    f = load_spec(site_dir("lab-b200"))
    first = f.nodes[0].name
    inv = build_inventory(f, host_overrides={first: {"ansible_host": "127.0.0.1", "ansible_port": 2201}})
    assert inv.hostvars[first]["ansible_host"] == "127.0.0.1"
    stranger = f"{first}-x"
    with pytest.raises(InventoryInputError, match=f"{stranger}: no such host"):
        build_inventory(f, host_overrides={stranger: {"ansible_port": 22}})


def test_absent_hosts_leave_the_inventory_and_move_nothing():
    f = load_spec(site_dir("lab-gb200"))
    absent = [n.name for n in f.nodes if n.slot > 2]
    overrides = {h: {"aifactory_absent": True} for name in absent for h in (name, f"{name}-bmc")}
    inv = build_inventory(f, host_overrides=overrides)
    full = build_inventory(f)
    assert inv.groups["rack01"].hosts == [f"lab-gb200-r001-n01", "lab-gb200-r001-n02"]
    assert inv.groups["rack02"].hosts == [f"lab-gb200-r002-n01", "lab-gb200-r002-n02"]
    assert len(inv.groups["switch_tray_bmcs"].hosts) == 18  # every switch tray stays
    assert not set(inv.hostvars) & set(overrides)
    assert all(inv.hostvars[h] == full.hostvars[h] for h in inv.hostvars)  # nothing else moved
    assert inv.groups["factory_lab_gb200"].vars["aifactory_absent_hosts"] == sorted(overrides)


def groups_of(inv) -> dict[str, list[str]]:
    """The inventory's direct host lists per group, as Ansible's `groups` holds them for rack groups."""
    return {name: list(g.hosts) for name, g in inv.groups.items()}


def test_the_drivers_serial_is_the_rollout_plan_of_the_inventorys_present_nodes():
    f = load_spec(site_dir("lab-gb200"))
    absent = {n.name: {"aifactory_absent": True} for n in f.nodes if n.slot > 2 or n.name == "lab-gb200-r001-n01"}
    serial = inventory_serial(groups_of(build_inventory(f, host_overrides=absent)))
    # lab-gb200-r001-n02 is the canary and alone in the rest of rack01; rack02 keeps its two trays.
    assert serial == serial_sizes(plan_batches(f.nodes, True, absent=absent)) == [1, 2]
    paris = load_spec(site_dir("paris-gb200"))
    assert inventory_serial(groups_of(build_inventory(paris))) == [1, 17, 18, 18, 18]
    trn = load_spec(site_dir("ohio-trn3"))
    assert inventory_serial(groups_of(build_inventory(trn))) == serial_sizes(plan_batches(trn.nodes, False)) == [1, 35, 36]
    assert inventory_serial({"all": ["a", "b"], "gpu_nodes": ["a", "b"]}) == [1]  # no rack groups: one at a time


# --- the spec as role variables ----------------------------------------------------------------------

@pytest.mark.parametrize("site", ["paris-gb200", "ohio-trn3", "lab-b200"])
def test_nodes_carry_every_role_variable_from_the_spec_once(site):
    f = load_spec(site_dir(site))
    inv = build_inventory(f, stack_outputs={"region": f.sovereignty.region})
    assert inv.groups["nodes"].vars == role_vars(f, {"region": f.sovereignty.region})
    assert not any(k.startswith(tuple(f"{r}_" for r in ROLE_CAPABILITIES)) for h in f.nodes for k in inv.hostvars[h.name])


def test_gb200_role_variables_follow_grace_and_the_air_gapped_mirrors():
    f = load_spec(site_dir("paris-gb200"))
    nodes = build_inventory(f).groups["nodes"].vars
    mirror = f.software.mirrors.nvidia
    assert (nodes["nvidia_gpu_repo_arch"], nodes["nvidia_gpu_apt_arch"]) == ("sbsa", "arm64")
    assert (nodes["rdma_fabric_doca_arch"], nodes["rdma_fabric_apt_arch"]) == ("arm64-sbsa", "arm64")
    assert nodes["nvidia_gpu_repo_url"] == f"{mirror}/compute/cuda/repos"
    assert nodes["rdma_fabric_doca_repo_url"] == f"{mirror}/doca"
    assert (nodes["nvidia_gpu_driver_branch"], nodes["nvidia_gpu_fabric"]) == (f.software.nvidia.driver_branch, "imex")
    assert (nodes["os_baseline_air_gapped"], nodes["os_baseline_apt_mirror"]) == (True, f.software.mirrors.apt)
    assert nodes["rdma_fabric_doca_ofed"] == f.software.nvidia.doca_ofed
    assert [m["name"] for m in nodes["shared_storage_mounts"]] == [m.name for m in f.storage.shared]
    assert not any(k.startswith("neuron_") for k in nodes)


def test_the_acceptance_role_gets_one_ready_expected_profile():
    f = load_spec(site_dir("paris-gb200"))
    aws = aws_vars(STACK_OUTPUTS)
    nodes = build_inventory(f, stack_outputs=aws).groups["nodes"].vars
    expected = nodes["acceptance_expected"]
    assert expected == {**f.platform.expected.model_dump(), "driver_branch": str(f.software.nvidia.driver_branch),
                        "driver_version": f.software.nvidia.driver_version or "", "network_fabric": f.network.fabric,
                        "scratch_mount": f.storage.scratch.mount,
                        "shared_mounts": [m.model_dump() for m in f.storage.shared],
                        "bedrock_endpoint": STACK_OUTPUTS["endpoint_dns"]["bedrock-runtime"]}
    assert not {k for k in nodes if k.startswith("acceptance_")} - {
        "acceptance_expected", "acceptance_software_stack", "acceptance_platform"}
    # The verdict plans every check the profile calls for, the site's pins and mounts among them.
    planned = [name for name, _ in planned_checks(expected, Observations({}))]
    assert {"driver_version", "dcgm_diag", "scratch", "bedrock_dns", "bedrock_https"} <= set(planned)
    assert [p for p in planned if p.startswith("shared:")] == [f"shared:{m.name}" for m in f.storage.shared]
    # Without stack outputs the endpoint is unknown: its checks are planned and come back skipped.
    assert build_inventory(f).groups["nodes"].vars["acceptance_expected"]["bedrock_endpoint"] == ""


def test_hgx_and_trainium_role_variables_are_x86_64_from_the_vendors_or_the_mirror(tmp_path):
    def public(data):  # a connected site: no mirrors, the vendors' own repositories
        data["software"]["mirrors"] = {}
    lab = build_inventory(load_spec(copy_site(tmp_path, "lab-b200", public))).groups["nodes"].vars
    assert (lab["nvidia_gpu_repo_arch"], lab["nvidia_gpu_apt_arch"]) == ("x86_64", "amd64")
    assert (lab["rdma_fabric_doca_ofed"], lab["rdma_fabric_doca_arch"]) == ("3.1.0", "x86_64")
    assert lab["nvidia_gpu_repo_url"] == "https://developer.download.nvidia.com/compute/cuda/repos"
    assert (lab["nvidia_gpu_fabric"], lab["os_baseline_air_gapped"]) == ("fabric-manager", False)
    f = load_spec(site_dir("ohio-trn3"))
    trn = build_inventory(f).groups["nodes"].vars
    assert (trn["neuron_release"], trn["neuron_apt_arch"]) == (f.software.neuron.release, "amd64")
    assert trn["neuron_repo_url"] == trn["neuron_efa_installer_url"] == f.software.mirrors.neuron
    assert not any(k.startswith("nvidia_gpu_") for k in trn)


def test_each_rack_group_names_its_rack_and_each_nvl72_rack_is_its_own_imex_domain():
    f = load_spec(site_dir("paris-gb200"))
    inv = build_inventory(f)
    racks = inv.groups["nodes"].children
    assert [inv.groups[r].vars for r in racks] == [{"acceptance_rack": r, "nvidia_gpu_imex_group": r} for r in racks]
    hgx = build_inventory(load_spec(site_dir("lab-b200")))
    # NVLink domain = one server: no IMEX peers.
    hgx_racks = hgx.groups["nodes"].children
    assert [hgx.groups[r].vars for r in hgx_racks] == [{"acceptance_rack": r} for r in hgx_racks]


def test_an_inventory_level_capability_feeds_each_role_variable_of_that_host_only():
    f = load_spec(site_dir("lab-b200"))
    container, machine = f.nodes[0].name, f.nodes[1].name
    inv = build_inventory(f, host_overrides={container: {"aifactory_kernel_modules": False, "neuron_kernel_modules": True},
                                             machine: {"aifactory_accelerator_install_needs_pci": True}})
    fed = {k: v for k, v in inv.hostvars[container].items() if k.endswith("_kernel_modules")}
    # A role's own variable set beside it wins.
    assert fed == {"aifactory_kernel_modules": False, "neuron_kernel_modules": True,
                   **{r: False for r in HOST_CAPABILITIES["aifactory_kernel_modules"] if r != "neuron_kernel_modules"}}
    assert not any(k.endswith("_kernel_modules") for k in inv.hostvars[machine])
    assert inv.hostvars[machine]["nvidia_gpu_install_needs_pci"] is True


@pytest.mark.parametrize("switch, told", [
    ("aifactory_stand_in", ["aifactory_kernel_modules", "aifactory_dedicated_resources", "os_baseline_apply_sysctl"]),
    ("nvidia_gpu_stand_in", ["nvidia_gpu_install_needs_pci", "nvidia_gpu_kernel_modules"]),
    ("acceptance_stand_in", ["acceptance_checks_without_kernel"]),
])
def test_an_old_lab_switch_in_host_overrides_is_refused_naming_the_capability_variables(switch, told):
    f = load_spec(site_dir("lab-b200"))
    with pytest.raises(InventoryInputError) as refused:
        build_inventory(f, host_overrides={f.nodes[1].name: {switch: True}, f.nodes[0].name: CONTAINER_CAPABILITIES})
    [problem] = refused.value.problems
    assert problem.path == f"{f.nodes[1].name}.{switch}" and "the lab switch is gone" in problem.message
    assert all(name in problem.message for name in told)
    assert sorted(OLD_STAND_IN_SWITCHES) == sorted(["aifactory_stand_in", *(f"{r}_stand_in" for r in ROLE_CAPABILITIES)])


def test_every_role_variable_the_inventory_sets_is_a_documented_option_of_that_role():
    """A variable no role reads (a typo, a renamed option) is caught here, not on a rack."""
    options = {}
    for spec in ROLES.glob("*/meta/argument_specs.yml"):
        options[spec.parent.parent.name] = yaml.safe_load(spec.read_text())["argument_specs"]["main"]["options"]
    emitted = {}
    for site in ("paris-gb200", "ohio-trn3", "lab-b200"):
        f = load_spec(site_dir(site))
        inv = build_inventory(f, host_overrides={f.nodes[0].name: CONTAINER_CAPABILITIES})
        emitted |= inv.groups["nodes"].vars | inv.groups["rack01"].vars | inv.hostvars[f.nodes[0].name]
    role_of = {name: next((r for r in options if name.startswith(f"{r}_")), None) for name in emitted
               if not name.startswith(("aifactory_", "ansible_"))}
    assert [name for name, role in role_of.items() if role is None or name not in options[role]] == []
    kinds = {"str": str, "bool": bool, "int": int, "list": list, "dict": dict, "raw": object}
    wrong = [name for name, role in role_of.items() if not isinstance(emitted[name], kinds[options[role][name]["type"]])]
    assert wrong == []


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
    with pytest.raises(InventoryInputError, match="host overrides: no such file"):
        load_host_overrides(tmp_path / "missing.json")


# --- through Ansible -------------------------------------------------------------------------------

def test_ansible_inventory_lists_the_paris_factory(tmp_path):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(STACK_OUTPUTS))
    overrides = tmp_path / "overrides.json"
    f = load_spec(site_dir("paris-gb200"))
    last, bmc_host = f.nodes[-1], f"{f.nodes[0].name}-bmc"
    overrides.write_text(json.dumps({bmc_host: {"bmc_endpoint": "https://127.0.0.1:8001"},
                                     last.name: {"aifactory_kernel_modules": False}}))
    result = ansible_inventory(site_dir("paris-gb200") / "aifactory.yml", "--list",
                               env={"AIFACTORY_STACK_OUTPUTS": str(outputs), "AIFACTORY_HOST_OVERRIDES": str(overrides)})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["nodes"]["children"] == ["rack01", "rack02", "rack03", "rack04"]
    nodes = [h for r in data["nodes"]["children"] for h in data[r]["hosts"]]
    assert len(nodes) == 72
    hostvars = plain(data["_meta"]["hostvars"])
    node = hostvars[last.name]
    assert node["ansible_host"] == last.address
    assert node["aws_node_identity_outputs"]["trust_anchor_arn"] == STACK_OUTPUTS["trust_anchor_arn"]
    assert (node["nvidia_gpu_repo_arch"], node["nvidia_gpu_imex_group"]) == ("sbsa", last.rack_group)
    assert node["nvidia_gpu_kernel_modules"] is False and "nvidia_gpu_kernel_modules" not in hostvars[f.nodes[0].name]
    bmc = hostvars[bmc_host]
    assert (bmc["ansible_connection"], bmc["aifactory_bmc_kind"]) == ("local", "compute")
    assert bmc["bmc_endpoint"] == "https://127.0.0.1:8001"
    assert hostvars[f"{f.switch_trays[0].name}-bmc"]["aifactory_bmc_kind"] == "switch-tray"
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


def test_a_hundred_racks_list_with_group_vars_once(tmp_path):
    """100 GB200 racks (1,800 trays, 2,700 BMCs: the factory the scale plans for). The cost at up to 1,024 racks
    is measured in the bench (bench/RESULTS.md, inventory cost), not here."""
    def grow(data):
        data["compute"]["racks"] = 100
        data["facility"]["power_budget_kw"] = 20000
        data["network"].update(onprem_cidr="10.0.0.0/12", bmc_cidr="10.0.0.0/16", host_cidr="10.1.0.0/16",
                               storage_cidr="10.2.0.0/16")
        for share in data["storage"]["shared"]:
            share["source"] = share["source"].replace("10.40.16", "10.2.0")
    site = copy_site(tmp_path, "paris-gb200", grow)
    result = ansible_inventory(site / "aifactory.yml", "--list", "--export")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    racks = data["nodes"]["children"]
    assert len(racks) == 100 and racks[-1] == "rack100"
    assert sum(len(data[r]["hosts"]) for r in racks) == 1800
    assert len(data["node_bmcs"]["hosts"]) == 1800 and len(data["switch_tray_bmcs"]["hosts"]) == 900
    assert len(data["_meta"]["hostvars"]) == 4500 + 1  # and the scheduler's head node
    # Role vars live once on the nodes group, not copied into 4,500 hosts.
    last = load_spec(site).nodes[-1].name
    assert "acceptance_expected" in data["nodes"]["vars"] and "nvidia_gpu_repo_arch" in data["nodes"]["vars"]
    assert not [k for k in data["_meta"]["hostvars"][last] if not k.startswith(("aifactory_", "ansible_"))]
