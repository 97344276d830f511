"""nvidia_gpu's driver upgrade decision: which held packages are at another version than the pinned
one (then released, installed at the pin and held again). Evaluated by Ansible itself, from the role's
vars/main.yml, against `dpkg-query` lines as the role reads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


def outdated(tmp_path: Path, version: str, dpkg_lines: list[str], fabric: str = "imex") -> list[str]:
    book = tmp_path / "decide.yml"
    book.write_text(yaml.safe_dump([{
        "name": "Decide", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars_files": [str(REPO / "playbooks/roles/nvidia_gpu/vars/main.yml")],
        "vars": {"nvidia_gpu_driver_branch": "580", "nvidia_gpu_driver_version": version, "nvidia_gpu_fabric": fabric,
                 "__nvidia_gpu_driver_packages": ["nvidia-open-580"],
                 "__nvidia_gpu_installed": {"rc": 0, "stdout_lines": dpkg_lines}},
        "tasks": [{"name": "Show", "ansible.builtin.debug": {"msg": "{{ __nvidia_gpu_outdated | to_json }}"}}],
    }]))
    done = subprocess.run([str(PLAYBOOK), "-i", "localhost,", str(book)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                               "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]
    return json.loads(result)


def test_packages_held_at_an_older_version_are_the_ones_to_upgrade(tmp_path):
    lines = ["nvidia-open-580 580.82.07-1 hi", "nvidia-imex-580 580.82.07-1 hi"]
    assert outdated(tmp_path, "580.95.05", lines) == ["nvidia-open-580", "nvidia-imex-580"]


def test_nothing_to_upgrade_at_the_pinned_version_or_when_not_installed(tmp_path):
    lines = ["nvidia-open-580 580.95.05-0ubuntu1 hi", "nvidia-imex-580  un"]
    assert outdated(tmp_path, "580.95.05", lines) == []


@pytest.mark.parametrize("installed", ["580.95.051-1", "580.9-1", "580.95.0-1"])
def test_a_version_that_only_starts_like_the_pin_is_another_version(tmp_path, installed):
    assert outdated(tmp_path, "580.95.05", [f"nvidia-open-580 {installed} ii"]) == ["nvidia-open-580"]


def test_a_downgrade_is_a_change_too(tmp_path):
    assert outdated(tmp_path, "580.65.06", ["nvidia-open-580 580.95.05-1 hi"], fabric="none") == ["nvidia-open-580"]
