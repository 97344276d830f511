"""`aifactory lab up`: every stand-in of lab-b200 runs and answers like the part it stands in for."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import pytest

from aifactory.lab import cgroups, lifecycle, mirror, procs
from aifactory.lab.rehearsal import rehearse
from aifactory.lab.state import LabState
from tests.scenarios.conftest import node_ssh

pytestmark = pytest.mark.lab


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10, context=procs.LAB_TLS) as resp:
        return json.load(resp)


def test_every_node_boots_and_answers_ssh_as_itself(lab):
    f, state = lab
    for n in f.nodes:
        out = node_ssh(state, n.address, "hostname; systemctl is-system-running --wait; systemd-detect-virt; python3 -V")
        assert out.returncode == 0, out.stderr
        hostname, system_state, virt, python = out.stdout.split("\n")[:4]
        assert (hostname, system_state, virt) == (n.name, "running", "systemd-nspawn")
        assert python.startswith("Python 3.")


def test_node_cpu_is_accounted_to_the_node_alone(lab):
    """The bench reads node-side CPU from each node's cgroup: work on one node shows only there."""
    f, state = lab
    busy, idle = (cgroups.relative_path(f.name, n.name) for n in f.nodes[:2])
    before = {rel: cgroups.cpu_seconds(rel) for rel in (busy, idle)}
    node_ssh(state, f.nodes[0].address, "python3 -c 'sum(range(10**8))'")
    used = {rel: cgroups.cpu_seconds(rel) - before[rel] for rel in (busy, idle)}
    assert used[busy] > 0.3 and used[idle] < used[busy] / 3


def test_nodes_have_distinct_identities(lab):
    f, state = lab
    ids = {node_ssh(state, n.address, "cat /etc/machine-id").stdout.strip() for n in f.nodes}
    assert len(ids) == len(f.nodes)


def test_nodes_reach_each_other_but_have_no_route_out(lab):
    f, state = lab
    first, second = f.nodes[0], f.nodes[1]
    routes = node_ssh(state, first.address, "ip -4 route").stdout
    assert "default" not in routes
    probe = f"timeout 3 bash -c '</dev/tcp/{second.address}/22' && echo open"
    assert node_ssh(state, first.address, probe).stdout.strip() == "open"


def test_bmc_stand_in_serves_one_system_per_node_and_firmware_inventory(lab):
    f, state = lab
    bmc = state.endpoints["bmc"]
    overrides = json.loads((state.dir / lifecycle.OVERRIDES_FILE).read_text())
    systems = {m["@odata.id"].rsplit("/", 1)[1] for m in get_json(f"{bmc}/redfish/v1/Systems")["Members"]}
    assert systems == {overrides[f"{n.name}-bmc"]["bmc_system_id"] for n in f.nodes}
    one = get_json(f"{bmc}/redfish/v1/Systems/{overrides[f.nodes[0].name + '-bmc']['bmc_system_id']}")
    assert one["Name"] == f.nodes[0].name and one["PowerState"] == "Off"  # a rack fresh from its installer: the racks stage powers it on
    inventory = get_json(f"{bmc}/redfish/v1/UpdateService/FirmwareInventory")
    bios = get_json(f"{bmc}/redfish/v1/UpdateService/FirmwareInventory/BIOS")
    assert inventory["Members@odata.count"] == len(inventory["Members"]) > 0
    assert bios["Id"] == "BIOS" and bios["Version"]


def test_lab_ssh_runs_a_command_on_a_node_from_any_directory(lab, tmp_path):
    f, _ = lab
    node = f.nodes[1].name
    run = lambda *args: subprocess.run([sys.executable, "-m", "aifactory.cli", "lab", "ssh", *args],  # noqa: E731
                                       cwd=tmp_path, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    done = run(f.name, node, "hostname")
    assert (done.returncode, done.stdout.strip()) == (0, node), done.stderr
    assert run(f.name, node, "exit", "7").returncode == 7  # the remote command's status
    stranger = run(f.name, f"{f.name}-r009-n01", "true")
    assert stranger.returncode == 2 and "is no node of the lab-b200 lab" in stranger.stderr


def test_aws_stand_in_is_moto(lab):
    _, state = lab
    ec2 = boto3.client("ec2", endpoint_url=state.endpoints["aws"], region_name="eu-central-1",
                       aws_access_key_id="lab", aws_secret_access_key="lab")
    vpc = ec2.create_vpc(CidrBlock="10.177.0.0/24")["Vpc"]["VpcId"]
    assert vpc in {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}


def test_host_overrides_point_every_inventory_host_at_the_lab(lab):
    f, state = lab
    overrides = json.loads((state.dir / lifecycle.OVERRIDES_FILE).read_text())
    assert set(overrides) == ({n.name for n in f.nodes} | {f"{n.name}-bmc" for n in f.nodes}
                              | {h.name for h in f.head_nodes})
    node = overrides[f.nodes[0].name]
    assert node["ansible_host"] == f.nodes[0].address and node["ansible_user"] == "root"
    assert f"UserKnownHostsFile={state.dir}/ssh/known_hosts" in node["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in node["ansible_ssh_common_args"]
    # Each BMC host has its own endpoint, serving its own system only (aifactory.lab.redfish).
    assert overrides[f.nodes[0].name + "-bmc"]["bmc_endpoint"] == state.endpoints["bmc_systems"][f.nodes[0].name]
    assert {k: node[k] for k in lifecycle.CONTAINER_CAPABILITIES} == lifecycle.CONTAINER_CAPABILITIES


def test_scratch_disk_is_a_usable_block_device_inside_the_node(lab):
    f, state = lab
    disk = state.nodes[f.nodes[0].name]["disks"][0]
    out = node_ssh(state, f.nodes[0].address, f"test -b {disk} && blkid -p {disk}; echo rc=$?")
    assert out.stdout.strip().endswith("rc=2")  # blkid: a block device that holds no filesystem yet


def test_node_reboot_brings_it_back(lab):
    f, state = lab
    n = f.nodes[2]
    boots = lambda: len(node_ssh(state, n.address, "journalctl --list-boots --no-pager -q").stdout.splitlines())  # noqa: E731
    before = boots()
    node_ssh(state, n.address, "systemctl --no-block reboot")
    assert procs.wait_until(lambda: node_ssh(state, n.address, "true").returncode == 0 and boots() == before + 1, 120, 1)
    assert procs.alive(LabState.load(f.name).nodes[n.name]["process"])


def test_a_node_powered_off_and_on_again_starts_every_service(lab):
    # A fresh boot: the killed container's cgroups would otherwise make its services die as they start.
    f, state = lab
    n = f.nodes[1]
    lifecycle.stop_node(f.name, n.name)
    assert node_ssh(state, n.address, "true").returncode != 0
    lifecycle.start_node(f.name, n.name)
    assert procs.wait_until(lambda: node_ssh(state, n.address, "systemctl is-system-running").stdout.strip()
                            not in ("initializing", "starting"), 120, 1)
    failed = node_ssh(state, n.address, "systemctl --failed --no-legend --plain").stdout.split()
    assert failed == [], failed


def test_a_second_lab_for_the_same_site_is_refused(lab):
    f, _ = lab
    with pytest.raises(lifecycle.LabError, match="already up"):
        lifecycle.up(f, progress=lambda line: None)


def test_rehearse_refuses_a_site_whose_lab_is_up_and_leaves_that_lab_alone(lab):
    f, state = lab
    report = rehearse(f, str(f.site_dir), progress=lambda line: None)
    outcomes = [(s.name, s.outcome) for s in report.stages]
    assert outcomes == [("lab up", "failed"), ("lab down", "skipped")]
    assert "already up" in report.stages[0].detail
    assert LabState.load(f.name) is not None
    assert all(procs.alive(n["process"]) for n in LabState.load(f.name).nodes.values())


def test_the_mirror_bundle_is_verified_by_its_keyring_and_installs_what_nodes_lack(lab):
    """A node updates from the lab's mirror bundle with its signatures checked against the bundle's keyring (no
    trusted=yes; Debian's keyring does not do), and the packages the roles install come from it; the node still has
    no route anywhere else."""
    f, state = lab
    node = f.nodes[0]
    assert node_ssh(state, node.address, "dpkg -s chrony").returncode != 0  # the base lacks it
    keyring = Path(state.endpoints["bundle_dir"]) / "site" / "mirror-key.gpg"
    shutil.copyfile(keyring, Path(state.nodes[node.name]["root"]) / "etc/apt/lab-bundle.gpg")
    source = f"deb [signed-by=/etc/apt/lab-bundle.gpg] {state.endpoints['apt']} {mirror.SUITE} main"
    out = node_ssh(state, node.address, f"echo '{source}' > /etc/apt/sources.list && apt-get update 2>&1"
                                         " && apt-get install -y --no-install-recommends chrony 2>&1 && dpkg -s chrony")
    assert out.returncode == 0, out.stdout[-2000:]
    assert "Status: install ok installed" in out.stdout
    # apt's messages for a signature it cannot check: gpgv's (NO_PUBKEY) and, from Debian 13's apt 3, sqv's.
    unverified = ("NO_PUBKEY", "not signed", "Missing key", "signature verification failed")
    assert not any(m in out.stdout for m in unverified), out.stdout[-2000:]
    debian = node_ssh(state, node.address,
                      f"echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {state.endpoints['apt']} "
                      f"{mirror.SUITE} main' > /etc/apt/sources.list && apt-get update --error-on=any 2>&1")
    assert debian.returncode != 0 and any(m in debian.stdout for m in unverified), debian.stdout
    tampered = node_ssh(state, node.address,
                        f"echo 'deb [signed-by=/dev/null] {state.endpoints['apt']} {mirror.SUITE} main' > /etc/apt/sources.list"
                        " && apt-get update --error-on=any 2>&1")
    assert tampered.returncode != 0 and any(m in tampered.stdout for m in unverified), tampered.stdout
