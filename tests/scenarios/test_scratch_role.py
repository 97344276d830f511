"""C's `scratch_storage` role on a lab node with real block devices (loop devices passed into the
container): a device that holds a filesystem with a file keeps the file; two empty ones on a stand-in
(no md in its kernel) are reported skipped and stay empty; one empty one gets the filesystem, is
mounted by UUID, and a re-run changes nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aifactory.lab import lifecycle
from tests.conftest import REPO, site_dir
from tests.scenarios.conftest import node_ssh

pytestmark = pytest.mark.lab

# One disk holding data, two empty ones.
LAB_SCRATCH_DISKS = 3


def run_role(state, node: str, devices: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    play = tmp_path / "scratch.yml"
    play.write_text(f"""- name: Scratch storage on one lab node
  hosts: {node}
  gather_facts: true
  roles:
    - role: scratch_storage
      vars:
        scratch_storage_kernel_modules: false
        scratch_storage_devices: {devices}
""")
    env = {**os.environ, "AIFACTORY_HOST_OVERRIDES": str(state.dir / lifecycle.OVERRIDES_FILE),
           "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_ROLES_PATH": str(REPO / "playbooks" / "roles"),
           "PYTHONPATH": str(REPO)}
    ansible = Path(sys.executable).parent / "ansible-playbook"
    return subprocess.run([str(ansible), "-i", str(site_dir("lab-b200") / "aifactory.yml"), str(play)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


def recap_changed(output: str) -> int:
    return int(re.search(r"changed=(\d+)", output.split("PLAY RECAP", 1)[1]).group(1))


def test_scratch_role_keeps_data_and_formats_only_an_empty_device(lab, tmp_path):
    f, state = lab
    node = f.nodes[1]
    used, empty, spare = state.nodes[node.name]["disks"]
    prepared = node_ssh(state, node.address, f"mkfs.ext4 -q {used} && mkdir -p /mnt/old && mount {used} /mnt/old "
                                             "&& echo precious > /mnt/old/data.txt && umount /mnt/old")
    assert prepared.returncode == 0, prepared.stderr

    run_role(state, node.name, [used], tmp_path)  # may refuse; what matters is the data
    check = node_ssh(state, node.address, f"umount /scratch 2>/dev/null; mount {used} /mnt/old && "
                                          "cat /mnt/old/data.txt; umount /mnt/old")
    assert check.stdout.strip() == "precious"

    striped = run_role(state, node.name, [used, empty, spare], tmp_path)
    assert striped.returncode == 0, striped.stdout[-3000:]
    assert "need an md RAID 0 array, and this host" in striped.stdout and "runs none (kernel_md is false)" in striped.stdout
    untouched = node_ssh(state, node.address, f"blkid -p {empty} {spare}; findmnt -n /scratch")
    assert untouched.stdout == ""

    result = run_role(state, node.name, [empty], tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    fstype = f.storage.scratch.filesystem  # from the spec, through the inventory's role variables
    mounted = node_ssh(state, node.address, f"findmnt -n -o SOURCE,FSTYPE /scratch; blkid -o value -s TYPE {empty}; "
                                            f"grep -c '^UUID=.* /scratch {fstype} ' /etc/fstab")
    assert mounted.stdout.split() == [empty, fstype, fstype, "1"]

    again = run_role(state, node.name, [empty], tmp_path)
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap_changed(again.stdout) == 0
