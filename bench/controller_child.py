"""One bring-up of a no-op playbook through `aifactory bringup`'s own runner path, in its own process, with
this process's CPU sampled and attributed: the project's code (aifactory/) or everything else.

    python bench/controller_child.py SITE PLAYBOOK ARTIFACTS OUT_JSON [LIMIT]

Calls `aifactory.node.bringup.run_bringup` (ansible-runner, Progress, the per-stage tally, task results,
secret masking and scrubbing) as `aifactory bringup SITE --playbook PLAYBOOK` does, progress lines going to
/dev/null as to a log. A CPU-time timer (ITIMER_PROF) samples the main thread's stack every SAMPLE_S of
this process's CPU; a sample is the project's when the first frame outside the standard library, walking
out from the running one, is a file under aifactory/ (so json or re called by the project count as its own,
called by ansible-runner as runner's). Writes one JSON object to OUT_JSON.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import sysconfig
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aifactory.node.bringup import BringupOptions, run_bringup  # noqa: E402
from aifactory.spec import load_spec  # noqa: E402

PROJECT = str(Path(__file__).resolve().parent.parent / "aifactory") + os.sep
STDLIB = sysconfig.get_paths()["stdlib"] + os.sep
SITE_PACKAGES = sysconfig.get_paths()["purelib"] + os.sep
SAMPLE_S = 0.002
TOP_FUNCTIONS = 8  # the project's functions with the most samples, kept in the output


def _in_stdlib(filename: str) -> bool:
    return filename.startswith("<") or (filename.startswith(STDLIB) and not filename.startswith(SITE_PACKAGES))


def owner(stack: list[tuple[str, str]]) -> str | None:
    """The project function a sample belongs to ("file:function"), or None: stack is (filename, function)
    pairs from the running frame outwards; the first one outside the standard library decides."""
    for filename, function in stack:
        if _in_stdlib(filename):
            continue
        return f"{filename[len(PROJECT):]}:{function}" if filename.startswith(PROJECT) else None
    return None


class Sampler:
    """Counts CPU-time samples of the main thread: all of them, and the project's by function."""

    def __init__(self):
        self.total = 0
        self.project: Counter[str] = Counter()

    def _sample(self, signum, frame) -> None:
        stack = []
        while frame is not None:
            stack.append((frame.f_code.co_filename, frame.f_code.co_name))
            frame = frame.f_back
        self.total += 1
        where = owner(stack)
        if where:
            self.project[where] += 1

    def __enter__(self) -> Sampler:
        signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, SAMPLE_S, SAMPLE_S)
        return self

    def __exit__(self, *exc) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, signal.SIG_DFL)


def main(site: str, playbook: str, artifacts: str, out: str, limit: str | None = None) -> int:
    factory = load_spec(Path(site))
    with open(os.devnull, "w") as log, Sampler() as sampler:
        result = run_bringup(factory, BringupOptions(playbook=Path(playbook), artifacts_root=Path(artifacts),
                                                     limit=limit), progress_stream=log)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    per_host = {host: sum(counts[k] for k in ("ok", "changed", "failed", "skipped", "unreachable"))
                for host, counts in result.hosts.items()}
    Path(out).write_text(json.dumps({
        "exit_code": result.exit_code, "totals": result.totals,
        "host_tasks": sum(s["tasks"] for s in result.stage_results.values()),
        "stage_tasks": {stage: s["tasks"] for stage, s in result.stage_results.items()},
        "bmc_hosts": sum(1 for h in per_host if h.endswith("-bmc")),
        "node_hosts": sum(1 for h in per_host if not h.endswith("-bmc")),
        "parent_cpu_s": usage.ru_utime + usage.ru_stime, "parent_max_rss_mb": usage.ru_maxrss / 1024,
        "samples": sampler.total, "project_samples": sum(sampler.project.values()),
        "project_top": dict(sampler.project.most_common(TOP_FUNCTIONS)),
        "run_dir": str(result.run_dir),
    }))
    return 0 if result.exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
