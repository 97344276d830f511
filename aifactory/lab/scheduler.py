"""The scheduler step of a lab rehearsal: Slurm on the lab's stand-ins, asked through its own commands.

Run on the head node over SSH after the bring-ups: every node's health check runs once (as slurmd runs
it every HealthCheckInterval); `sinfo` shows every healthy node idle and every node with an injected
fault drained with the failing checks as reason; `srun -N<healthy> hostname` answers from each
healthy node; a batch job completes and appears in `sacct`; `scontrol show topology` shows one block
per rack (NVL72) or one switch per rack under the spine. What the lab's configuration lacks against a
real node's is said in the detail (LAB_DIFFERENCE).
"""

from __future__ import annotations

import math
import subprocess
from collections import Counter
from collections.abc import Callable

from aifactory import scheduler
from aifactory.lab import hardware, nodes, procs
from aifactory.lab.state import LabState
from aifactory.scheduler.health import REASON_PREFIX
from aifactory.spec import Factory

LAB_DIFFERENCE = ("lab configuration: NodeName lines without CPU, memory or Gres figures, gres.conf without devices, "
                  "jobs tracked without cgroups (containers share the lab machine's CPUs and cgroups and have no GPU "
                  "device files)")
SETTLE_S = 90  # slurmd registers within seconds; the bound only guards a node that never does
COMMAND_TIMEOUT_S = 120


class SchedulerCheckFailed(Exception):
    """Slurm in the lab did not do what the step asks of it."""


def node_states(run: Callable[[str], subprocess.CompletedProcess]) -> dict[str, tuple[str, str]]:
    """{node: (compact state, reason)} from `sinfo` (FUTURE nodes are not listed)."""
    out = run("sinfo --noheader --Node --format='%N|%t|%E'").stdout
    states = {}
    for line in out.splitlines():
        name, state, reason = (line.split("|") + ["", ""])[:3]
        states[name.strip()] = (state.strip(), reason.strip())
    return states


def expected_drains(f: Factory, faults: dict[str, list[str]]) -> dict[str, set[str]]:
    """{node: the light checks its faults fail}; a fault only the DCGM diagnostic sees drains nothing."""
    light = scheduler.health_expected(f)
    return {node: fails for node, kinds in faults.items() if (fails := hardware.expected_failures(kinds, light))}


def job_segment(f: Factory, names: list[str]) -> str:
    """The `--segment` option a job over `names` needs: topology/block keeps a job that fits one block
    inside one block (a 4-node job over two racks of 2 free trays waits for ever), so a job across racks
    asks for segments, each inside one rack's NVLink domain (the largest size that splits every rack's
    share evenly; Slurm 24.11). Empty where one rack or a tree suffices."""
    wanted = set(names)
    per_rack = Counter(n.rack for n in f.nodes if n.name in wanted)
    if scheduler.topology_plugin(f) != "topology/block" or len(per_rack) < 2:
        return ""
    return f" --segment={math.gcd(*per_rack.values())}"


def scheduler_outcome(f: Factory, state: LabState, faults: dict[str, list[str]]) -> tuple[str, str]:
    """(passed|failed, detail) of the scheduler step."""
    head = f.head_nodes[0]
    booted = [n.name for n in f.nodes if n.name in state.nodes]

    def run(command: str) -> subprocess.CompletedProcess:
        return nodes.ssh(state, head.address, command, timeout=COMMAND_TIMEOUT_S)

    try:
        return "passed", _check(f, state, run, booted, expected_drains(f, faults))
    except (SchedulerCheckFailed, subprocess.TimeoutExpired) as err:
        return "failed", str(err)


def _check(f: Factory, state: LabState, run, booted: list[str], drains: dict[str, set[str]]) -> str:
    for name in booted:  # the health check, now rather than at slurmd's next interval
        nodes.ssh(state, state.nodes[name]["address"], scheduler.HEALTH_PROGRAM, timeout=COMMAND_TIMEOUT_S)
    healthy = [n for n in booted if n not in drains]
    settled: dict[str, tuple[str, str]] = {}

    def as_expected() -> bool:
        settled.clear()
        settled.update(node_states(run))
        return (all(settled.get(n, ("",))[0] == "idle" for n in healthy)
                and all(settled.get(n, ("",))[0].startswith("drain") for n in drains))
    if not procs.wait_until(as_expected, SETTLE_S, every_s=1):
        raise SchedulerCheckFailed("sinfo: " + ", ".join(f"{n} {settled.get(n, ('not listed',))[0]}" for n in booted))
    for node, checks in drains.items():
        reason = settled[node][1]
        if not reason.startswith(REASON_PREFIX) or set(reason.removeprefix(REASON_PREFIX).split(", ")) != checks:
            raise SchedulerCheckFailed(f"{node} drained with reason {reason!r}, expected the checks {sorted(checks)}")

    # Slurm refuses --segment with --nodelist; the healthy nodes are the only idle ones either way.
    segment = job_segment(f, healthy)
    where = segment or f" --nodelist={scheduler.hostlist(healthy)}"
    srun = run(f"srun --nodes={len(healthy)}{where} --ntasks-per-node=1 hostname")
    if srun.returncode != 0 or sorted(srun.stdout.split()) != sorted(healthy):
        raise SchedulerCheckFailed(f"srun -N{len(healthy)}{segment} hostname: exit {srun.returncode}, answered "
                                   f"{sorted(srun.stdout.split())}: {srun.stderr.strip()[-300:]}")
    batch = run("sbatch --parsable --nodes=1 --wait --wrap='hostname'")
    job = batch.stdout.strip().split(";")[0]
    if batch.returncode != 0 or not job.isdigit():
        raise SchedulerCheckFailed(f"sbatch --wait: exit {batch.returncode}: {batch.stderr.strip()[-300:]}")
    accounted: list[str] = []

    def in_sacct() -> bool:
        accounted[:] = run(f"sacct --noheader --parsable2 --allocations --jobs={job} --format=JobID,State,ExitCode"
                           ).stdout.split()
        return bool(accounted) and accounted[0].split("|")[1] == "COMPLETED"
    if not procs.wait_until(in_sacct, SETTLE_S, every_s=1):
        raise SchedulerCheckFailed(f"sacct: job {job} is {accounted or 'not accounted'}, not COMPLETED")

    topology = [line.split()[0] for line in run("scontrol show topology").stdout.splitlines() if line.strip()]
    racks = sorted({n.rack_group for n in f.nodes if n.name in booted})
    kind = "Block" if scheduler.topology_plugin(f) == "topology/block" else "Switch"
    listed = sorted(t.split("=", 1)[1] for t in topology if t.startswith(f"{kind}Name="))
    if not set(racks) <= set(listed):
        raise SchedulerCheckFailed(f"scontrol show topology: {kind.lower()}s {listed}, expected one per rack {racks}")
    drained = "; ".join(f"{n} drained ({', '.join(sorted(c))})" for n, c in sorted(drains.items()))
    return (f"sinfo: {len(healthy)} healthy nodes idle{'; ' + drained if drained else ''}; srun -N{len(healthy)}"
            f"{segment} hostname answered from each; batch job {job} COMPLETED in sacct; topology: {len(listed)} "
            f"{kind.lower()}s ({', '.join(listed)}); {LAB_DIFFERENCE}")
