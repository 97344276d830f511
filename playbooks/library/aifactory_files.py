#!/usr/bin/python
"""Ansible module: the files and directories a role keeps, each compared and put right in one module run.

ansible.builtin.copy and template cost a node two module runs when nothing changes (a stat for the
checksum, then the file module for the owner and mode), and a looped file task one per item. A run that
changes nothing is mostly such checks (bench/RESULTS.md, section 5), so the roles write their files with
this module instead: content rendered on the controller (`lookup('ansible.builtin.template', ...)`),
compared and written on the node in one run, several files in one task where they share a handler.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: aifactory_files
short_description: Keep files (whole content, owner, group, mode) and directories as given, in one module run
description:
  - For each entry, in the order given, compares the path on the host with the entry and puts right only what
    differs, the content by an atomic rename of a file written beside it, then the owner, group and mode.
  - A path is changed where its content, owner, group or mode differed, or it was missing; C(changed_paths) names
    them. The task is changed where any was.
  - A symbolic link at a file's path is replaced by the file, as ansible.builtin.copy does.
  - A file's missing directories are created as ansible.builtin.copy creates them (owned by the user the module
    runs as, mode from its umask); an entry for the directory, before the file's, gives them attributes.
  - Fails, changing nothing, where an entry is malformed or a path holds the other kind of thing (a directory where
    a file is kept, or the reverse), naming every such entry.
  - Supports check mode (reports what would change, changes nothing) and diff mode (each file's content before and
    after). Set C(no_log) on a task whose content is a secret.
options:
  files:
    description:
      - The entries. C(path) (absolute), C(state) (C(file), the default, or C(directory)), C(content) (the whole
        text of a file; required for a file), C(owner), C(group) (names) and C(mode) (as the file module takes it,
        quoted octal such as C("0644")); an attribute left out takes the module's own option, or where that is
        not set either is left as it is on the host.
      - A directory is created with its missing parents, each of those given the entry's owner, group and mode.
    type: list
    elements: dict
    required: true
  directory:
    description: Where the entries' relative paths are; without it every path must be absolute.
    type: path
  owner:
    description: The owner of the entries that name none.
    type: str
  group:
    description: The group of the entries that name none.
    type: str
  mode:
    description: The mode of the entries that name none.
    type: raw
author: aifactory
"""

EXAMPLES = r"""
- name: Write chrony's configuration
  aifactory_files:
    files:
      - path: /etc/chrony/chrony.conf
        content: "{{ lookup('ansible.builtin.template', 'chrony.conf.j2') }}"
        owner: root
        group: root
        mode: "0644"
  notify: Restart chrony

- name: Write the Slurm configuration files, one per key of slurm_conf_files (name to content)
  aifactory_files:
    directory: /etc/slurm
    files: "{{ slurm_conf_files | dict2items(key_name='path', value_name='content') }}"
    owner: root
    group: root
    mode: "0644"
  notify: Reconfigure Slurm

- name: Create the Slurm directories
  aifactory_files:
    files:
      - {path: /var/spool/slurmd, state: directory, owner: slurm, group: slurm, mode: "0755"}
      - {path: /var/log/slurm, state: directory, owner: slurm, group: slurm, mode: "0755"}
"""

RETURN = r"""
changed_paths:
  description: The paths that were (in check mode, would be) created or changed, in the order given.
  type: list
  elements: str
  returned: always
  sample: ["/etc/chrony/chrony.conf"]
"""

import os
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

STATES = ("file", "directory")
KEYS = {"path", "state", "content", "owner", "group", "mode"}
DIFF_MAX_BYTES = 64 * 1024  # larger contents are not shown in a diff, only said to differ


def entry_problems(entries: list) -> list[str]:
    """What is wrong with the entries as given (before anything on the host is read), one line per problem."""
    problems = []
    for i, entry in enumerate(entries):
        where = f"files[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: not a mapping")
            continue
        path, state = entry.get("path"), entry.get("state", "file")
        where = f"{where} ({path})" if isinstance(path, str) else where
        unknown = sorted(set(entry) - KEYS)
        if unknown:
            problems.append(f"{where}: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(KEYS))})")
        if not isinstance(path, str) or not os.path.isabs(path):
            problems.append(f"{where}: path must be absolute, or relative with the module's directory set")
        if state not in STATES:
            problems.append(f"{where}: state must be one of {', '.join(STATES)}, not {state!r}")
        elif state == "file" and not isinstance(entry.get("content"), str):
            problems.append(f"{where}: a file needs its content as text")
        elif state == "directory" and "content" in entry:
            problems.append(f"{where}: a directory has no content")
    return problems


def host_problems(entries: list[dict]) -> list[str]:
    """What on the host stops the entries being kept: the other kind of thing at a path, or in the way of a file's
    directory."""
    problems = []
    for entry in entries:
        path, state = os.path.normpath(entry["path"]), entry.get("state", "file")
        if state == "file" and os.path.isdir(path) and not os.path.islink(path):
            problems.append(f"{path}: a directory is there, where a file is kept")
        elif state == "directory" and os.path.lexists(path) and not os.path.isdir(path):
            problems.append(f"{path}: something other than a directory is there")
        blocking = nearest_existing(os.path.dirname(path))
        if not os.path.isdir(blocking):
            problems.append(f"{path}: {blocking} is not a directory")
    return problems


def nearest_existing(path: str) -> str:
    """The path itself where something is there, else its nearest parent that is."""
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return path


def file_args(entry: dict, path: str) -> dict:
    """The attributes AnsibleModule.set_fs_attributes_if_different compares, from an entry."""
    return {"path": path, "owner": entry.get("owner"), "group": entry.get("group"), "mode": entry.get("mode"),
            "secontext": [None, None, None], "attributes": None}  # the SELinux context left as the host has it


def current_bytes(path: str) -> bytes | None:
    """The file's content, or None where no regular file is at the path (missing, or a symbolic link)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    with open(path, "rb") as f:
        return f.read()


def shown(data: bytes | None) -> str:
    """A content as a diff shows it."""
    if data is None:
        return ""
    if len(data) > DIFF_MAX_BYTES or b"\0" in data:
        return f"({len(data)} bytes, not shown)\n"
    return data.decode("utf-8", errors="replace")


def write_atomically(module: AnsibleModule, path: str, data: bytes) -> None:
    """The content written beside the path and renamed over it; the temporary file never outlives the call."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".aifactory_files.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        module.atomic_move(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def keep_directory(module: AnsibleModule, entry: dict) -> bool:
    """The directory and its missing parents created, each with the entry's attributes; whether anything
    changed."""
    path = entry["path"]
    missing = []
    parent = path
    while not os.path.lexists(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    changed = bool(missing)
    for created in reversed(missing):
        if not module.check_mode:
            os.mkdir(created)
            module.set_fs_attributes_if_different(file_args(entry, created), False)
    if not missing:
        changed = module.set_fs_attributes_if_different(file_args(entry, path), False)
    return changed


def keep_file(module: AnsibleModule, entry: dict, diffs: list[dict]) -> bool:
    """The file's content and attributes put right; whether anything changed (its diff added where asked)."""
    path = entry["path"]
    wanted = entry["content"].encode("utf-8")
    before = current_bytes(path)
    content_changed = before != wanted or os.path.islink(path)
    if content_changed and module._diff:
        diffs.append({"before_header": path, "after_header": path, "before": shown(before), "after": shown(wanted)})
    if content_changed and not module.check_mode:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomically(module, path, wanted)
    if content_changed and module.check_mode and before is None:
        return True  # not there yet: its attributes are given when it is written
    return module.set_fs_attributes_if_different(file_args(entry, path), content_changed)


def with_defaults(entries: list, params: dict) -> list:
    """The entries with the module's directory before their relative paths and its owner, group and mode where
    they name none (anything not a mapping is left for entry_problems to name)."""
    defaults = {k: params[k] for k in ("owner", "group", "mode") if params.get(k) is not None}
    out = []
    for entry in entries:
        if isinstance(entry, dict):
            entry = {**defaults, **entry}
            if params.get("directory") and isinstance(entry.get("path"), str) and not os.path.isabs(entry["path"]):
                entry["path"] = os.path.join(params["directory"], entry["path"])
        out.append(entry)
    return out


def main() -> None:
    module = AnsibleModule(argument_spec={"files": {"type": "list", "elements": "raw", "required": True},
                                          "directory": {"type": "path"}, "owner": {"type": "str"},
                                          "group": {"type": "str"}, "mode": {"type": "raw"}},
                           supports_check_mode=True)
    entries = with_defaults(module.params["files"], module.params)
    problems = entry_problems(entries) or host_problems(entries)
    if problems:
        module.fail_json(msg="; ".join(problems), changed_paths=[])
    changed_paths, diffs = [], []
    for entry in entries:
        state = entry.get("state", "file")
        changed = keep_directory(module, entry) if state == "directory" else keep_file(module, entry, diffs)
        if changed:
            changed_paths.append(entry["path"])
    result = {"changed": bool(changed_paths), "changed_paths": changed_paths}
    if module._diff and diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
