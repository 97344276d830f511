"""Running one measured child process, and summarising repeated samples."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Sample:
    """One child run: wall time, its CPU (user + system, its waited-for descendants included), peak RSS."""

    wall_s: float
    cpu_s: float
    max_rss_mb: float
    machine_busy_cores: float  # the whole machine's CPU use over the run, in cores (every process, not just this one)
    rc: int
    stdout: str
    stderr: str
    sys_cpu_s: float = 0.0  # the kernel's share of cpu_s
    minor_faults: int = 0  # page faults served without I/O (copy-on-write after a fork among them)


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def run_child(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 1800) -> Sample:
    """Run `cmd` from the repo root and read its own rusage with wait4 (not the process-wide maximum
    that RUSAGE_CHILDREN keeps, which would mix this child with every earlier one). The reading is at
    least the runner's own size when it forks, a floor far below the figures it measures."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        busy_before, total_before = _cpu_jiffies()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **(env or {})}, stdout=out, stderr=err)
        killer = threading.Timer(timeout, proc.kill)  # a hung child ends the sample, not the bench
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - start
        busy_after, total_after = _cpu_jiffies()
        busy_cores = (busy_after - busy_before) / max(total_after - total_before, 1) * (os.cpu_count() or 1)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, busy_cores, proc.returncode,
                      out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                      usage.ru_stime, usage.ru_minflt)


def spread(values: list[float], digits: int = 3) -> dict:
    """median, min and max of repeated measurements, and how many there were."""
    if not values:
        raise ValueError("no measurements")
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "runs": len(values)}
