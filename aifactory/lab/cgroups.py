"""One cgroup per lab node, so that booted containers never share one.

systemd-nspawn with `--keep-unit --register=no` (needed where the host's PID 1 is not systemd) runs
the container in the caller's cgroup. The container's systemd takes that cgroup as its root, so two
nodes started from the same cgroup would manage the same tree. Each node's supervisor therefore moves
itself into `aifactory-lab/<site>/<node>` in the `name=systemd` and unified (cgroup2) hierarchies
that systemd inside the container uses; `lab down` removes those directories once the node stopped.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

CGROUP_FS = Path("/sys/fs/cgroup")


def hierarchies() -> list[Path]:
    """The hierarchies a container's systemd manages: cgroup2 alone, or name=systemd + unified (hybrid)."""
    if (CGROUP_FS / "cgroup.procs").exists():  # pure cgroup v2
        return [CGROUP_FS]
    return [CGROUP_FS / h for h in ("systemd", "unified") if (CGROUP_FS / h / "cgroup.procs").exists()]


def relative_path(site: str, node: str) -> str:
    return f"aifactory-lab/{site}/{node}"


def enter(rel: str, pid: int) -> None:
    """Create `rel` in every hierarchy and move `pid` into it."""
    for h in hierarchies():
        d = h / rel
        d.mkdir(parents=True, exist_ok=True)
        (d / "cgroup.procs").write_text(f"{pid}\n")


def remove(rel: str) -> None:
    """Remove `rel` and the empty cgroups the container's systemd left under it, deepest first;
    then its parents up to `aifactory-lab/` when nothing else is left in them."""
    for h in hierarchies():
        top = h / rel
        if not top.exists():
            continue
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            d.rmdir()
        top.rmdir()
        parent = top.parent
        while parent != h and not any(p.is_dir() for p in parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def exists(rel: str) -> bool:
    return any((h / rel).exists() for h in hierarchies())


def populated(rel: str) -> bool:
    """Whether any process is left in `rel` or below it."""
    return any(f.read_text().strip() for h in hierarchies() if (h / rel).exists()
               for f in (h / rel).rglob("cgroup.procs"))


def kill(rel: str) -> None:
    """SIGKILL every process in `rel` and below: the supervisor, nspawn and the container's own init,
    which survives its nspawn parent. Uses cgroup.kill where the kernel has it."""
    for h in hierarchies():
        top = h / rel
        if (top / "cgroup.kill").exists():
            (top / "cgroup.kill").write_text("1\n")
            continue
        for procs_file in top.rglob("cgroup.procs") if top.exists() else ():
            for pid in procs_file.read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass


def cpu_seconds(rel: str) -> float:
    """CPU time used so far by every process that ran in `rel` and below (cgroup2 `cpu.stat`)."""
    for h in hierarchies():
        stat = h / rel / "cpu.stat"
        if stat.exists():
            fields = dict(line.split() for line in stat.read_text().splitlines())
            return int(fields["usage_usec"]) / 1e6
    raise FileNotFoundError(f"no cgroup2 cpu.stat for {rel}")
