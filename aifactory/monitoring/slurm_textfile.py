"""Slurm's state as node exporter textfile metrics: nodes by state and reason, jobs by state, pending reasons.

Debian's Slurm has no metrics endpoint and Debian has no Slurm exporter, so the head node runs this as a program
(a zipapp, `aifactory.monitoring.slurm_program`) from a systemd timer the node_exporter role installs. It reads
`sinfo` and `squeue` and writes `aifactory_slurm.prom` into node exporter's textfile directory, replacing it
atomically; when Slurm does not answer it writes nothing and exits 1, so the file goes stale and
TextfileMetricsStale fires. Parsing and formatting are pure functions over the commands' output. Only the
standard library, `aifactory.monitoring.metrics` and `.textfile` are imported: the zipapp carries nothing else.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from aifactory.core.atomic import write_atomically
from aifactory.monitoring import metrics as m
from aifactory.monitoring import textfile as textfile_format

FILE_NAME = "aifactory_slurm.prom"  # matches metrics.TEXTFILE_NAME: TextfileMetricsStale watches it
SEPARATOR = "|"
# The reason last: it is free text and may hold the separator.
SINFO = ("sinfo", "--noheader", "--Node", f"--format=%N{SEPARATOR}%T{SEPARATOR}%E")
# Every partition, array tasks one per line.
SQUEUE = ("squeue", "--noheader", "--all", "--array", f"--format=%T{SEPARATOR}%r")
# Flags sinfo appends to a long state (not responding, powered down, rebooting, ...).
STATE_FLAGS = "*~#!%$@^-+"
NO_REASON = "none"  # what sinfo and squeue print for no reason
# Job states written even with no job in them, so that "none pending" reads 0.
ALWAYS_JOB_STATES = ("pending", "running")
COMMAND_TIMEOUT = 60  # seconds: slurmctld that does not answer in a minute counts as down


class SlurmOutputError(ValueError):
    """A line of sinfo's or squeue's output that is not in the format asked for."""


@dataclass(frozen=True)
class NodeState:
    node: str
    state: str
    reason: str


def _fields(line: str, count: int, command: str) -> list[str]:
    fields = line.split(SEPARATOR, count - 1)
    if len(fields) != count or not fields[0].strip():
        raise SlurmOutputError(f"{command}: not {count} fields separated by {SEPARATOR!r}: {line!r}")
    return [f.strip() for f in fields]


def _reason(text: str) -> str:
    return "" if text.lower() == NO_REASON else text


def parse_sinfo(text: str) -> list[NodeState]:
    """Each node once (sinfo --Node lists a node once per partition), its state less sinfo's flags."""
    nodes: dict[str, NodeState] = {}
    for line in filter(str.strip, text.splitlines()):
        name, state, reason = _fields(line, 3, "sinfo")
        nodes.setdefault(name, NodeState(name, state.lower().rstrip(STATE_FLAGS), _reason(reason)))
    return sorted(nodes.values(), key=lambda n: n.node)


def parse_squeue(text: str) -> tuple[Counter, Counter]:
    """(jobs by state, pending jobs by reason); a reason's detail after its first comma (the nodes of
    ReqNodeNotAvail) is left out, so that the reasons stay a short list."""
    states: Counter = Counter()
    pending: Counter = Counter()
    for line in filter(str.strip, text.splitlines()):
        state, reason = _fields(line, 2, "squeue")
        states[state.lower()] += 1
        if state.lower() == "pending":
            pending[reason.split(",", 1)[0].strip() or NO_REASON] += 1
    return states, pending


def textfile(nodes: list[NodeState], jobs: Counter, pending: Counter) -> str:
    """The textfile collector's file: every family with its HELP and TYPE, samples sorted."""
    job_states = sorted(set(jobs) | set(ALWAYS_JOB_STATES))
    lines = [
        *textfile_format.family(m.SLURM_NODE_STATE, [({"slurm_node": n.node, "state": n.state, "reason": n.reason}, 1) for n in nodes]),
        *textfile_format.family(m.SLURM_JOBS, [({"state": s}, jobs.get(s, 0)) for s in job_states]),
        *textfile_format.family(m.SLURM_PENDING_JOBS, [({"reason": r}, pending[r]) for r in sorted(pending)]),
    ]
    return "\n".join(lines) + "\n"


def _run(argv: tuple[str, ...]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
    if done.returncode != 0:
        raise OSError(f"{argv[0]} exited {done.returncode}: {done.stderr.strip()[:300]}")
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aifactory-slurm-textfile", description=__doc__.splitlines()[0])
    parser.add_argument("--directory", type=Path, required=True, help="node exporter's textfile directory")
    args = parser.parse_args(argv)
    if not args.directory.is_dir():
        print(f"error: --directory {args.directory}: not a directory", file=sys.stderr)
        return 2
    try:
        nodes = parse_sinfo(_run(SINFO))
        jobs, pending = parse_squeue(_run(SQUEUE))
    except (OSError, subprocess.TimeoutExpired, SlurmOutputError) as err:
        print(f"error: Slurm's state not read, {FILE_NAME} left as it was: {err}", file=sys.stderr)
        return 1
    write_atomically(args.directory / FILE_NAME, textfile(nodes, jobs, pending))
    return 0


if __name__ == "__main__":
    sys.exit(main())
