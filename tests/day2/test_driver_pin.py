"""A driver pinned at a version older than the repository's newest (the start of every rehearsed
upgrade) installs only if every package the role pins depends exactly on is pinned with it: checked
against the vendor manifest the lab's stand-in CUDA repository is built from."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from aifactory.lab import hardware

ROLE = Path(__file__).resolve().parents[2] / "playbooks" / "roles" / "nvidia_gpu"


def test_every_exact_dependency_of_a_pinned_package_is_pinned_too():
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    debian = yaml.safe_load((ROLE / "vars" / "Debian.yml").read_text())
    pinned = {p.replace("{{ nvidia_gpu_driver_branch }}", "{branch}") for p in
              debian["__nvidia_gpu_driver_packages"] + role_vars["__nvidia_gpu_fabric_manager_packages"]
              + role_vars["__nvidia_gpu_imex_packages"]}
    packages = {p["name"]: p for p in hardware.manifest()["nvidia_cuda"]["packages"]}
    exact = {re.match(r"(\S+) \(= \{driver\}", dep)[1] for name in pinned for dep in packages[name].get("depends", [])
             if "(= {driver}" in dep}
    assert exact <= pinned
    assert debian["__nvidia_gpu_driver_packages"][-1] == "nvidia-open-{{ nvidia_gpu_driver_branch }}"
