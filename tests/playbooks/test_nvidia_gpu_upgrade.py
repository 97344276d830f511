"""nvidia_gpu's driver upgrade decision: what the role asks aifactory_packages (the pins) and what it makes of
the answer: the stack's packages to install at the pin (never the keyring, installed from its .deb), the held
packages at another version than the pinned one (released, installed at the pin and held again). Evaluated by
Ansible itself, from the role's vars/main.yml, against the module's answer to fabricated dpkg-query output."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
_spec = importlib.util.spec_from_file_location("aifactory_packages", REPO / "playbooks/library/aifactory_packages.py")
packages = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(packages)
DECIDED = ("__nvidia_gpu_package_names", "__nvidia_gpu_package_pins", "__nvidia_gpu_stack_to_install",
           "__nvidia_gpu_outdated")


def decide(tmp_path: Path, version: str, dpkg_rows: list[str], fabric: str = "imex") -> dict:
    """The role's decisions for a driver pin and what dpkg-query printed ("name version want flag status")."""
    settings = {"nvidia_gpu_driver_branch": "580", "nvidia_gpu_driver_version": version, "nvidia_gpu_fabric": fabric,
                "nvidia_gpu_keyring_package_version": "1.1-1", "nvidia_gpu_install_dcgm": True,
                "nvidia_gpu_install_container_toolkit": False, "__nvidia_gpu_driver_packages": ["nvidia-open-580"]}
    book = tmp_path / "decide.yml"
    book.write_text(yaml.safe_dump([{
        "name": "Decide", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars_files": [str(REPO / "playbooks/roles/nvidia_gpu/vars/main.yml")], "vars": settings,
        "tasks": [{"name": "Ask", "ansible.builtin.debug": {"msg": "{{ {'names': __nvidia_gpu_package_names,"
                                                                   " 'pins': __nvidia_gpu_package_pins} | to_json }}"}}],
    }]))
    asked = json.loads(run(book)["tasks"][0]["hosts"]["localhost"]["msg"])
    output = "".join("\t".join(row.split(" ", 2)) + "\n" for row in dpkg_rows)
    answer = packages.package_state(asked["names"], asked["pins"], output)
    book.write_text(yaml.safe_dump([{
        "name": "Decide", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars_files": [str(REPO / "playbooks/roles/nvidia_gpu/vars/main.yml")],
        "vars": settings | {"__nvidia_gpu_packages": answer},
        "tasks": [{"name": "Show", "ansible.builtin.debug": {"msg": "{{ {" + ", ".join(f"'{v}': {v}" for v in DECIDED)
                                                                    + "} | to_json }}"}}],
    }]))
    return json.loads(run(book)["tasks"][0]["hosts"]["localhost"]["msg"])


def run(book: Path) -> dict:
    done = subprocess.run([str(PLAYBOOK), "-i", "localhost,", str(book)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                               "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)["plays"][0]


def test_the_pins_are_the_driver_version_for_the_pinned_packages_and_the_keyrings_own(tmp_path):
    decided = decide(tmp_path, "580.95.05", [])
    assert decided["__nvidia_gpu_package_names"] == ["cuda-keyring", "nvidia-open-580", "nvidia-imex-580",
                                                      "datacenter-gpu-manager-4-cuda12"]
    assert decided["__nvidia_gpu_package_pins"] == {"nvidia-open-580": "580.95.05", "nvidia-imex-580": "580.95.05",
                                                    "cuda-keyring": "1.1-1"}
    # A first install: everything at the pin, DCGM at any version, the keyring not through apt's name list.
    assert decided["__nvidia_gpu_stack_to_install"] == ["nvidia-open-580=580.95.05*", "nvidia-imex-580=580.95.05*",
                                                        "datacenter-gpu-manager-4-cuda12"]


def test_packages_held_at_an_older_version_are_the_ones_to_upgrade(tmp_path):
    rows = ["cuda-keyring 1.1-1 install ok installed", "nvidia-open-580 580.82.07-1 hold ok installed",
            "nvidia-imex-580 580.82.07-1 hold ok installed", "datacenter-gpu-manager-4-cuda12 1:4.2-1 install ok installed"]
    decided = decide(tmp_path, "580.95.05", rows)
    assert decided["__nvidia_gpu_outdated"] == ["nvidia-open-580", "nvidia-imex-580"]
    assert decided["__nvidia_gpu_stack_to_install"] == ["nvidia-open-580=580.95.05*", "nvidia-imex-580=580.95.05*"]


def test_nothing_to_install_at_the_pinned_version_and_a_new_keyring_is_not_the_stacks(tmp_path):
    rows = ["cuda-keyring 1.0-1 install ok installed", "nvidia-open-580 580.95.05-0ubuntu1 hold ok installed",
            "nvidia-imex-580 580.95.05-0ubuntu1 hold ok installed",
            "datacenter-gpu-manager-4-cuda12 1:4.2-1 install ok installed"]
    decided = decide(tmp_path, "580.95.05", rows)
    assert decided["__nvidia_gpu_outdated"] == [] and decided["__nvidia_gpu_stack_to_install"] == []


def test_without_a_driver_version_nothing_is_pinned_but_the_keyring(tmp_path):
    rows = ["nvidia-open-580 580.82.07-1 hold ok installed"]
    decided = decide(tmp_path, "", rows, fabric="none")
    assert decided["__nvidia_gpu_package_pins"] == {"nvidia-open-580": "", "cuda-keyring": "1.1-1"}
    assert decided["__nvidia_gpu_outdated"] == [] and decided["__nvidia_gpu_stack_to_install"] == [
        "datacenter-gpu-manager-4-cuda12"]
