"""What the lab needs from this machine, checked before anything is created."""

from __future__ import annotations

import os
import shutil

TOOLS = ("debootstrap", "systemd-nspawn", "ip", "nft", "ssh", "ssh-keygen", "losetup", "mount", "umount")


def missing() -> list[str]:
    """Reasons the lab cannot run here (empty when it can): not root, or tools absent."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the lab needs root (network namespaces, overlay mounts, systemd-nspawn)")
    absent = [t for t in TOOLS if shutil.which(t) is None]
    if absent:
        problems.append(f"missing {', '.join(absent)}: run scripts/install-lab-deps.sh")
    return problems
