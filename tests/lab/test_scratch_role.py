"""C's `scratch_storage` role on a lab node with real block devices (loop devices passed into the
container): a device that holds a filesystem with a file keeps the file; an empty one gets a
filesystem and is mounted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aifactory.lab import lifecycle
from tests.conftest import REPO, site_dir
from tests.lab.conftest import node_ssh

pytestmark = pytest.mark.lab


def run_role(state, node: str, devices: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    play = tmp_path / "scratch.yml"
    play.write_text(f"""- name: Scratch storage on one lab node
  hosts: {node}
  gather_facts: true
  roles:
    - role: scratch_storage
      vars:
        scratch_storage_devices: {devices}
""")
    env = {**os.environ, "AIFACTORY_HOST_OVERRIDES": str(state.dir / lifecycle.OVERRIDES_FILE),
           "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_ROLES_PATH": str(REPO / "playbooks" / "roles"),
           "PYTHONPATH": str(REPO)}
    ansible = Path(sys.executable).parent / "ansible-playbook"
    return subprocess.run([str(ansible), "-i", str(site_dir("lab-b200") / "aifactory.yml"), str(play)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


def test_scratch_role_keeps_data_and_formats_only_an_empty_device(lab, tmp_path):
    f, state = lab
    node = f.nodes[1]
    used, empty = state.nodes[node.name]["disks"]
    prepared = node_ssh(state, node.address, f"mkfs.ext4 -q {used} && mkdir -p /mnt/old && mount {used} /mnt/old "
                                             "&& echo precious > /mnt/old/data.txt && umount /mnt/old")
    assert prepared.returncode == 0, prepared.stderr

    run_role(state, node.name, [used], tmp_path)  # may refuse; what matters is the data
    check = node_ssh(state, node.address, f"umount /scratch 2>/dev/null; mount {used} /mnt/old && "
                                          "cat /mnt/old/data.txt; umount /mnt/old")
    assert check.stdout.strip() == "precious"

    result = run_role(state, node.name, [empty], tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    mounted = node_ssh(state, node.address, f"findmnt -n -o SOURCE,FSTYPE /scratch; blkid -o value -s TYPE {empty}")
    assert mounted.stdout.split() == [empty, "ext4", "ext4"]
