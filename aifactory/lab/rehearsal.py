"""`aifactory rehearse SPEC`: a whole deployment, offline, against the lab's stand-ins.

Stages: lab up; `aifactory plan --aws-endpoint` against the lab's moto_server; `aifactory bringup`
of the whole site with the inventory pointed at the lab (host overrides); a second bringup that must
change nothing on any host; the acceptance results; lab down, always, also after a failure. Each
stage gets its time and outcome. Plan and bringup run as `aifactory` subprocesses, exactly as a
user would run them, with their JSON output read back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from aifactory.lab import lifecycle
from aifactory.lab.state import LabState
from aifactory.spec import Factory, resolve_spec_path

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
# Credentials for the BMC stand-in (sushy-emulator runs without auth); never real ones.
LAB_BMC_CREDENTIALS = {"AIFACTORY_BMC_USERNAME": "lab", "AIFACTORY_BMC_PASSWORD": "lab-stand-in"}
NOT_IN_LAB = ("GPU driver, Fabric Manager, DCGM diag and kernel-module steps: lab nodes are containers "
              "without accelerators; nspawn loads no kernel module and /proc/sys is read-only")


@dataclass
class Stage:
    name: str
    outcome: str
    seconds: float
    detail: str


@dataclass
class Rehearsal:
    site: str
    stages: list[Stage]

    @property
    def passed(self) -> bool:
        return all(s.outcome != FAILED for s in self.stages)

    def as_dict(self) -> dict:
        return {"site": self.site, "passed": self.passed, "stages": [asdict(s) for s in self.stages]}


class StageFailed(Exception):
    """A stage failed; the rehearsal stops (lab down still runs)."""


def aifactory(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the aifactory CLI as a user would, with this interpreter."""
    return subprocess.run([sys.executable, "-m", "aifactory.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def bringup_result(result: subprocess.CompletedProcess) -> dict:
    """`bringup --format json` output: `hosts` {host: {changed, failures, unreachable, ...}} and,
    when the acceptance stage ran, `acceptance` {host: {passed, ...}}."""
    try:
        data = json.loads(result.stdout)
        data["hosts"].items()
        return data
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise StageFailed(f"bringup exited {result.returncode} without a per-host recap: {' | '.join(tail)}") from None


def rehearse(f: Factory, spec: str, progress: Callable[[str], None] = print, limit: str | None = None) -> Rehearsal:
    report = Rehearsal(f.name, [])
    spec_file = str(resolve_spec_path(spec).resolve())
    inventory = str(Path(f.site_dir) / "aifactory.yml")
    env: dict[str, str] = {}
    last_bringup: dict = {}

    def stage(name: str, work: Callable[[], tuple[str, str]]) -> None:
        progress(f"== {name}")
        start = time.monotonic()
        try:
            outcome, detail = work()
        except (StageFailed, RuntimeError) as err:
            outcome, detail = FAILED, str(err)
        report.stages.append(Stage(name, outcome, round(time.monotonic() - start, 1), detail))
        progress(f"   {outcome}: {detail}")
        if outcome == FAILED:
            raise StageFailed(detail)

    def lab_up():
        state = lifecycle.up(f, lambda line: progress(f"   {line}"))
        env["AIFACTORY_HOST_OVERRIDES"] = str(state.dir / lifecycle.OVERRIDES_FILE)
        env.update(LAB_BMC_CREDENTIALS)
        return PASSED, (f"{len(f.nodes)} nspawn nodes, sushy-emulator at {state.endpoints['bmc']}, "
                        f"moto_server at {state.endpoints['aws']} (stand-ins)")

    def plan():
        state = LabState.load(f.name)
        result = aifactory("plan", spec_file, "--aws-endpoint", state.endpoints["aws"], "--format", "json")
        try:
            data = json.loads(result.stdout)
        except json.JSONDecodeError:
            raise StageFailed(f"plan exited {result.returncode}: {result.stderr.strip()[-300:]}") from None
        if data.get("outputs"):
            outputs = state.dir / "stack-outputs.json"
            outputs.write_text(json.dumps(data["outputs"], indent=2))
            env["AIFACTORY_STACK_OUTPUTS"] = str(outputs)
        s = data["summary"]
        detail = (f"{s['resources']} resources ({s['moto']} created in moto_server), "
                  f"controls {s['controls_passed']} passed / {s['controls_failed']} failed")
        return (PASSED if result.returncode == 0 and data["clean"] else FAILED), detail

    def bringup(second: bool):
        def run():
            args = ["bringup", inventory, "--format", "json"] + (["--limit", limit] if limit else [])
            last_bringup.update(bringup_result(aifactory(*args, env=env)))
            stats = last_bringup["hosts"]
            bad = {h: s for h, s in stats.items() if s.get("failures") or s.get("unreachable")}
            if bad:
                return FAILED, "failed on " + ", ".join(f"{h} ({s})" for h, s in sorted(bad.items()))
            changed = {h: s.get("changed", 0) for h, s in stats.items() if s.get("changed")}
            if second and changed:
                return FAILED, "not idempotent: changed " + ", ".join(f"{h}={n}" for h, n in sorted(changed.items()))
            return PASSED, f"{len(stats)} hosts ok, {sum(changed.values())} changes"
        return run

    def acceptance():
        results = last_bringup.get("acceptance") or {}
        if not results:
            return FAILED, "bringup reported no acceptance results"
        failed = sorted(h for h, r in results.items() if not r.get("passed"))
        return (FAILED if failed else PASSED), (f"{len(results)} hosts; failed: {', '.join(failed)}" if failed
                                                else f"{len(results)} hosts passed")

    try:
        stage("lab up", lab_up)
        stage("plan (AWS side against moto_server)", plan)
        stage("bringup", bringup(second=False))
        stage("bringup again (must change nothing)", bringup(second=True))
        stage("acceptance", acceptance)
        report.stages.append(Stage("GPU / kernel-module steps", SKIPPED, 0.0, NOT_IN_LAB))
    except StageFailed:
        pass
    finally:
        start = time.monotonic()
        progress("== lab down")
        removed = lifecycle.down(f.name, lambda line: progress(f"   {line}"))
        report.stages.append(Stage("lab down", PASSED, round(time.monotonic() - start, 1),
                                   "removed every namespace, link, mount, loop device and process"
                                   if removed else "no lab was up"))
    return report
