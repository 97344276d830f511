"""The project's ansible.cfg, as Ansible reads it from the repository root (where bringup runs ansible-playbook)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_ssh_connections_wait_30_seconds_not_ansible_s_10(tmp_path):
    """A node whose sshd answers late under load is not lost at the first connection: a key misspelt or in the
    wrong section would leave Ansible's default, and ansible-config would not list it as changed."""
    done = subprocess.run([str(Path(sys.executable).with_name("ansible-config")), "dump", "--only-changed",
                           "--format", "json"], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    assert done.returncode == 0, done.stderr
    changed = {entry["name"]: entry["value"] for entry in json.loads(done.stdout) if "name" in entry}
    assert changed.get("DEFAULT_TIMEOUT") == 30, changed
