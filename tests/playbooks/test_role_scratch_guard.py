"""The scratch guard's decisions: a device with a partition table, a signature, data, the running
system, a mount or a holder is never written unless this host may wipe it (the boot disk, a mount or
a holder never); re-runs see their own filesystem; several empty devices become one md RAID 0 array,
with the exact commands asserted here (md does not exist in this machine's kernel)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

MODULE = Path(__file__).resolve().parents[2] / "playbooks/roles/scratch_storage/library/aifactory_scratch_guard.py"
_spec = importlib.util.spec_from_file_location("aifactory_scratch_guard", MODULE)
guard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(guard)

SETTINGS = {"fstype": "ext4", "label": "aif-scratch", "mount": "/scratch", "md_name": "aif-scratch"}
PLAN = {"fstype": "xfs", "label": "aif-scratch", "mount": "/scratch", "md_name": "aif-scratch", "chunk_kib": 512,
        "kernel_md": True}
MD = "/dev/md/aif-scratch"
MKFS_MD = ["mkfs.xfs", "-L", "aif-scratch", MD]
# An md array's UUID as mdadm writes it, and as blkid/wipefs write the same one.
MD_UUID = "0a1b2c3d:4e5f6071:8293a4b5:c6d7e8f9"
MD_UUID_BLKID = "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"


def device(name="nvme1n1", *, signatures=(), has_data=False, md=None, **node):
    return {
        "path": f"/dev/{name}", "exists": True, "has_data": has_data, "signatures": list(signatures),
        **({"md": md} if md else {}),
        "node": {"name": name, "path": f"/dev/{name}", "type": "disk", "ro": False, "mountpoint": None, **node},
    }


def partition(name, mountpoint=None, children=()):
    return {"name": name, "path": f"/dev/{name}", "type": "part", "mountpoint": mountpoint,
            **({"children": list(children)} if children else {})}


def member(name, md_name="node-r001-n01:aif-scratch", uuid=MD_UUID, devices=4, running=None):
    """A member of an md array; ``running``: the array's lsblk node when it is assembled."""
    return device(name, signatures=[{"type": "linux_raid_member", "label": md_name, "uuid": MD_UUID_BLKID}],
                  has_data=True, md={"MD_LEVEL": "raid0", "MD_DEVICES": str(devices), "MD_NAME": md_name,
                                     "MD_UUID": uuid},
                  **({"children": [running]} if running else {}))


def running_array(signatures=(), has_data=False, md_name="node-r001-n01:aif-scratch"):
    return {"path": "/dev/md127", "signatures": list(signatures), "has_data": has_data,
            "detail": {"MD_LEVEL": "raid0", "MD_DEVICES": "4", "MD_METADATA": "1.2", "MD_UUID": MD_UUID,
                       "MD_NAME": md_name}}


MD_NODE = {"name": "md127", "path": "/dev/md127", "type": "raid0", "mountpoint": "/scratch"}
XFS_OURS = [{"type": "xfs", "label": "aif-scratch", "uuid": "f00"}]


def decide(info, wipe_allowed=False):
    return guard.decide(info, wipe_allowed=wipe_allowed, **SETTINGS)


def plan(infos, arrays=(), wipe=(), **overrides):
    return guard.plan(infos, arrays=list(arrays), wipe_devices=set(wipe), **{**PLAN, **overrides})


def empties(n):
    return [device(f"nvme{i}n1") for i in range(1, n + 1)]


# --- one device -----------------------------------------------------------------------------------
def test_empty_device_is_usable():
    assert decide(device()) == {"device": "/dev/nvme1n1", "verdict": "usable", "reasons": ["empty"], "wipe": False,
                                "array": ""}


def test_device_with_a_filesystem_is_refused():
    result = decide(device(signatures=[{"type": "ext4", "label": "data"}]))
    assert result["verdict"] == "refused"
    assert result["reasons"] == ["holds a signature: ext4 (label data)"]


def test_device_with_a_partition_table_and_partitions_is_refused():
    result = decide(device(pttype="gpt", children=[partition("nvme1n1p1")],
                           signatures=[{"type": "gpt", "label": None}]))
    assert result["verdict"] == "refused"
    assert "holds partitions: nvme1n1p1" in result["reasons"]
    assert "holds a partition table (gpt)" in result["reasons"]


def test_device_with_data_but_no_signature_is_refused():
    result = decide(device(has_data=True))
    assert result == {"device": "/dev/nvme1n1", "verdict": "refused",
                      "reasons": ["holds data (non-zero bytes at its start)"], "wipe": False, "array": ""}


def test_wipe_allowed_makes_a_used_device_usable_and_wiped():
    result = decide(device(signatures=[{"type": "xfs", "label": None}], has_data=True), wipe_allowed=True)
    assert result["verdict"] == "usable"
    assert result["wipe"] is True
    assert result["reasons"] == ["holds a signature: xfs; wiping allowed for this host"]


@pytest.mark.parametrize("mountpoint", ["/", "/boot/efi", "[SWAP]"])
def test_boot_disk_is_refused_even_when_wiping_is_allowed(mountpoint):
    info = device(children=[partition("nvme0n1p2", mountpoint)])
    result = decide(info, wipe_allowed=True)
    assert result["verdict"] == "refused"
    assert result["wipe"] is False


def test_boot_disk_under_md_or_lvm_is_refused():
    root_lv = {"name": "vg-root", "type": "lvm", "mountpoint": "/"}
    assert decide(device(children=[partition("nvme0n1p3", children=[root_lv])]), True)["reasons"] == [
        "holds the running system (root, boot or swap)"]
    boot_md = {"name": "md0", "type": "raid1", "mountpoint": "/"}
    assert decide(member("nvme0n1", md_name="any:md0", running=boot_md), True)["verdict"] == "refused"


def test_mounted_device_is_refused_even_when_wiping_is_allowed():
    result = decide(device(mountpoint="/data", signatures=[{"type": "ext4", "label": None}]), wipe_allowed=True)
    assert result == {"device": "/dev/nvme1n1", "verdict": "refused", "reasons": ["mounted at /data"], "wipe": False,
                      "array": ""}


@pytest.mark.parametrize("holder", [{"name": "dm-0", "type": "crypt"}, {"name": "md5", "type": "raid1"}])
def test_device_with_a_holder_is_refused_even_when_wiping_is_allowed(holder):
    result = decide(device(children=[holder]), wipe_allowed=True)
    assert result["verdict"] == "refused"
    assert result["reasons"] == [f"in use by {holder['name']} ({holder['type']})"]


def test_partition_with_a_holder_is_refused_even_when_wiping_is_allowed():
    lvm = {"name": "vg-data", "type": "lvm"}
    result = decide(device(pttype="gpt", children=[partition("nvme1n1p1", children=[lvm])]), wipe_allowed=True)
    assert result["reasons"] == ["in use by vg-data (lvm)"]


def test_read_only_device_is_refused():
    assert decide(device(ro=True))["verdict"] == "refused"


def test_missing_device_is_refused():
    assert decide({"path": "/dev/nvme9n1", "exists": False})["reasons"] == ["not a block device"]


@pytest.mark.parametrize("mountpoint", [None, "/scratch"])
def test_own_scratch_filesystem_is_prepared_so_reruns_change_nothing(mountpoint):
    info = device(signatures=[{"type": "ext4", "label": "aif-scratch"}], has_data=True, mountpoint=mountpoint)
    result = decide(info, wipe_allowed=True)
    assert result["verdict"] == "prepared"
    assert result["wipe"] is False


def test_own_label_with_other_type_is_not_taken_for_ours():
    result = decide(device(signatures=[{"type": "xfs", "label": "aif-scratch"}]))
    assert result["verdict"] == "refused"


def test_own_filesystem_mounted_elsewhere_is_refused():
    result = decide(device(signatures=[{"type": "ext4", "label": "aif-scratch"}], mountpoint="/home"))
    assert result["verdict"] == "refused"


@pytest.mark.parametrize("md_name", ["node-r001-n01:aif-scratch", "aif-scratch"])
def test_member_of_our_array_is_recognised_by_its_md_name(md_name):
    result = decide(member("nvme2n1", md_name=md_name, running=MD_NODE))
    assert result == {"device": "/dev/nvme2n1", "verdict": "member",
                      "reasons": [f"member of this role's md array {md_name}"], "wipe": False, "array": MD_UUID}


def test_member_of_our_array_mounted_elsewhere_is_refused():
    result = decide(member("nvme2n1", running={**MD_NODE, "mountpoint": "/data"}))
    assert result["verdict"] == "refused"
    assert result["reasons"] == ["mounted at /data"]


def test_member_of_a_foreign_array_is_refused_and_running_even_when_wiping_is_allowed():
    stopped = decide(member("nvme2n1", md_name="other:data"))
    assert stopped["verdict"] == "refused"
    assert stopped["reasons"] == ["member of md array other:data (not this role's)"]
    running = decide(member("nvme2n1", md_name="other:data", running={**MD_NODE, "mountpoint": None}), True)
    assert running["reasons"] == ["in use by md127 (raid0)"]
    assert decide(member("nvme2n1", md_name="other:data"), True)["wipe"] is True


def test_auto_takes_nvme_namespaces_except_the_boot_disk_in_natural_order():
    tree = [
        {"name": "nvme0n1", "path": "/dev/nvme0n1", "type": "disk",
         "children": [partition("nvme0n1p1", "/boot/efi"), partition("nvme0n1p2", "/")]},
        {"name": "nvme10n1", "path": "/dev/nvme10n1", "type": "disk"},
        {"name": "nvme2n1", "path": "/dev/nvme2n1", "type": "disk"},
        {"name": "nvme1n1", "path": "/dev/nvme1n1", "type": "disk"},
        {"name": "sda", "path": "/dev/sda", "type": "disk"},
        {"name": "loop0", "path": "/dev/loop0", "type": "loop"},
    ]
    assert guard.auto_candidates(tree) == ["/dev/nvme1n1", "/dev/nvme2n1", "/dev/nvme10n1"]


def test_signatures_come_from_wipefs_then_blkid():
    wipefs = json.dumps({"signatures": [{"device": "loop3", "offset": "0x438", "type": "ext4", "label": "data",
                                         "uuid": "u1"}]})
    assert guard.parse_signatures(wipefs, "") == [{"type": "ext4", "label": "data", "uuid": "u1"}]
    assert guard.parse_signatures('{"signatures": []}', "DEVNAME=/dev/loop4\nPTTYPE=dos\n") == [
        {"type": "dos", "label": None, "uuid": None}]
    assert guard.parse_signatures('{"signatures": []}', "") == []


# --- the devices together: exact commands ---------------------------------------------------------
def test_one_empty_device_gets_the_filesystem_directly():
    result = plan(empties(1))
    assert (result["layout"], result["target"]) == ("device", "/dev/nvme1n1")
    assert result["commands"] == [["mkfs.xfs", "-L", "aif-scratch", "/dev/nvme1n1"]]


def test_two_empty_devices_become_one_raid0_array():
    result = plan(empties(2))
    assert (result["layout"], result["target"]) == ("array", MD)
    assert result["commands"] == [
        ["mdadm", "--create", MD, "--level=0", "--raid-devices=2", "--chunk=512K", "--metadata=1.2",
         "--name=aif-scratch", "/dev/nvme1n1", "/dev/nvme2n1"],
        MKFS_MD,
    ]


def test_four_empty_devices_become_one_raid0_array_with_one_ext4():
    result = plan(empties(4), fstype="ext4", chunk_kib=256)
    assert result["commands"] == [
        ["mdadm", "--create", MD, "--level=0", "--raid-devices=4", "--chunk=256K", "--metadata=1.2",
         "--name=aif-scratch", "/dev/nvme1n1", "/dev/nvme2n1", "/dev/nvme3n1", "/dev/nvme4n1"],
        ["mkfs.ext4", "-L", "aif-scratch", MD],
    ]
    assert result["problem"] == result["skipped"] == ""


def test_only_the_empty_devices_of_a_mix_are_striped():
    infos = [device("nvme1n1", signatures=[{"type": "ext4", "label": "data"}]), device("nvme2n1"),
             device("nvme3n1", has_data=True), device("nvme4n1"), device("nvme5n1")]
    result = plan(infos)
    assert result["commands"][0][-3:] == ["/dev/nvme2n1", "/dev/nvme4n1", "/dev/nvme5n1"]
    assert "--raid-devices=3" in result["commands"][0]
    assert [d["device"] for d in result["devices"] if d["verdict"] == "refused"] == ["/dev/nvme1n1", "/dev/nvme3n1"]


def test_one_empty_device_beside_used_ones_gets_the_filesystem_alone():
    infos = [device("nvme1n1", signatures=[{"type": "xfs", "label": None}]), device("nvme2n1"),
             device("nvme3n1", pttype="gpt", children=[partition("nvme3n1p1")])]
    assert plan(infos)["commands"] == [["mkfs.xfs", "-L", "aif-scratch", "/dev/nvme2n1"]]


def test_devices_with_a_signature_or_a_partition_table_are_never_written():
    infos = [device("nvme1n1", signatures=[{"type": "xfs", "label": "old"}]),
             device("nvme2n1", pttype="gpt", children=[partition("nvme2n1p1")], signatures=[{"type": "gpt"}])]
    result = plan(infos)
    assert result["commands"] == []
    assert (result["layout"], result["skipped"]) == ("none", "no usable device")


def test_wipe_allowed_per_host_wipes_partitions_then_the_disk_then_stripes():
    infos = [device("nvme1n1", pttype="gpt", children=[partition("nvme1n1p1"), partition("nvme1n1p2")],
                    signatures=[{"type": "gpt"}]),
             device("nvme2n1", signatures=[{"type": "xfs", "label": "old"}]), device("nvme3n1"),
             device("nvme4n1", signatures=[{"type": "ext4", "label": "keep"}])]
    result = plan(infos, wipe={"/dev/nvme1n1", "/dev/nvme2n1"})
    assert result["commands"] == [
        ["wipefs", "-a", "/dev/nvme1n1p1"], ["wipefs", "-a", "/dev/nvme1n1p2"], ["wipefs", "-a", "/dev/nvme1n1"],
        ["wipefs", "-a", "/dev/nvme2n1"],
        ["mdadm", "--create", MD, "--level=0", "--raid-devices=3", "--chunk=512K", "--metadata=1.2",
         "--name=aif-scratch", "/dev/nvme1n1", "/dev/nvme2n1", "/dev/nvme3n1"],
        MKFS_MD,
    ]


def test_our_filesystem_on_one_device_is_reused_and_new_empty_devices_left_alone():
    infos = [device("nvme1n1", signatures=XFS_OURS, has_data=True, mountpoint="/scratch"), device("nvme2n1")]
    result = plan(infos)
    assert (result["layout"], result["target"], result["commands"]) == ("device", "/dev/nvme1n1", [])
    assert [d["device"] for d in result["unused"]] == ["/dev/nvme2n1"]


def test_our_running_array_with_its_filesystem_is_reused():
    infos = [member(f"nvme{i}n1", running=MD_NODE) for i in range(1, 5)] + [device("nvme5n1")]
    result = plan(infos, arrays=[running_array(signatures=XFS_OURS, has_data=True)])
    assert (result["layout"], result["target"], result["commands"]) == ("array", "/dev/md127", [])
    assert result["array"] == {"device": MD, "uuid": MD_UUID, "name": "node-r001-n01:aif-scratch",
                               "conf_line": f"ARRAY {MD} metadata=1.2 name=node-r001-n01:aif-scratch UUID={MD_UUID}"}
    assert [d["device"] for d in result["unused"]] == ["/dev/nvme5n1"]


def test_our_running_array_without_a_filesystem_gets_one():
    infos = [member(f"nvme{i}n1", running=MD_NODE) for i in range(1, 5)]
    result = plan(infos, arrays=[running_array()])
    assert result["commands"] == [["mkfs.xfs", "-L", "aif-scratch", "/dev/md127"]]


def test_our_running_array_holding_something_else_is_not_touched():
    infos = [member(f"nvme{i}n1", running=MD_NODE) for i in range(1, 5)]
    result = plan(infos, arrays=[running_array(signatures=[{"type": "ext4", "label": "data"}])])
    assert result["commands"] == []
    assert result["problem"] == ("md array aif-scratch (/dev/md127) holds ext4 (label data), not the scratch "
                                 "filesystem; not touched")


@pytest.mark.parametrize(("level", "said"), [(None, "inactive"), ("raid1", "level raid1")])
def test_our_array_not_running_as_raid0_is_not_touched(level, said):
    array = running_array()
    array["detail"].pop("MD_LEVEL")
    array["detail"].update({"MD_LEVEL": level} if level else {})
    result = plan([member(f"nvme{i}n1", running=MD_NODE) for i in range(1, 5)], arrays=[array])
    assert result["commands"] == []
    assert result["problem"] == f"md array aif-scratch (/dev/md127) does not run as RAID 0 ({said}); not touched"


def test_our_stopped_array_is_assembled_not_recreated():
    infos = [member(f"nvme{i}n1") for i in range(1, 5)]
    result = plan(infos)
    assert result["commands"] == [["mdadm", "--assemble", MD, f"--uuid={MD_UUID}", "/dev/nvme1n1", "/dev/nvme2n1",
                                   "/dev/nvme3n1", "/dev/nvme4n1"]]
    assert result["reinspect"] is True


def test_our_incomplete_array_is_neither_assembled_nor_recreated():
    infos = [member(f"nvme{i}n1") for i in range(1, 4)] + [device("nvme4n1")]
    result = plan(infos, wipe={"/dev/nvme4n1"})
    assert result["commands"] == []
    assert "3 of its 4 devices present" in result["problem"]


def test_devices_of_two_arrays_of_ours_are_not_touched():
    infos = [member("nvme1n1", devices=2), member("nvme2n1", uuid="ffffffff:ffffffff:ffffffff:ffffffff", devices=2)]
    result = plan(infos)
    assert result["commands"] == []
    assert result["problem"].startswith("the devices belong to 2 different md arrays named aif-scratch")


def test_a_foreign_array_is_refused_and_only_the_empty_devices_are_used():
    foreign = {**MD_NODE, "name": "md126", "path": "/dev/md126", "mountpoint": "/data"}
    infos = [member("nvme1n1", md_name="other:data", running=foreign),
             member("nvme2n1", md_name="other:data", running=foreign), device("nvme3n1"), device("nvme4n1")]
    result = plan(infos, wipe={"/dev/nvme1n1", "/dev/nvme2n1"})
    assert [d["verdict"] for d in result["devices"]] == ["refused", "refused", "usable", "usable"]
    assert result["commands"][0][-2:] == ["/dev/nvme3n1", "/dev/nvme4n1"]
    assert not any(argv[0] == "wipefs" for argv in result["commands"])


def test_several_usable_devices_on_a_kernel_without_md_are_skipped_not_striped():
    result = plan(empties(2), kernel_md=False)
    assert result["commands"] == []
    assert result["skipped"] == ("2 usable devices (/dev/nvme1n1, /dev/nvme2n1) need an md RAID 0 array, and this "
                                 "host's kernel runs none (kernel_md is false)")
    assert plan(empties(1), kernel_md=False)["commands"] == [["mkfs.xfs", "-L", "aif-scratch", "/dev/nvme1n1"]]


# --- converging a node: the plan run, re-run and after a reboot -----------------------------------
class FakeNode:
    """A node's block devices as the guard's Inspector sees them; the planned commands change them
    the way mdadm, mkfs and wipefs would."""

    def __init__(self, disks: dict[str, list[dict]]):
        self.signatures = {f"/dev/{name}": list(sigs) for name, sigs in disks.items()}
        self.data = {path: bool(sigs) for path, sigs in self.signatures.items()}
        self.array: dict | None = None  # {"members", "running", "md"}
        self.executed: list[list[str]] = []

    def _node(self, path: str) -> dict:
        node = {"name": path.rsplit("/", 1)[-1], "path": path, "type": "disk", "ro": False, "mountpoint": None}
        if self.array and self.array["running"] and path in self.array["members"]:
            node["children"] = [{"name": "md127", "path": "/dev/md127", "type": "raid0", "mountpoint": None}]
        return node

    def tree(self, path=None):
        return [self._node(p) for p in self.signatures]

    def inspect(self, path):
        info = {"path": path, "exists": path in self.signatures, "node": self._node(path),
                "signatures": self.signatures[path], "has_data": self.data[path]}
        if self.array and path in self.array["members"]:
            info["md"] = self.array["md"]
        return info

    def inspect_array(self, path):
        assert self.array and self.array["running"] and path in ("/dev/md127", MD)
        return {"path": "/dev/md127", "detail": {**self.array["md"], "MD_METADATA": "1.2"},
                "signatures": self.signatures.get("/dev/md127", []), "has_data": "/dev/md127" in self.signatures}

    def filesystem_uuid(self, path):
        return {"/dev/md/aif-scratch": "fs-md", "/dev/md127": "fs-md"}.get(path, f"fs-{path}")

    def execute(self, argv):
        self.executed.append(argv)
        if argv[:2] == ["mdadm", "--create"]:
            members = [a for a in argv[2:] if a.startswith("/dev/nvme")]
            self.array = {"members": members, "running": True,
                          "md": {"MD_LEVEL": "raid0", "MD_UUID": MD_UUID, "MD_NAME": "node:aif-scratch",
                                 "MD_DEVICES": str(len(members))}}
            for m in members:
                self.signatures[m] = [{"type": "linux_raid_member", "label": "node:aif-scratch", "uuid": MD_UUID_BLKID}]
                self.data[m] = True
        elif argv[:2] == ["mdadm", "--assemble"]:
            assert argv[3] == f"--uuid={MD_UUID}" and argv[4:] == self.array["members"]
            self.array["running"] = True
        elif argv[0].startswith("mkfs."):
            device = "/dev/md127" if argv[-1] in (MD, "/dev/md127") else argv[-1]
            self.signatures[device] = [{"type": argv[0].split(".")[1], "label": argv[2]}]
            self.data[device] = True
        elif argv[0] == "wipefs":
            self.signatures[argv[-1]] = []

    def reboot(self):
        """md arrays stop; nothing assembles them (as without mdadm.conf in the initramfs)."""
        self.array["running"] = False
        self.signatures.pop("/dev/md127", None)  # the array's device is gone until assembled


def converge(node, check_mode=False, **params):
    base = {"devices": "auto", "wipe_devices": [], **PLAN}
    return guard.converge(node, {**base, **params}, check_mode)


def test_four_empty_nvme_converge_to_one_array_and_a_rerun_changes_nothing():
    node = FakeNode({f"nvme{i}n1": [] for i in range(1, 5)})
    first = converge(node)
    assert first["changed"] is True
    assert [argv[:2] for argv in first["commands"]] == [["mdadm", "--create"], ["mkfs.xfs", "-L"]]
    assert first["filesystem_uuid"] == "fs-md"
    assert first["array"]["conf_line"] == f"ARRAY {MD} metadata=1.2 name=node:aif-scratch UUID={MD_UUID}"

    again = converge(node)
    assert (again["changed"], again["commands"], again["target"]) == (False, [], "/dev/md127")
    assert again["array"] == first["array"]
    assert len(node.executed) == 2


def test_after_a_reboot_the_array_is_assembled_not_recreated():
    node = FakeNode({f"nvme{i}n1": [] for i in range(1, 5)})
    converge(node)
    node.reboot()
    node.signatures["/dev/md127"] = XFS_OURS  # the filesystem is on the members, back once assembled
    result = converge(node)
    assert result["commands"] == [["mdadm", "--assemble", MD, f"--uuid={MD_UUID}", "/dev/nvme1n1", "/dev/nvme2n1",
                                   "/dev/nvme3n1", "/dev/nvme4n1"]]
    assert result["filesystem_uuid"] == "fs-md"
    assert converge(node)["changed"] is False


def test_an_assembly_that_does_not_run_fails_instead_of_looping():
    node = FakeNode({f"nvme{i}n1": [] for i in range(1, 3)})
    converge(node)
    node.reboot()
    node.execute = lambda argv: node.executed.append(argv)  # mdadm exits 0, the array stays stopped
    result = converge(node)
    assert result["problem"] == "md array aif-scratch was assembled but does not run; nothing more touched"
    assert [argv[1] for argv in node.executed[2:]] == ["--assemble"]


def test_check_mode_reports_the_commands_and_runs_none():
    node = FakeNode({"nvme1n1": [], "nvme2n1": []})
    result = converge(node, check_mode=True)
    assert result["changed"] is True
    assert [argv[:2] for argv in result["commands"]] == [["mdadm", "--create"], ["mkfs.xfs", "-L"]]
    assert node.executed == []
    assert result["filesystem_uuid"] == ""


def test_listed_device_with_data_is_left_alone_and_the_empty_one_used():
    node = FakeNode({"nvme1n1": [{"type": "ext4", "label": "data"}], "nvme2n1": []})
    result = converge(node, devices=["/dev/nvme1n1", "/dev/nvme2n1"])
    assert node.executed == [["mkfs.xfs", "-L", "aif-scratch", "/dev/nvme2n1"]]
    assert node.signatures["/dev/nvme1n1"] == [{"type": "ext4", "label": "data"}]
    assert (result["layout"], result["filesystem_uuid"]) == ("device", "fs-/dev/nvme2n1")
    assert converge(node, devices=["/dev/nvme1n1", "/dev/nvme2n1"])["changed"] is False


# --- the module as Ansible runs it ----------------------------------------------------------------
def run_module(tmp_path, **args):
    params = {"devices": [str(tmp_path / "not-a-disk")], "fstype": "xfs", "label": "aif-scratch", "mount": "/scratch",
              "md_name": "aif-scratch", **args}
    (tmp_path / "not-a-disk").write_bytes(b"")
    (tmp_path / "args.json").write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    done = subprocess.run([sys.executable, str(MODULE), str(tmp_path / "args.json")], capture_output=True, text=True,
                          timeout=60)
    return json.loads(done.stdout)


def test_module_refuses_what_is_not_a_block_device_and_makes_nothing(tmp_path):
    result = run_module(tmp_path)
    assert result["changed"] is False
    assert [(d["verdict"], d["reasons"]) for d in result["refused"]] == [("refused", ["not a block device"])]
    assert (result["layout"], result["skipped"], result["filesystem_uuid"]) == ("none", "no usable device", "")


@pytest.mark.parametrize(("fstype", "label"), [("xfs", "thirteen-long"), ("ext4", "seventeen-chars-x")])
def test_module_fails_on_a_label_mkfs_would_refuse(tmp_path, fstype, label):
    result = run_module(tmp_path, fstype=fstype, label=label)
    assert result["failed"] is True
    assert f"longer than {fstype} allows" in result["msg"]
