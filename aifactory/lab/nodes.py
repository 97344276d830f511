"""Lab nodes: booted Debian 13 systemd-nspawn containers (base.py), one per spec node, reached over SSH.

Each node boots an overlay of the shared base root (base.py) with its own upper dir, so the base is
never written. Before boot the node is seeded with its identity: machine-id, hostname, SSH host key,
the lab's authorized key. A supervisor (supervise.py) starts nspawn again when the node reboots.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from aifactory.core.inputs import BadInput, InputFileError, read_text
from aifactory.lab import cgroups, procs
from aifactory.lab.state import LabState

PROCESS_ROLE = "node "  # a node's supervisor process in the lab's state: "node <name>"
BOOT_TIMEOUT_S = 120


class NodeBootError(RuntimeError):
    """A node did not come up; the message names its console log."""


def node_dir(state: LabState, node: str) -> Path:
    return state.dir / "nodes" / node


def ssh_dir(state: LabState) -> Path:
    return state.dir / "ssh"


def lab_key(state: LabState) -> Path:
    """The lab's SSH key pair (private key path), generated once per lab."""
    key = ssh_dir(state) / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"aifactory-lab-{state.site}",
                        "-f", str(key)], check=True)
    return key


def known_hosts(state: LabState) -> Path:
    return ssh_dir(state) / "known_hosts"


def ssh_options(state: LabState) -> list[str]:
    """Options every connection to a lab node uses: the lab key, the lab's known_hosts, strict checking."""
    return ["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts(state)}",
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=3"]


def mount_overlay(state: LabState, base: Path, node: str) -> Path:
    d = node_dir(state, node)
    upper, work, root = d / "upper", d / "work", d / "root"
    for p in (upper, work, root):
        p.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "overlay", f"aifactory-lab-{node}", "-o",
                    f"lowerdir={base},upperdir={upper},workdir={work}", str(root)], check=True)
    state.record("mount", path=str(root))
    return root


def seed(state: LabState, root: Path, node: str, hosts: dict[str, str]) -> None:
    """Give the node its identity and let the lab (only) log in as root."""
    (root / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
    (root / "etc/hostname").write_text(node + "\n")
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n" + "".join(f"{a} {n}\n" for n, a in hosts.items()))
    ssh_root = root / "root/.ssh"
    ssh_root.mkdir(mode=0o700, exist_ok=True)
    (ssh_root / "authorized_keys").write_text(_read_lab_file(Path(str(lab_key(state)) + ".pub")))
    (ssh_root / "authorized_keys").chmod(0o600)
    host_key = root / "etc/ssh/ssh_host_ed25519_key"
    if not host_key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", node, "-f", str(host_key)], check=True)
    pub = _read_lab_file(Path(str(host_key) + ".pub")).split()
    kh = known_hosts(state)
    held = _read_lab_file(kh) if os.path.lexists(kh) else ""
    lines = [ln for ln in held.splitlines() if ln.split()[:1] != [hosts[node]]]
    kh.write_text("".join(f"{ln}\n" for ln in lines) + f"{hosts[node]} {pub[0]} {pub[1]}\n")


def _read_lab_file(path: Path) -> str:
    """A key or known_hosts file the lab wrote, read back as any input (a regular file of bounded size);
    BadInput naming it otherwise."""
    try:
        return read_text(path)
    except InputFileError as err:
        raise BadInput(f"{path}: {err}: remove it (the lab writes it anew)") from None


def nspawn_argv(root: Path, node: str, netns: str, binds: list[str]) -> list[str]:
    argv = ["systemd-nspawn", "--quiet", "-D", str(root), "-M", node, "-b", "--register=no", "--keep-unit",
            f"--network-namespace-path=/run/netns/{netns}", "--resolv-conf=off", "--timezone=off",
            "--link-journal=no"]
    argv += [f"--bind={dev}" for dev in binds]
    return argv + ["systemd.firstboot=off"]


def boot(state: LabState, node: str, root: Path, netns: str, binds: list[str]) -> dict:
    """Start the node under its reboot supervisor; return the recorded process."""
    cgroup = cgroups.relative_path(state.site, node)
    if not any(r["kind"] == "cgroup" and r["path"] == cgroup for r in state.resources):
        state.record("cgroup", path=cgroup)
    argv = [sys.executable, "-m", "aifactory.lab.supervise", cgroup, "--", *nspawn_argv(root, node, netns, binds)]
    ident = procs.spawn(argv, node_dir(state, node) / "console.log")
    state.record("process", role=f"{PROCESS_ROLE}{node}", **ident)
    return ident


def ssh_argv(state: LabState, address: str, *command: str, tty: bool = False) -> list[str]:
    """ssh to a lab node as root with the lab's key and known hosts (a terminal when `tty`)."""
    return ["ssh", *ssh_options(state), *(["-t"] if tty else []), "-i", str(lab_key(state)), f"root@{address}",
            *command]


def ssh(state: LabState, address: str, *command: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(ssh_argv(state, address, *command), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def wait_ssh(state: LabState, node: str, address: str, ident: dict) -> None:
    """Wait until the node answers `ssh true`; fail early if its container exits."""
    def up() -> bool:
        if not procs.alive(ident):
            raise NodeBootError(f"node {node} exited during boot; see {ident['log']}")
        try:
            return ssh(state, address, "true", timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False
    if not procs.wait_until(up, BOOT_TIMEOUT_S, every_s=0.5):
        raise NodeBootError(f"node {node} did not answer SSH at {address} in {BOOT_TIMEOUT_S}s; see {ident['log']}")


def remove_node_files(state: LabState, node: str) -> None:
    """Delete what a node wrote (its overlay's upper layer) and its scratch disk images, keeping its
    console log; never while its root is still mounted. A later lab of the site starts from a clean node."""
    d = node_dir(state, node)
    root = d / "root"
    if any(line.split()[1] == str(root) for line in Path("/proc/mounts").read_text().splitlines()):
        return
    for sub in ("upper", "work", "root"):
        shutil.rmtree(d / sub, ignore_errors=True)
    for image in d.glob("disk*.img"):
        image.unlink()
    # systemd-nspawn's lock of the node's root, left when the node was killed rather than powered off (lab down)
    (d / ".#root.lck").unlink(missing_ok=True)
