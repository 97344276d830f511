"""The Slurm configuration generated from the spec and the catalog (aifactory.scheduler), and the head
nodes' stable names and addresses (docs/addressing.md)."""

from __future__ import annotations

import ipaddress
import re
import shutil

import pytest
import yaml

from aifactory import scheduler
from aifactory.node.inventory import build_inventory
from aifactory.lab.lifecycle import CONTAINER_CAPABILITIES
from aifactory.lab.mirror import node_installs
from aifactory.spec import load_spec
from aifactory.spec.model import RESERVED_LEADING_ADDRESSES
from tests.conftest import REPO, SITES, site_dir


def spec(site: str):
    return load_spec(site_dir(site) / "factory.yaml")


def grown(tmp_path, site: str, **changes):
    """A copy of an example site with `compute` and `scheduler` fields changed."""
    data = yaml.safe_load((site_dir(site) / "factory.yaml").read_text())
    data["compute"].update(changes.pop("compute", {}))
    data["scheduler"] = changes.pop("scheduler", {})
    if data["scheduler"].get("kind") == "none":  # no head nodes to run Prometheus on
        data.get("monitoring", {})["enabled"] = False
    data["facility"]["power_budget_kw"] = 10**6
    target = tmp_path / site
    target.mkdir(parents=True)
    shutil.copytree(site_dir(site) / "pki", target / "pki")
    (target / "factory.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return load_spec(target)


def conf_lines(text: str, key: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"{key}=")]


def test_hostlist_folds_runs_per_prefix_and_width():
    names = [f"f-r001-n{i:02d}" for i in range(1, 19)] + ["f-r002-n01", "f-r002-n03", "f-r002-n04", "head"]
    assert scheduler.hostlist(names) == "f-r001-n[01-18],f-r002-n[01,03-04],head"
    assert scheduler.hostlist(["f-r1000-n01"]) == "f-r1000-n01"


def test_gb200_nodes_cpus_memory_gres_and_the_controller():
    f = spec("paris-gb200")
    conf = scheduler.slurm_conf(f)
    nodes = conf_lines(conf, "NodeName")
    assert len(nodes) == f.node_count
    for node, line in zip(f.nodes, nodes):
        assert line.startswith(f"NodeName={node.name} NodeAddr={node.address} ")
        # 2 Grace x 72 cores, 960 GB less the OS share, 4 GPUs (catalog)
        assert " Sockets=2 CoresPerSocket=72 ThreadsPerCore=1 " in line and " Gres=gpu:4 " in line
        assert int(re.search(r"RealMemory=(\d+)", line)[1]) == int(960e9 / 2**20 * 0.95)
    assert conf_lines(conf, "SlurmctldHost") == ["SlurmctldHost=paris-gb200-head01(10.40.8.5)"]
    for setting in ("SelectType=select/cons_tres", "ProctrackType=proctrack/cgroup", "TaskPlugin=task/cgroup,task/affinity",
                    "TopologyPlugin=topology/block", f"HealthCheckProgram={scheduler.HEALTH_PROGRAM}",
                    f"Prolog={scheduler.HEALTH_PROGRAM}", "GresTypes=gpu",
                    "AccountingStorageType=accounting_storage/slurmdbd", "AccountingStorageHost=10.40.8.5"):
        assert setting in conf.splitlines(), setting
    assert "CgroupPlugin=cgroup/v2" in scheduler.cgroup_conf(f).splitlines()
    assert "NodeName=paris-gb200-r001-n[01-18],paris-gb200-r002-n[01-18],paris-gb200-r003-n[01-18]," \
           "paris-gb200-r004-n[01-18] Name=gpu File=/dev/nvidia[0-3]" in scheduler.gres_conf(f)


def test_nvl72_one_block_per_rack_sized_by_its_trays():
    f = spec("paris-gb200")
    lines = scheduler.topology_conf(f).splitlines()[1:]
    assert lines == [f"BlockName=rack{r:02d} Nodes=paris-gb200-r{r:03d}-n[01-18]" for r in range(1, 5)] + \
        ["BlockSizes=18,36,72"]


def test_trainium_and_hgx_a_tree_by_rack():
    f = spec("ohio-trn3")
    assert scheduler.topology_conf(f).splitlines()[1:] == [
        "SwitchName=rack01 Nodes=ohio-trn3-r001-n[01-36]", "SwitchName=rack02 Nodes=ohio-trn3-r002-n[01-36]",
        "SwitchName=spine Switches=rack[01-02]"]
    assert "TopologyPlugin=topology/tree" in scheduler.slurm_conf(f).splitlines()
    assert scheduler.gres_conf(f).splitlines()[1].endswith("Name=neuron File=/dev/neuron[0-3]")
    assert "TopologyPlugin=topology/tree" in scheduler.slurm_conf(spec("lab-b200")).splitlines()


def test_partitions_default_and_limits(tmp_path):
    f = grown(tmp_path, "paris-gb200", scheduler={"partitions": [
        {"name": "batch", "default": True}, {"name": "rack2", "racks": [2], "max_time_minutes": 60, "max_nodes": 9}]})
    assert conf_lines(scheduler.slurm_conf(f), "PartitionName") == [
        "PartitionName=batch Nodes=paris-gb200-r001-n[01-18],paris-gb200-r002-n[01-18],paris-gb200-r003-n[01-18],"
        "paris-gb200-r004-n[01-18] Default=YES MaxTime=INFINITE MaxNodes=UNLIMITED State=UP",
        "PartitionName=rack2 Nodes=paris-gb200-r002-n[01-18] Default=NO MaxTime=60 MaxNodes=9 State=UP"]


def test_nodes_without_their_own_resources_or_device_files_differ_only_in_figures_tracking_and_gres():
    f = spec("lab-b200")
    real = scheduler.config_files(f)
    lab = scheduler.config_files(f, accelerator_devices=False, dedicated_resources=False)
    shared = scheduler.config_files(f, dedicated_resources=False)
    assert "CgroupPlugin=disabled" in shared["cgroup.conf"] and shared["gres.conf"] == real["gres.conf"]
    assert "Gres=gpu:8" in shared["slurm.conf"] and "RealMemory" not in shared["slurm.conf"]
    no_devices = scheduler.config_files(f, accelerator_devices=False)
    assert no_devices["cgroup.conf"] == real["cgroup.conf"] and "File=" not in no_devices["gres.conf"]
    assert "RealMemory" in no_devices["slurm.conf"] and "Gres" not in no_devices["slurm.conf"]
    assert lab["topology.conf"] == real["topology.conf"]
    assert "CgroupPlugin=disabled" in lab["cgroup.conf"].splitlines() and "Constrain" not in lab["cgroup.conf"]
    assert "File=" not in lab["gres.conf"]
    assert [line.split()[:2] for line in conf_lines(lab["slurm.conf"], "NodeName")] == \
        [line.split()[:2] for line in conf_lines(real["slurm.conf"], "NodeName")]
    assert not re.search(r"RealMemory|Sockets|Gres=", lab["slurm.conf"])
    changed = set(real["slurm.conf"].splitlines()) ^ set(lab["slurm.conf"].splitlines())
    assert {line.split("=")[0] for line in changed} == {"NodeName", "GresTypes", "SelectTypeParameters", "ProctrackType",
                                                        "TaskPlugin", "JobAcctGatherType"}


def test_absent_nodes_are_future_nodes():
    f = spec("lab-gb200")
    absent = [n.name for n in f.nodes if n.slot > 2]
    conf = scheduler.slurm_conf(f, absent=absent)
    states = {line.split()[0].removeprefix("NodeName="): line.split()[-1] for line in conf_lines(conf, "NodeName")}
    assert {n for n, s in states.items() if s == "State=UNKNOWN"} == {n.name for n in f.nodes if n.slot <= 2}
    assert {n for n, s in states.items() if s == "State=FUTURE"} == set(absent)


def test_backup_controller_and_no_accounting(tmp_path):
    f = grown(tmp_path, "paris-gb200", scheduler={"backup_controller": True, "accounting": False,
                                                  "state_dir": "/home/shared/slurm"})
    conf = scheduler.slurm_conf(f)
    assert conf_lines(conf, "SlurmctldHost") == ["SlurmctldHost=paris-gb200-head01(10.40.8.5)",
                                                 "SlurmctldHost=paris-gb200-head02(10.40.8.6)"]
    assert "StateSaveLocation=/home/shared/slurm" in conf.splitlines()
    assert not conf_lines(conf, "AccountingStorageType") and scheduler.slurmdbd_conf(f) == ""


def test_slurmdbd_conf_holds_no_password():
    text = scheduler.slurmdbd_conf(spec("paris-gb200"))
    assert "DbdAddr=10.40.8.5" in text.splitlines() and "StorageLoc=slurm_acct_db" in text.splitlines()
    assert "StoragePass" not in text


@pytest.mark.parametrize("site", SITES)
def test_head_nodes_sit_in_the_reserved_leading_addresses(site):
    f = spec(site)
    first = ipaddress.IPv4Network(f.network.host_cidr).network_address
    for head in f.head_nodes:
        assert first + 4 < ipaddress.IPv4Address(head.address) <= first + RESERVED_LEADING_ADDRESSES
    assert not {h.address for h in f.head_nodes} & {n.address for n in f.nodes}


@pytest.mark.parametrize("site,racks", [("paris-gb200", 37), ("ohio-trn3", 13), ("lab-b200", 15)])
def test_adding_racks_moves_no_head_node(tmp_path, site, racks):
    one = grown(tmp_path / "one", site, compute={"racks": 1})
    many = grown(tmp_path / "many", site, compute={"racks": racks})
    assert many.head_nodes == one.head_nodes and one.head_nodes[0].address.endswith(".5")


def test_inventory_head_nodes_and_the_cluster_group():
    f = spec("paris-gb200")
    inv = build_inventory(f).to_ansible_list()
    assert inv["head_nodes"]["hosts"] == ["paris-gb200-head01"]
    assert inv["slurm_accounting"]["hosts"] == ["paris-gb200-head01"]
    assert inv["_meta"]["hostvars"]["paris-gb200-head01"]["ansible_host"] == "10.40.8.5"
    assert inv["slurm_cluster"]["children"] == ["head_nodes", "nodes"]
    cluster = inv["slurm_cluster"]["vars"]
    assert cluster["slurm_conf_files"] == scheduler.config_files(f)
    assert cluster["os_baseline_hosts_group"] == "slurm_cluster"
    assert not any(k in cluster for k in ("munge_key", "slurmdbd_database_password"))


def test_lab_inventory_gets_the_files_of_what_its_containers_lack_and_future_absent_nodes():
    f = spec("lab-gb200")
    overrides = {n.name: (CONTAINER_CAPABILITIES if n.slot <= 2 else {"aifactory_absent": True}) for n in f.nodes}
    cluster = build_inventory(f, host_overrides=overrides).to_ansible_list()["slurm_cluster"]["vars"]
    absent = [n.name for n in f.nodes if n.slot > 2]
    assert cluster["slurm_conf_files"] == scheduler.config_files(f, absent=absent, accelerator_devices=False,
                                                                 dedicated_resources=False)
    # One host without kernel modules is enough for the cluster's files to have no Gres.
    one = build_inventory(f, host_overrides={f.nodes[0].name: {"aifactory_kernel_modules": False}})
    assert one.to_ansible_list()["slurm_cluster"]["vars"]["slurm_conf_files"] == scheduler.config_files(
        f, accelerator_devices=False)


def role_default(role: str, var: str) -> list[str]:
    return yaml.safe_load((REPO / "playbooks" / "roles" / role / "defaults" / "main.yml").read_text())[var]


def test_the_lab_mirror_carries_the_scheduler_packages_only_when_the_spec_asks(tmp_path):
    roles = {*role_default("munge", "munge_packages"), *role_default("slurm", "slurm_client_packages"),
             *role_default("slurm", "slurm_controller_packages"), *role_default("slurm", "slurm_node_packages")}
    dbd = set(role_default("slurmdbd", "slurmdbd_packages"))
    assert roles | dbd <= set(node_installs(spec("lab-b200")))
    no_accounting = set(node_installs(grown(tmp_path / "a", "lab-b200", scheduler={"accounting": False})))
    assert roles <= no_accounting and not dbd & no_accounting
    assert not (roles | dbd) & set(node_installs(grown(tmp_path / "b", "lab-b200", scheduler={"kind": "none"})))
