"""The nodes' shared base root: a Debian tree (RELEASE, SUITE) built once with debootstrap and cached.

Debian 13 "trixie": its Slurm (24.11) has the topology/block plugin the scheduler stage configures;
Debian 12's (22.05) does not.

The cache key is a hash of the suite, mirror and package list, so changing either builds a new base
and an unchanged one is reused by every lab. Each node boots an overlay on top of it (see nodes.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

RELEASE = "debian-13"  # the spec's compute.node_os value a lab node is
SUITE = "trixie"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Debian's packages of what `aifactory monitoring-receiver` imports (pydantic, PyYAML, cryptography, botocore's
# partition data): the lab runs the receiver on its head node with Debian's python3 (aifactory.lab.monitoring).
RECEIVER_PACKAGES = ("python3-pydantic", "python3-yaml", "python3-cryptography", "python3-botocore",
                     "python3-cffi-backend")  # cryptography needs it through a virtual package debootstrap does not resolve
# What a booted node needs: systemd as init, sshd, and python3 for Ansible modules; plus the tools the
# roles drive on a real node (filesystems, block devices, apt with its Python binding). What the roles
# install themselves (mirror.node_installs: time sync, the scheduler) is left out: nodes install it from
# the lab's mirror (mirror.py).
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt", "iproute2",
    "sudo", "ca-certificates", "e2fsprogs", "xfsprogs", "util-linux", "mount", "kmod", "pciutils",
    "parted", "procps", "less",
    # Priority important: on every installed Debian node, so a site's bill of materials leaves it out
    # (aifactory.mirror.bom); debootstrap's minbase does not install it.
    "udev",
    # aifactory's runtime dependencies, for the alert receiver the lab installs on head nodes (lab.monitoring)
    *RECEIVER_PACKAGES,
)
CACHE_ROOT = Path(os.environ.get("AIFACTORY_LAB_CACHE", "/var/cache/aifactory/lab"))


class BaseBuildError(RuntimeError):
    """debootstrap failed; the message names the log to read."""


def configured_mirror(sources: tuple[Path, ...] = (Path("/etc/apt/sources.list"),
                                                    Path("/etc/apt/sources.list.d"))) -> str:
    """The Debian mirror this machine's apt already uses (deb822 or one-line format)."""
    files: list[Path] = []
    for src in sources:
        if src.is_dir():
            files += sorted(p for p in src.iterdir() if p.suffix in (".list", ".sources"))
        elif src.is_file():
            files.append(src)
    for path in files:
        for match in re.finditer(r"(?:URIs:\s*|^deb\s+(?:\[[^]]*\]\s+)?)(\S+/debian)/?\s", path.read_text(), re.M):
            return match.group(1)
    return DEFAULT_MIRROR


def cache_key(mirror: str, packages: tuple[str, ...] = PACKAGES) -> str:
    text = "\n".join([SUITE, mirror, *sorted(packages)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def base_dir(mirror: str) -> Path:
    return CACHE_ROOT / f"{RELEASE}-base-{cache_key(mirror)}"


@contextlib.contextmanager
def cache_lock(progress: Callable[[str], None] = print) -> Iterator[None]:
    """Hold the lab cache's lock while its trees are checked or built: labs started at once (`make test`'s two
    workers) would otherwise build one tree into the same `.building` folder."""
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with (CACHE_ROOT / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"lab cache: another lab is building {CACHE_ROOT}; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_base(progress: Callable[[str], None] = print) -> Path:
    """Return the cached base root, building it first when absent (several minutes, once)."""
    mirror = configured_mirror()
    root = base_dir(mirror)
    if (root / ".aifactory-complete").exists():
        progress(f"base root: cached at {root}")
        return root
    building = root.with_name(root.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    log = root.with_name(root.name + ".log")
    progress(f"base root: debootstrap {SUITE} from {mirror} into {building} (log {log}; a few minutes, once)")
    cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(building), mirror]
    with log.open("w") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
    if rc != 0:
        raise BaseBuildError(f"debootstrap exited {rc}; see {log}")
    _prepare(building)
    (building / ".aifactory-complete").write_text(cache_key(mirror) + "\n")
    building.rename(root)
    progress(f"base root: built {root}")
    return root


def _prepare(root: Path) -> None:
    """Make the tree a neutral template: no identity of its own, nothing to ask at first boot."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    (root / "etc/hostname").write_text("localhost\n")
    # The node root logs in with the lab's key only.
    (root / "etc/ssh/sshd_config.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/ssh/sshd_config.d/aifactory-lab.conf").write_text(
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n")
    # Nothing inside a container may touch the console's getty or wait on udev-settled hardware.
    for unit in ("getty@tty1.service", "console-getty.service", "systemd-udev-settle.service"):
        (root / "etc/systemd/system" / unit).unlink(missing_ok=True)
        (root / "etc/systemd/system" / unit).symlink_to("/dev/null")
    apt_clean = root / "var/cache/apt/archives"
    for deb in apt_clean.glob("*.deb"):
        deb.unlink()
