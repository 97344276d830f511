"""The scratch guard's decisions: a device with a partition table, a signature, data, the running
system or a mount is never formatted unless this host may wipe it; re-runs see their own filesystem."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

MODULE = Path(__file__).resolve().parents[2] / "playbooks/roles/scratch_storage/library/aifactory_scratch_guard.py"
_spec = importlib.util.spec_from_file_location("aifactory_scratch_guard", MODULE)
guard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(guard)

SETTINGS = {"fstype": "ext4", "label": "aif-scratch", "mount": "/scratch"}


def device(name="nvme1n1", *, signatures=(), has_data=False, **node):
    return {
        "path": f"/dev/{name}", "exists": True, "has_data": has_data, "signatures": list(signatures),
        "node": {"name": name, "type": "disk", "ro": False, "mountpoint": None, **node},
    }


def decide(info, wipe_allowed=False):
    return guard.decide(info, wipe_allowed=wipe_allowed, **SETTINGS)


def test_empty_device_is_usable():
    assert decide(device()) == {"device": "/dev/nvme1n1", "verdict": "usable", "reasons": ["empty"], "wipe": False}


def test_device_with_a_filesystem_is_refused():
    result = decide(device(signatures=[{"type": "ext4", "label": "data"}]))
    assert result["verdict"] == "refused"
    assert result["reasons"] == ["holds a signature: ext4 (label data)"]


def test_device_with_a_partition_table_and_partitions_is_refused():
    result = decide(device(pttype="gpt", children=[{"name": "nvme1n1p1", "mountpoint": None}],
                           signatures=[{"type": "gpt", "label": None}]))
    assert result["verdict"] == "refused"
    assert "holds partitions: nvme1n1p1" in result["reasons"]
    assert "holds a partition table (gpt)" in result["reasons"]


def test_device_with_data_but_no_signature_is_refused():
    result = decide(device(has_data=True))
    assert result == {"device": "/dev/nvme1n1", "verdict": "refused",
                      "reasons": ["holds data (non-zero bytes at its start)"], "wipe": False}


def test_wipe_allowed_makes_a_used_device_usable_and_wiped():
    result = decide(device(signatures=[{"type": "xfs", "label": None}], has_data=True), wipe_allowed=True)
    assert result["verdict"] == "usable"
    assert result["wipe"] is True
    assert result["reasons"] == ["holds a signature: xfs; wiping allowed for this host"]


@pytest.mark.parametrize("mountpoint", ["/", "/boot/efi", "[SWAP]"])
def test_boot_disk_is_refused_even_when_wiping_is_allowed(mountpoint):
    info = device(children=[{"name": "nvme0n1p2", "mountpoint": mountpoint}])
    result = decide(info, wipe_allowed=True)
    assert result["verdict"] == "refused"
    assert result["wipe"] is False


def test_mounted_device_is_refused_even_when_wiping_is_allowed():
    result = decide(device(mountpoint="/data", signatures=[{"type": "ext4", "label": None}]), wipe_allowed=True)
    assert result == {"device": "/dev/nvme1n1", "verdict": "refused", "reasons": ["mounted at /data"], "wipe": False}


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


def test_auto_takes_nvme_namespaces_except_the_boot_disk():
    tree = [
        {"name": "nvme0n1", "path": "/dev/nvme0n1", "type": "disk",
         "children": [{"name": "nvme0n1p1", "mountpoint": "/boot/efi"}, {"name": "nvme0n1p2", "mountpoint": "/"}]},
        {"name": "nvme1n1", "path": "/dev/nvme1n1", "type": "disk"},
        {"name": "nvme2n1", "path": "/dev/nvme2n1", "type": "disk"},
        {"name": "sda", "path": "/dev/sda", "type": "disk"},
        {"name": "loop0", "path": "/dev/loop0", "type": "loop"},
    ]
    assert guard.auto_candidates(tree) == ["/dev/nvme1n1", "/dev/nvme2n1"]


def test_signatures_come_from_wipefs_then_blkid():
    wipefs = json.dumps({"signatures": [{"device": "loop3", "offset": "0x438", "type": "ext4", "label": "data"}]})
    assert guard.parse_signatures(wipefs, "") == [{"type": "ext4", "label": "data"}]
    assert guard.parse_signatures('{"signatures": []}', "DEVNAME=/dev/loop4\nPTTYPE=dos\n") == [
        {"type": "dos", "label": None}]
    assert guard.parse_signatures('{"signatures": []}', "") == []
