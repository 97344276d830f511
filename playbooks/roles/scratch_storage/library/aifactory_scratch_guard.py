#!/usr/bin/python
"""Ansible module: decide which devices may become the node's scratch filesystem.

The rule this module enforces: never create a filesystem on a device that holds a partition
table, a filesystem or other signature, or data, unless the host is explicitly allowed to wipe
that device. The decision (``decide``) is a pure function over what ``lsblk -J``, ``wipefs -J``,
``blkid -p`` and a read of the first bytes report, so that it can be unit-tested.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: aifactory_scratch_guard
short_description: Decide which devices may hold the scratch filesystem, refusing any with data
description:
  - Inspects each device with C(lsblk -J), C(wipefs -J), C(blkid -p) and a read of its first bytes.
  - A device is C(usable) when empty, C(prepared) when it already holds the scratch filesystem made
    by this role (filesystem type and label match), and C(refused) otherwise, with the reasons.
  - A refused device listed in O(wipe_devices) becomes usable and its signatures are erased
    (C(wipefs -a)), unless it is the boot disk or mounted.
options:
  devices:
    description: C(auto) (every NVMe namespace that is not the boot disk) or a list of device paths.
    type: raw
    required: true
  wipe_devices:
    description: Devices this host is explicitly allowed to wipe.
    type: list
    elements: str
    default: []
  fstype:
    description: Filesystem type of the scratch filesystem.
    type: str
    required: true
  label:
    description: Filesystem label marking the scratch filesystem made by this role.
    type: str
    required: true
  mount:
    description: Mount point of the scratch filesystem (a device mounted there already is prepared).
    type: str
    required: true
  probe_bytes:
    description: Bytes read from the start of a device to look for data without a signature.
    type: int
    default: 1048576
author: aifactory
"""

RETURN = r"""
devices:
  description: One entry per inspected device, with verdict (usable, prepared, refused), reasons and wipe.
  type: list
  returned: always
usable:
  description: Paths of the devices that may hold the scratch filesystem (usable or prepared).
  type: list
  returned: always
refused:
  description: The refused entries.
  type: list
  returned: always
"""

import json
import os
import re
import stat

from ansible.module_utils.basic import AnsibleModule

BOOT_MOUNTS = frozenset({"/", "/boot", "/boot/efi", "/usr", "/var", "[SWAP]"})
NVME_NAMESPACE = re.compile(r"^nvme[0-9]+n[0-9]+$")
LSBLK_COLUMNS = "NAME,PATH,TYPE,RO,FSTYPE,LABEL,PTTYPE,MOUNTPOINT"


def _mountpoints(node: dict) -> list[str]:
    """Every mount point of a device and of its children, recursively."""
    found = [node["mountpoint"]] if node.get("mountpoint") else []
    for child in node.get("children") or []:
        found.extend(_mountpoints(child))
    return found


def is_boot_disk(node: dict) -> bool:
    """True when the device or anything on it holds the running system (root, boot, swap)."""
    return any(mp in BOOT_MOUNTS for mp in _mountpoints(node))


def decide(info: dict, *, wipe_allowed: bool, fstype: str, label: str, mount: str) -> dict:
    """Decide one device. ``info``: path, exists, node (its lsblk entry), signatures
    ([{type, label}] from wipefs/blkid) and has_data (non-zero bytes at its start).
    Returns {device, verdict, reasons, wipe}."""
    path = info["path"]
    node = info.get("node") or {}

    def result(verdict: str, reasons: list[str], wipe: bool = False) -> dict:
        return {"device": path, "verdict": verdict, "reasons": reasons, "wipe": wipe}

    if not info.get("exists") or not node:
        return result("refused", ["not a block device"])
    if is_boot_disk(node):
        return result("refused", ["holds the running system (root, boot or swap)"])
    mounts = _mountpoints(node)
    signatures = info.get("signatures") or []
    ours = (
        len(signatures) == 1
        and signatures[0].get("type") == fstype
        and signatures[0].get("label") == label
        and not node.get("children")
    )
    if ours and set(mounts) <= {mount}:
        return result("prepared", [f"holds the scratch filesystem ({fstype}, label {label})"])
    if mounts:
        return result("refused", [f"mounted at {', '.join(mounts)}"])
    if node.get("ro") in (True, "1", 1):
        return result("refused", ["read-only"])

    problems = []
    children = node.get("children") or []
    if children:
        problems.append("holds partitions: " + ", ".join(c.get("name", "?") for c in children))
    if node.get("pttype"):
        problems.append(f"holds a partition table ({node['pttype']})")
    for sig in signatures:
        described = sig.get("type") or "unknown"
        if sig.get("label"):
            described += f" (label {sig['label']})"
        problems.append(f"holds a signature: {described}")
    if info.get("has_data") and not signatures and not children:
        problems.append("holds data (non-zero bytes at its start)")
    if not problems:
        return result("usable", ["empty"])
    if wipe_allowed:
        return result("usable", [p + "; wiping allowed for this host" for p in problems], wipe=True)
    return result("refused", problems)


def auto_candidates(tree: list[dict]) -> list[str]:
    """Every NVMe namespace that is not the boot disk, from ``lsblk -J`` block devices."""
    return [
        node.get("path") or "/dev/" + node["name"]
        for node in tree
        if node.get("type") == "disk" and NVME_NAMESPACE.match(node.get("name", "")) and not is_boot_disk(node)
    ]


def parse_signatures(wipefs_json: str, blkid_export: str) -> list[dict]:
    """Signatures from ``wipefs -J`` output, plus ``blkid -p -o export`` when wipefs saw none."""
    signatures = []
    if wipefs_json.strip():
        for sig in json.loads(wipefs_json).get("signatures", []):
            signatures.append({"type": sig.get("type"), "label": sig.get("label")})
    if not signatures:
        fields = dict(line.split("=", 1) for line in blkid_export.splitlines() if "=" in line)
        if fields.get("TYPE") or fields.get("PTTYPE"):
            signatures.append({"type": fields.get("TYPE") or fields.get("PTTYPE"), "label": fields.get("LABEL")})
    return signatures


class Inspector:
    """Runs the inspection tools on the node."""

    def __init__(self, module: AnsibleModule):
        self.module = module

    def run(self, *argv: str, ok=(0,)) -> str:
        rc, out, err = self.module.run_command(list(argv))
        if rc not in ok:
            self.module.fail_json(msg=f"{' '.join(argv)} failed ({rc}): {err.strip()}")
        return out

    def tree(self, path: str | None = None) -> list[dict]:
        argv = ["lsblk", "-J", "-o", LSBLK_COLUMNS] + ([path] if path else [])
        return json.loads(self.run(*argv)).get("blockdevices", [])

    def has_data(self, path: str, size: int) -> bool:
        with open(path, "rb") as handle:
            return any(handle.read(size))

    def inspect(self, path: str, size: int) -> dict:
        real = os.path.realpath(path)
        info = {"path": path, "exists": os.path.exists(real) and _is_block(real)}
        if not info["exists"]:
            return info
        nodes = self.tree(real)
        info["node"] = nodes[0] if nodes else {}
        info["signatures"] = parse_signatures(
            self.run("wipefs", "-J", real), self.run("blkid", "-p", "-o", "export", real, ok=(0, 2))
        )
        info["has_data"] = self.has_data(real, size)
        return info


def _is_block(path: str) -> bool:
    return stat.S_ISBLK(os.stat(path).st_mode)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "devices": {"type": "raw", "required": True},
            "wipe_devices": {"type": "list", "elements": "str", "default": []},
            "fstype": {"type": "str", "required": True},
            "label": {"type": "str", "required": True},
            "mount": {"type": "str", "required": True},
            "probe_bytes": {"type": "int", "default": 1048576},
        },
        supports_check_mode=True,
    )
    params = module.params
    inspector = Inspector(module)
    if params["devices"] == "auto":
        paths = auto_candidates(inspector.tree())
    elif isinstance(params["devices"], list) and all(isinstance(d, str) for d in params["devices"]):
        paths = params["devices"]
    else:
        module.fail_json(msg=f"devices must be 'auto' or a list of device paths, got {params['devices']!r}")
    wipe_allowed = {os.path.realpath(d) for d in params["wipe_devices"]}

    decisions = []
    for path in paths:
        info = inspector.inspect(path, params["probe_bytes"])
        decisions.append(
            decide(
                info,
                wipe_allowed=os.path.realpath(path) in wipe_allowed,
                fstype=params["fstype"],
                label=params["label"],
                mount=params["mount"],
            )
        )

    changed = False
    for decision in decisions:
        if decision["wipe"]:
            changed = True
            if not module.check_mode:
                inspector.run("wipefs", "-a", os.path.realpath(decision["device"]))
    module.exit_json(
        changed=changed,
        devices=decisions,
        usable=[d["device"] for d in decisions if d["verdict"] in ("usable", "prepared")],
        refused=[d for d in decisions if d["verdict"] == "refused"],
    )


if __name__ == "__main__":
    main()
