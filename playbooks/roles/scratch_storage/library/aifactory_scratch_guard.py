#!/usr/bin/python
"""Ansible module: make the node's scratch filesystem, never over a device that holds anything.

The rule this module enforces: never write to a device that holds a partition table, a filesystem
or other signature, data, a mount or a holder (md, device-mapper), unless the host is explicitly
allowed to wipe that device; the running system's disk never. One usable device gets the
filesystem directly; several become one md RAID 0 array with the filesystem on it. What already
exists of this role (its filesystem, its array) is reused, an array of this role that is not
running is assembled, never re-created.

``decide`` (one device) and ``plan`` (the devices together: which commands, in which order) are
pure functions over what ``lsblk -J``, ``wipefs -J``, ``blkid -p``, ``mdadm --examine/--detail
--export`` and a read of the first bytes report, so that they can be tested as data; ``converge``
runs them against the node through an ``Inspector``.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: aifactory_scratch_guard
short_description: Make the scratch filesystem on the empty devices (one device, or md RAID 0 over several)
description:
  - Inspects each device with C(lsblk -J), C(wipefs -J), C(blkid -p), C(mdadm --examine --export) and a
    read of its first bytes, and decides per device, with reasons, C(usable) (empty), C(prepared) (holds the
    scratch filesystem of this role: type and label match), C(member) (member of this role's md array,
    recognised by its md name) or C(refused).
  - A device holding a partition table, a signature, data, a foreign md array's superblock is refused unless
    listed in O(wipe_devices) (then C(wipefs -a), partitions first). A mounted device, one with a holder
    (md, device-mapper) or the running system's disk is refused even then.
  - One usable device gets the filesystem directly. Several become one md RAID 0 array
    C(/dev/md/<md_name>) (C(mdadm --create)) with the filesystem on it. The commands are returned.
  - Re-runs change nothing; this role's array found stopped (after a reboot without mdadm.conf) is assembled
    by its UUID, never re-created; an incomplete one, several of them or one holding something else fail.
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
    choices: [ext4, xfs]
  label:
    description: Filesystem label marking the scratch filesystem made by this role.
    type: str
    required: true
  mount:
    description: Mount point of the scratch filesystem (a device mounted there already is this role's).
    type: str
    required: true
  md_name:
    description: Name of the md array made over several devices (C(/dev/md/<md_name>)); recognises it on re-runs.
    type: str
    required: true
  chunk_kib:
    description: Chunk size of the md RAID 0 array, in KiB.
    type: int
    default: 512
  kernel_md:
    description: The kernel runs md arrays; without, several usable devices are reported skipped (a container).
    type: bool
    default: true
  probe_bytes:
    description: Bytes read from the start of a device to look for data without a signature.
    type: int
    default: 1048576
author: aifactory
"""

RETURN = r"""
devices:
  description: One entry per inspected device, with verdict (usable, prepared, member, refused), reasons, wipe, array.
  type: list
  returned: always
refused:
  description: The refused entries.
  type: list
  returned: always
unused:
  description: Usable or prepared entries left alone because the scratch filesystem already lives elsewhere.
  type: list
  returned: always
layout:
  description: none (no scratch filesystem), device (directly on one device) or array (on md RAID 0).
  type: str
  returned: always
target:
  description: The device holding the scratch filesystem (empty for layout none).
  type: str
  returned: always
commands:
  description: The commands run (in check mode, those that would run), each an argv list.
  type: list
  returned: always
filesystem_uuid:
  description: UUID of the scratch filesystem (empty in check mode before it exists).
  type: str
  returned: always
array:
  description: For layout array, the array's device, UUID, name and its mdadm.conf ARRAY line (conf_line).
  type: dict
  returned: always
skipped:
  description: Why no scratch filesystem was made (empty when one exists).
  type: str
  returned: always
"""

import json
import os
import re
import stat
import subprocess

from ansible.module_utils.basic import AnsibleModule

BOOT_MOUNTS = frozenset({"/", "/boot", "/boot/efi", "/usr", "/var", "[SWAP]"})
NVME_NAMESPACE = re.compile(r"^nvme[0-9]+n[0-9]+$")
LSBLK_COLUMNS = "NAME,PATH,TYPE,RO,FSTYPE,LABEL,PTTYPE,MOUNTPOINT"
RAID_MEMBER = "linux_raid_member"
# Longest label each mkfs accepts (mkfs.xfs(8): 12 characters; mke2fs(8): 16 bytes).
LABEL_LIMITS = {"xfs": 12, "ext4": 16}
# Answer to any question mdadm or mkfs would ask (e.g. "Continue creating array?"): no.
STDIN_ANSWER = "n"


def _mountpoints(node: dict) -> list[str]:
    """Every mount point of a device and of what it holds, recursively."""
    found = [node["mountpoint"]] if node.get("mountpoint") else []
    for child in node.get("children") or []:
        found.extend(_mountpoints(child))
    return found


def is_boot_disk(node: dict) -> bool:
    """True when the device or anything on it holds the running system (root, boot, swap)."""
    return any(mp in BOOT_MOUNTS for mp in _mountpoints(node))


def _path(node: dict) -> str:
    return node.get("path") or "/dev/" + node["name"]


def _is_md(node: dict) -> bool:
    return (node.get("type") or "").startswith("raid") or node.get("type") == "md"


def _raid_signature(signatures: list[dict]) -> dict | None:
    return next((s for s in signatures if s.get("type") == RAID_MEMBER), None)


def is_ours(md_name_found: str | None, md_name: str) -> bool:
    """An md name ("<homehost>:<name>" or "<name>") is this role's when its name part is ``md_name``."""
    return bool(md_name_found) and md_name_found.split(":")[-1] == md_name


def uuid_key(uuid: str | None) -> str:
    """mdadm writes UUIDs as 8:8:8:8 hex, blkid and wipefs as 8-4-4-4-12: compare the hex digits."""
    return re.sub(r"[^0-9a-f]", "", (uuid or "").lower())


def _holds_own_filesystem(signatures: list[dict], *, fstype: str, label: str) -> bool:
    return len(signatures) == 1 and signatures[0].get("type") == fstype and signatures[0].get("label") == label


def _described(sig: dict) -> str:
    described = sig.get("type") or "unknown"
    return described + (f" (label {sig['label']})" if sig.get("label") else "")


def decide(info: dict, *, wipe_allowed: bool, fstype: str, label: str, mount: str, md_name: str) -> dict:
    """Decide one device. ``info``: path, exists, node (its lsblk entry, holders and partitions as
    children), signatures ([{type, label, uuid}] from wipefs/blkid), has_data (non-zero bytes at its
    start) and md (its ``mdadm --examine --export`` fields, when it carries an md superblock).
    Returns {device, verdict, reasons, wipe, array}: array is the md UUID for a member."""
    path = info["path"]
    node = info.get("node") or {}

    def result(verdict: str, reasons: list[str], wipe: bool = False, array: str = "") -> dict:
        return {"device": path, "verdict": verdict, "reasons": reasons, "wipe": wipe, "array": array}

    if not info.get("exists") or not node:
        return result("refused", ["not a block device"])
    if is_boot_disk(node):
        return result("refused", ["holds the running system (root, boot or swap)"])
    signatures = info.get("signatures") or []
    children = node.get("children") or []
    mounts = _mountpoints(node)
    foreign_mounts = [m for m in mounts if m != mount]
    raid = _raid_signature(signatures)
    md = info.get("md") or {}
    raid_name = md.get("MD_NAME") or (raid or {}).get("label")
    if raid and is_ours(raid_name, md_name) and all(_is_md(c) for c in children):
        if foreign_mounts:
            return result("refused", [f"mounted at {', '.join(foreign_mounts)}"])
        return result("member", [f"member of this role's md array {raid_name}"],
                      array=md.get("MD_UUID") or raid.get("uuid") or "")
    if (_holds_own_filesystem(signatures, fstype=fstype, label=label) and not children
            and not foreign_mounts):
        return result("prepared", [f"holds the scratch filesystem ({fstype}, label {label})"])
    if mounts:
        return result("refused", [f"mounted at {', '.join(mounts)}"])
    holders = [c for c in children if c.get("type") != "part"]
    holders += [h for c in children if c.get("type") == "part" for h in c.get("children") or []]
    if holders:
        return result("refused", ["in use by " + ", ".join(f"{h.get('name', '?')} ({h.get('type') or '?'})"
                                                            for h in holders)])
    if node.get("ro") in (True, "1", 1):
        return result("refused", ["read-only"])

    problems = []
    if children:
        problems.append("holds partitions: " + ", ".join(c.get("name", "?") for c in children))
    if node.get("pttype"):
        problems.append(f"holds a partition table ({node['pttype']})")
    for sig in signatures:
        if sig is raid:
            problems.append(f"member of md array {raid_name or '?'} (not this role's)")
        else:
            problems.append(f"holds a signature: {_described(sig)}")
    if info.get("has_data") and not signatures and not children:
        problems.append("holds data (non-zero bytes at its start)")
    if not problems:
        return result("usable", ["empty"])
    if wipe_allowed:
        return result("usable", [p + "; wiping allowed for this host" for p in problems], wipe=True)
    return result("refused", problems)


def auto_candidates(tree: list[dict]) -> list[str]:
    """Every NVMe namespace that is not the boot disk, from ``lsblk -J`` block devices, in
    natural order (nvme2n1 before nvme10n1) so that the array's member order is stable."""
    found = [_path(node) for node in tree
             if node.get("type") == "disk" and NVME_NAMESPACE.match(node.get("name", "")) and not is_boot_disk(node)]
    return sorted(found, key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p)])


def parse_signatures(wipefs_json: str, blkid_export: str) -> list[dict]:
    """Signatures from ``wipefs -J`` output, plus ``blkid -p -o export`` when wipefs saw none."""
    signatures = []
    if wipefs_json.strip():
        for sig in json.loads(wipefs_json).get("signatures", []):
            signatures.append({"type": sig.get("type"), "label": sig.get("label"), "uuid": sig.get("uuid")})
    if not signatures:
        fields = parse_export(blkid_export)
        if fields.get("TYPE") or fields.get("PTTYPE"):
            signatures.append({"type": fields.get("TYPE") or fields.get("PTTYPE"), "label": fields.get("LABEL"),
                               "uuid": fields.get("UUID")})
    return signatures


def parse_export(text: str) -> dict:
    """KEY=value lines (``blkid -o export``, ``mdadm --export``) as a dict."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _wipe_commands(info: dict) -> list[list[str]]:
    """Partitions first (their signatures sit inside the disk), then the disk itself."""
    parts = [_path(c) for c in (info.get("node") or {}).get("children") or [] if c.get("type") == "part"]
    return [["wipefs", "-a", p] for p in parts] + [["wipefs", "-a", info["path"]]]


def plan(infos: list[dict], *, arrays: list[dict], wipe_devices: set[str], fstype: str, label: str, mount: str,
         md_name: str, chunk_kib: int, kernel_md: bool) -> dict:
    """What to do with the devices together. ``infos``: as for ``decide``; ``arrays``: the running md
    arrays the devices belong to, each {path, detail (``mdadm --detail --export``), signatures,
    has_data}. Returns {devices, layout, target, commands, array, reinspect, skipped, problem, unused}:
    ``problem`` set means touch nothing and fail; ``reinspect``: run the commands, then plan again
    (the assembled array's filesystem is only known then)."""
    decisions = [decide(i, wipe_allowed=i["path"] in wipe_devices, fstype=fstype, label=label, mount=mount,
                        md_name=md_name) for i in infos]
    by_path = {i["path"]: i for i in infos}
    md_path = f"/dev/md/{md_name}"
    out = {"devices": decisions, "layout": "none", "target": "", "commands": [], "array": {}, "reinspect": False,
           "skipped": "", "problem": "", "unused": []}
    members = [d for d in decisions if d["verdict"] == "member"]
    prepared = [d for d in decisions if d["verdict"] == "prepared"]
    usable = [d for d in decisions if d["verdict"] == "usable"]

    def unused(decided: list[dict], where: str) -> list[dict]:
        return [{**d, "reasons": d["reasons"] + [f"not used: the scratch filesystem is {where}"]} for d in decided]

    if members:
        uuids = sorted({uuid_key(d["array"]) for d in members})
        if len(uuids) > 1:
            out["problem"] = (f"the devices belong to {len(uuids)} different md arrays named {md_name} "
                              f"({', '.join(d['device'] for d in members)}); nothing touched")
            return out
        paths = [d["device"] for d in members]
        running = next((a for a in arrays if uuid_key(a["detail"].get("MD_UUID")) == uuids[0]), None)
        out.update(layout="array", target=md_path, unused=unused(usable + prepared, f"on the md array {md_path}"))
        if running is None:
            expected = int(by_path[paths[0]].get("md", {}).get("MD_DEVICES") or 0)
            if len(paths) < expected:
                out["problem"] = (f"md array {md_name} (UUID {members[0]['array']}): {len(paths)} of its {expected} "
                                  f"devices present ({', '.join(paths)}); RAID 0 cannot run without all of them, "
                                  "and it is never re-created over them")
                return out
            out["commands"] = [["mdadm", "--assemble", md_path, f"--uuid={members[0]['array']}", *paths]]
            out["array"] = {"device": md_path, "uuid": members[0]["array"]}
            out["reinspect"] = True
            return out
        out.update(target=running["path"], array=array_record(md_path, running["detail"]))
        level = running["detail"].get("MD_LEVEL")
        if level != "raid0":
            out["problem"] = (f"md array {md_name} ({running['path']}) does not run as RAID 0 "
                              f"({f'level {level}' if level else 'inactive'}); not touched")
            return out
        signatures = running.get("signatures") or []
        if _holds_own_filesystem(signatures, fstype=fstype, label=label):
            return out
        if signatures or running.get("has_data"):
            held = ", ".join(_described(s) for s in signatures) or "data (non-zero bytes at its start)"
            out["problem"] = (f"md array {md_name} ({running['path']}) holds {held}, not the scratch filesystem; "
                              "not touched")
            return out
        out["commands"] = [mkfs(fstype, label, running["path"])]
        return out

    if prepared:
        if len(prepared) > 1:
            out["problem"] = ("several devices hold the scratch filesystem: "
                              f"{', '.join(d['device'] for d in prepared)}; nothing touched")
            return out
        out.update(layout="device", target=prepared[0]["device"],
                   unused=unused(usable, f"on {prepared[0]['device']}"))
        return out

    if not usable:
        out["skipped"] = "no usable device"
        return out
    paths = [d["device"] for d in usable]
    if len(usable) > 1 and not kernel_md:
        out["skipped"] = (f"{len(usable)} usable devices ({', '.join(paths)}) need an md RAID 0 array, and this "
                          "host's kernel runs none (kernel_md is false)")
        return out
    wipes = [argv for d in usable if d["wipe"] for argv in _wipe_commands(by_path[d["device"]])]
    if len(usable) == 1:
        out.update(layout="device", target=paths[0], commands=wipes + [mkfs(fstype, label, paths[0])])
        return out
    create = ["mdadm", "--create", md_path, "--level=0", f"--raid-devices={len(paths)}", f"--chunk={chunk_kib}K",
              "--metadata=1.2", f"--name={md_name}", *paths]
    out.update(layout="array", target=md_path, commands=wipes + [create, mkfs(fstype, label, md_path)],
               array={"device": md_path})
    return out


def mkfs(fstype: str, label: str, device: str) -> list[str]:
    """No force flag: mkfs itself refuses (or asks, and is answered no) over an existing filesystem."""
    return [f"mkfs.{fstype}", "-L", label, device]


def array_record(md_path: str, detail: dict) -> dict:
    """The array as it runs, and its line for mdadm.conf(5), in the form ``mdadm --detail --brief`` prints."""
    uuid, name, metadata = detail.get("MD_UUID", ""), detail.get("MD_NAME", ""), detail.get("MD_METADATA", "1.2")
    return {"device": md_path, "uuid": uuid, "name": name,
            "conf_line": f"ARRAY {md_path} metadata={metadata} name={name} UUID={uuid}"}


class Inspector:
    """Reads the devices on the node and runs the planned commands."""

    def __init__(self, module: AnsibleModule, probe_bytes: int):
        self.module = module
        self.probe_bytes = probe_bytes
        self.mdadm = module.get_bin_path("mdadm")

    def run(self, argv: list[str], ok=(0,)) -> str:
        """Run an inspection command (reads no input)."""
        rc, out, err = self.module.run_command(argv)
        if rc not in ok:
            self.module.fail_json(msg=f"{' '.join(argv)} failed ({rc}): {err.strip()}")
        return out

    def tree(self, path: str | None = None) -> list[dict]:
        argv = ["lsblk", "-J", "-o", LSBLK_COLUMNS] + ([path] if path else [])
        return json.loads(self.run(argv)).get("blockdevices", [])

    def _signatures_and_data(self, path: str) -> tuple[list[dict], bool]:
        signatures = parse_signatures(self.run(["wipefs", "-J", path]),
                                      self.run(["blkid", "-p", "-o", "export", path], ok=(0, 2)))
        with open(path, "rb") as handle:
            return signatures, any(handle.read(self.probe_bytes))

    def inspect(self, path: str) -> dict:
        real = os.path.realpath(path)
        info = {"path": path, "exists": os.path.exists(real) and stat.S_ISBLK(os.stat(real).st_mode)}
        if not info["exists"]:
            return info
        nodes = self.tree(real)
        info["node"] = nodes[0] if nodes else {}
        info["signatures"], info["has_data"] = self._signatures_and_data(real)
        if _raid_signature(info["signatures"]) and self.mdadm:
            info["md"] = parse_export(self.run([self.mdadm, "--examine", "--export", real]))
        return info

    def inspect_array(self, path: str) -> dict:
        detail = parse_export(self.run([self.mdadm or "mdadm", "--detail", "--export", path]))
        signatures, has_data = self._signatures_and_data(path)
        return {"path": path, "detail": detail, "signatures": signatures, "has_data": has_data}

    def filesystem_uuid(self, path: str) -> str:
        return self.run(["blkid", "-p", "-s", "UUID", "-o", "value", path], ok=(0, 2)).strip()

    def execute(self, argv: list[str]) -> None:
        """Run a planned command, answering "no" to any question it asks. Through subprocess, whose
        communicate() tolerates a command that exits without reading its input (run_command fails
        such a command with EPIPE)."""
        done = subprocess.run(argv, input=STDIN_ANSWER, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            self.module.fail_json(msg=f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")


def running_arrays(infos: list[dict]) -> list[str]:
    """The md arrays the inspected devices are members of, as lsblk shows them (holders as children)."""
    found = []
    for info in infos:
        for child in (info.get("node") or {}).get("children") or []:
            if _is_md(child) and _raid_signature(info.get("signatures") or []) and _path(child) not in found:
                found.append(_path(child))
    return found


def converge(inspector, params: dict, check_mode: bool) -> dict:
    """Inspect, plan, run the plan; after an assembly, once more (the array's filesystem is known
    only then). Returns the module's result; ``problem`` set means nothing was touched."""
    if params["devices"] == "auto":
        paths = auto_candidates(inspector.tree())
    else:
        paths = list(dict.fromkeys(params["devices"]))
    allowed = {os.path.realpath(d) for d in params["wipe_devices"]}
    settings = {"wipe_devices": {p for p in paths if os.path.realpath(p) in allowed},
                "fstype": params["fstype"], "label": params["label"],
                "mount": params["mount"], "md_name": params["md_name"], "chunk_kib": params["chunk_kib"],
                "kernel_md": params["kernel_md"]}
    ran: list[list[str]] = []
    for attempt in range(2):
        infos = [inspector.inspect(p) for p in paths]
        result = plan(infos, arrays=[inspector.inspect_array(a) for a in running_arrays(infos)], **settings)
        if attempt and result["reinspect"]:
            result["problem"] = f"md array {params['md_name']} was assembled but does not run; nothing more touched"
        if result["problem"] or check_mode:
            existing = result["target"] and not result["commands"] and not result["problem"]
            return {**result, "commands": ran + result["commands"], "changed": bool(ran + result["commands"]),
                    "filesystem_uuid": inspector.filesystem_uuid(result["target"]) if existing else ""}
        for argv in result["commands"]:
            inspector.execute(argv)
            ran.append(argv)
        if not result["reinspect"]:
            break
    if result["layout"] == "array":
        result["array"] = array_record(result["array"]["device"], inspector.inspect_array(result["target"])["detail"])
    uuid = inspector.filesystem_uuid(result["target"]) if result["target"] else ""
    return {**result, "commands": ran, "changed": bool(ran), "filesystem_uuid": uuid}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "devices": {"type": "raw", "required": True},
            "wipe_devices": {"type": "list", "elements": "str", "default": []},
            "fstype": {"type": "str", "required": True, "choices": sorted(LABEL_LIMITS)},
            "label": {"type": "str", "required": True},
            "mount": {"type": "str", "required": True},
            "md_name": {"type": "str", "required": True},
            "chunk_kib": {"type": "int", "default": 512},
            "kernel_md": {"type": "bool", "default": True},
            "probe_bytes": {"type": "int", "default": 1048576},
        },
        supports_check_mode=True,
    )
    params = module.params
    devices = params["devices"]
    if devices != "auto" and not (isinstance(devices, list) and all(isinstance(d, str) for d in devices)):
        module.fail_json(msg=f"devices must be 'auto' or a list of device paths, got {devices!r}")
    if len(params["label"]) > LABEL_LIMITS[params["fstype"]]:
        module.fail_json(msg=f"label {params['label']!r} is longer than {params['fstype']} allows "
                             f"({LABEL_LIMITS[params['fstype']]} characters)")
    result = converge(Inspector(module, params["probe_bytes"]), params, module.check_mode)
    del result["reinspect"]
    if result["problem"]:
        module.fail_json(msg=result.pop("problem"), **result)
    module.exit_json(refused=[d for d in result["devices"] if d["verdict"] == "refused"], **result)


if __name__ == "__main__":
    main()
