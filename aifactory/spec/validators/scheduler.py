"""The scheduler: partitions Slurm accepts, a Slurm on the node OS with the plugins used, shared state."""

from __future__ import annotations

import re
from collections.abc import Iterator

from aifactory.spec.model import Factory
from aifactory.spec.validators.registry import Problem, validator
from aifactory.spec.validators.storage import normal_mount_point, system_directory

# Slurm as each node OS ships it (the scheduler stage installs the distribution's packages). Sources:
# packages.debian.org slurm-wlm (bookworm 22.05.8, trixie 24.11.5); packages.ubuntu.com slurm-wlm
# (jammy 21.08.5, noble 23.11.4).
SLURM_RELEASES = {"debian-12": (22, 5), "debian-13": (24, 11), "ubuntu-22.04": (21, 8), "ubuntu-24.04": (23, 11)}
# cgroup/v2 (slurm 22.05 release notes), topology/block (slurm 23.11 release notes).
SLURM_CGROUP_V2, SLURM_TOPOLOGY_BLOCK = (22, 5), (23, 11)
SLURM_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
# Slurm's limits on the values the spec puts in slurm.conf; past one, slurmctld refuses the file or reads
# another value. Sources: slurm.conf(5) and the SchedMD/slurm parser (src/common) that reads the file.
# PartitionName=DEFAULT sets the defaults of the partition lines after it (slurm.conf(5) PartitionName;
# compared without case, read_config.c): a partition of that name would be no partition.
SLURM_RESERVED_PARTITION = "default"
# MaxTime: minutes, which time_str2secs (parse_time.c) turns into seconds in a C int; past this it wraps.
SLURM_MAX_TIME_MINUTES = (2**31 - 1) // 60
# MaxNodes: a uint32 (s_p_handle_uint32, parse_value.c); 2**32 - 1 is UNLIMITED (slurm.conf(5): "represented
# internally as -1"), a larger number is refused.
SLURM_MAX_NODES = 2**32 - 2
# StateSaveLocation: slurmctld writes `<dir>/hash.N/job.ID/environment` (job_mgr.c), a path Linux limits to
# PATH_MAX (4096 with its NUL, limits.h), each name in it to NAME_MAX (255).
SLURM_STATE_FILE = "/hash.9/job.4294967295/environment"
PATH_MAX, NAME_MAX = 4096, 255


@validator()
def scheduler_partitions(f: Factory) -> Iterator[Problem]:
    """Partitions have Slurm-safe unique names (never Slurm's reserved `default`), exactly one is the default,
    they name racks the factory has, and their limits are ones Slurm reads.

    Fix: Give each partition a unique lowercase name other than `default`, mark exactly one `default: true`,
    list only racks 1 to compute.racks (or `all`), and keep max_time_minutes and max_nodes within Slurm's
    limits (or leave them out)."""
    sched = f.scheduler
    if sched.kind == "none":
        return
    if not sched.partitions:
        yield Problem("scheduler.partitions", "needs at least one partition (the default: `- {name: batch, default: true}`)",
                      "[]")
    seen: set[str] = set()
    for i, part in enumerate(sched.partitions):
        if not SLURM_NAME.fullmatch(part.name):
            yield Problem(f"scheduler.partitions.{i}.name", "must start with a lowercase letter, then lowercase "
                          "letters, digits, '_' or '-', at most 40 characters", part.name)
        elif part.name == SLURM_RESERVED_PARTITION:
            yield Problem(f"scheduler.partitions.{i}.name", "is Slurm's reserved name: `PartitionName=DEFAULT` "
                          "sets the defaults of other partitions (slurm.conf(5)); choose another name", part.name)
        elif part.name in seen:
            yield Problem(f"scheduler.partitions.{i}.name", "is already the name of another partition; rename one",
                          part.name)
        seen.add(part.name)
        if part.racks == "all":
            continue
        if not part.racks:
            yield Problem(f"scheduler.partitions.{i}.racks", "lists no rack; name racks or write `all`", "[]")
        for j, rack in enumerate(part.racks):
            if not 1 <= rack <= f.compute.racks:
                yield Problem(f"scheduler.partitions.{i}.racks.{j}", f"no such rack: the factory has racks 1 to "
                              f"{f.compute.racks} (compute.racks)", rack)
        if len(set(part.racks)) != len(part.racks):
            yield Problem(f"scheduler.partitions.{i}.racks", "names a rack twice", part.racks)
    yield from _partition_counts(sched.partitions)
    defaults = [p.name for p in sched.partitions if p.default]
    if sched.partitions and len(defaults) != 1:
        yield Problem("scheduler.partitions", "exactly one partition must be `default: true` (where jobs go without "
                      f"--partition); {len(defaults)} are", ", ".join(defaults) or "none")


def _partition_counts(partitions) -> Iterator[Problem]:
    """MaxTime and MaxNodes within what Slurm reads (SLURM_MAX_TIME_MINUTES, SLURM_MAX_NODES)."""
    for i, part in enumerate(partitions):
        if part.max_time_minutes is not None and part.max_time_minutes > SLURM_MAX_TIME_MINUTES:
            yield Problem(f"scheduler.partitions.{i}.max_time_minutes", f"Slurm reads at most "
                          f"{SLURM_MAX_TIME_MINUTES} minutes (a larger MaxTime wraps); leave it out for no limit",
                          part.max_time_minutes)
        if part.max_nodes is not None and part.max_nodes > SLURM_MAX_NODES:
            yield Problem(f"scheduler.partitions.{i}.max_nodes", f"Slurm reads at most {SLURM_MAX_NODES} "
                          "(a 32-bit count); leave it out for no limit", part.max_nodes)


@validator()
def scheduler_fits_node_os(f: Factory) -> Iterator[Problem]:
    """The node OS's Slurm has the plugins the generated configuration uses.

    Fix: Choose a compute.node_os whose Slurm is new enough (ubuntu-24.04 or debian-13), or set scheduler.kind:
    none."""
    release = SLURM_RELEASES.get(f.compute.node_os)
    if f.scheduler.kind == "none" or release is None:
        return
    shipped = f"{f.compute.node_os} ships Slurm {release[0]}.{release[1]:02d}"
    if release < SLURM_CGROUP_V2:
        yield Problem("compute.node_os", f"{shipped}, without cgroup/v2 (Slurm 22.05 or later): use a newer OS, or "
                      "scheduler.kind: none", f.compute.node_os)
    elif f.platform.nvlink_domain == "rack" and release < SLURM_TOPOLOGY_BLOCK:
        yield Problem("compute.node_os", f"{shipped}, without topology/block (Slurm 23.11 or later), which keeps a "
                      f"job inside one {f.platform.title} NVLink domain: use ubuntu-24.04 or debian-13, or "
                      "scheduler.kind: none", f.compute.node_os)


@validator()
def scheduler_state_shared(f: Factory) -> Iterator[Problem]:
    """Both controllers read one state: with a backup, scheduler.state_dir lies on a shared mount.

    Fix: Put scheduler.state_dir on a storage.shared mount, or set scheduler.backup_controller: false."""
    sched = f.scheduler
    state = normal_mount_point(sched.state_dir)
    if not sched.state_dir.startswith("/"):
        yield Problem("scheduler.state_dir", "must be an absolute path", sched.state_dir)
    elif sched.kind == "slurm" and sched.backup_controller and not any(
            state == m or state.startswith(m.rstrip("/") + "/")
            for m in (normal_mount_point(s.mount) for s in f.storage.shared)):
        yield Problem("scheduler.state_dir", "must lie on a storage.shared mount when scheduler.backup_controller is "
                      "true: the backup slurmctld takes over from the state the primary wrote", sched.state_dir)


@validator()
def scheduler_state_dir(f: Factory) -> Iterator[Problem]:
    """The controllers chown scheduler.state_dir to slurm with mode 0700: a plain path of its own, never a
    system directory (storage.SYSTEM_DIRS, which lists their parents too) or a key directory, short enough
    for the files slurmctld writes in it.

    Fix: Use a directory of its own, written in normal form, such as /var/spool/slurmctld."""
    state = f.scheduler.state_dir
    if not state.startswith("/"):
        return
    normal = normal_mount_point(state)
    reason = system_directory(normal)
    if reason:
        yield Problem("scheduler.state_dir", f"{reason}: the controllers would give it to the slurm user with mode "
                      "0700; use a directory of its own such as /var/spool/slurmctld", state)
    elif normal != (state.rstrip("/") or "/"):
        yield Problem("scheduler.state_dir", f"is not a plain path (repeated '/', '.' or '..'); write it as {normal}",
                      state)
    elif (len(normal.encode()) + len(SLURM_STATE_FILE) >= PATH_MAX
          or any(len(name.encode()) > NAME_MAX for name in normal.split("/"))):
        yield Problem("scheduler.state_dir", f"is too long for the files slurmctld writes in it: at most "
                      f"{PATH_MAX - 1 - len(SLURM_STATE_FILE)} characters, each name at most {NAME_MAX}", state)


@validator(level="warning")
def scheduler_partition_limits(f: Factory) -> Iterator[Problem]:
    """A partition's max_nodes above the nodes it holds limits nothing.

    Fix: Lower scheduler.partitions[].max_nodes to the nodes the partition holds, or leave it out."""
    if f.scheduler.kind == "none":
        return
    for i, part in enumerate(f.scheduler.partitions):
        racks = f.compute.racks if part.racks == "all" else len(set(part.racks))
        held = racks * f.nodes_per_rack
        if part.max_nodes is not None and part.max_nodes > held:
            yield Problem(f"scheduler.partitions.{i}.max_nodes", f"the partition holds {held} nodes; a larger limit "
                          "limits nothing (lower it or leave it out)", part.max_nodes)
