"""Mounts: absolute, normal paths clear of the node's system directories (the deny list the scheduler's
state directory shares)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from aifactory.spec.model import Factory
from aifactory.spec.validators.registry import Problem, validator

# Directories a mount may never cover, nor a state directory be (chowned to slurm, mode 0700): the node's
# own system, from the Filesystem Hierarchy Standard 3.0 (chapters 3 and 5) and systemd's file-hierarchy(7),
# with the /var directories the package manager, logging, cron and mail keep their state in and root's ssh
# keys. Their parents are listed with them: a mount on /var hides /var/lib.
SYSTEM_DIRS = ("/etc", "/bin", "/sbin", "/usr", "/var", "/boot", "/root", "/home", "/tmp", "/opt", "/srv", "/run",
               "/var/lib", "/var/log", "/var/cache", "/var/spool", "/var/tmp", "/var/mail", "/var/backups",
               "/var/lib/apt", "/var/lib/dpkg", "/var/lib/systemd", "/var/spool/cron", "/root/.ssh")
# Trees nothing may lie inside: kernel filesystems, the system's own files and root's home.
SYSTEM_TREES = ("/proc", "/sys", "/dev", "/etc", "/bin", "/sbin", "/usr", "/boot", "/root")
LIB_DIR = re.compile(r"/lib[^/]*")  # /lib, /lib32, /lib64, /libx32
# Directories that hold a user's keys wherever they are (ssh(1) ~/.ssh, gpg(1) ~/.gnupg).
KEY_DIRS = (".ssh", ".gnupg")


def normal_mount_point(mount: str) -> str:
    """The directory a mount point names: repeated slashes collapsed, `.` and `..` resolved."""
    return posixpath.normpath(re.sub(r"/+", "/", mount))


def system_directory(normal: str) -> str | None:
    """Why a normalised path is the node's own (a system directory, inside a system tree, or a key
    directory), or None."""
    top = "/" + normal.split("/")[1] if normal != "/" else "/"
    if normal == "/":
        return "is the root filesystem"
    if normal in SYSTEM_DIRS or LIB_DIR.fullmatch(normal):
        return f"is the system directory {normal}"
    if top in SYSTEM_TREES or LIB_DIR.fullmatch(top):
        return f"lies inside the system directory {top}"
    key_dir = next((part for part in normal.split("/") if part in KEY_DIRS), None)
    if key_dir:
        return f"is or lies inside a key directory ({key_dir})"
    return None


@validator()
def mount_points(f: Factory) -> Iterator[Problem]:
    """Mount points are normalised first (`//etc`, `/scratch/../etc` are /etc), then the node's system
    directories are refused; a path not in normal form is refused too, so the roles mount what was checked.

    Fix: Mount storage on a directory of its own such as /scratch or /data/<name>, written in normal form, each
    mount point once."""
    mounts = [("storage.scratch.mount", f.storage.scratch.mount)]
    mounts += [(f"storage.shared.{i}.mount", m.mount) for i, m in enumerate(f.storage.shared)]
    seen: dict[str, str] = {}
    for path, mount in mounts:
        if not mount.startswith("/"):
            yield Problem(path, "must be an absolute path", mount)
            continue
        normal = normal_mount_point(mount)
        reason = system_directory(normal)
        if reason:
            yield Problem(path, f"{reason}: mounting there would break the node; use a directory of its own "
                          "such as /scratch or /data/<name>", mount)
        elif normal != (mount.rstrip("/") or "/"):
            yield Problem(path, f"is not a plain path (repeated '/', '.' or '..'); write it as {normal}", mount)
        if normal in seen:
            yield Problem(path, f"same mount point as {seen[normal]}", mount)
        seen.setdefault(normal, path)
