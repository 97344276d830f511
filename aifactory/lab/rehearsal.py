"""`aifactory rehearse SPEC`: a whole deployment, offline, against the lab's stand-ins.

Stages: lab up (every node gets an empty loop-device scratch disk); `aifactory plan --aws-endpoint`
against the lab's moto_server; `aifactory bringup` of the whole site with the inventory pointed at
the lab (host overrides); a second bringup that must change nothing on any host; the acceptance
verdicts the acceptance role wrote per host (`incomplete` on stand-ins: the checks that need hardware
could not run, which does not fail the rehearsal; a failed check does); the steps the lab cannot run,
reported as skipped from those results (never faked); the AWS link; Slurm on the nodes when the spec
has a scheduler (aifactory.lab.scheduler: sinfo, srun, sbatch and sacct on the head node); then, through
that Slurm, the performance tiers (aifactory.lab.performance: tray, rack, cross-rack, judged against the
catalog's thresholds, a failing tier isolated to its tray) and the signed certificate of it all; where the spec
enables monitoring, the alerts the head node's Prometheus raised (aifactory.lab.monitoring: exactly those of the
injected faults; none for five minutes without faults; then those of the faults injected in service, with the
alert receiver's drains read back from Slurm); lab down,
always, also after a failure, checked to leave nothing.
A failed build stage (lab up, plan, either bring-up) stops the rehearsal; the verdict stages after the
bring-ups (acceptance, the skipped steps, the AWS link, the scheduler, performance) each judge the same brought-up lab, so
all of them run and report even when one fails: with an injected fault, acceptance fails naming the node and
its check, and the scheduler stage shows Slurm draining that node for it.
Each stage gets its time and outcome. Plan and bringup run as `aifactory` subprocesses, exactly as
a user would run them, with their JSON output read back; bringup's plays are shown as they start.
The report also says, per bring-up stage, its wall seconds, how many host-tasks ran, changed, failed and
were skipped and which steps the roles reported as not run (with the reason), and, per acceptance check, on how
many hosts it passed, failed or could not run, and whether it ran against a stand-in tool.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from aifactory.core.inputs import InputFileError
from aifactory.node.acceptance_gate import ended_well, judge, read_verdict
from aifactory.lab import aws, lifecycle, network, reached
from aifactory.lab.state import LabState
from aifactory.node.parsers.acceptance import WITHOUT_KERNEL
from aifactory.lab import monitoring as monitoring_lab
from aifactory.lab import performance as performance_lab
from aifactory.lab import scheduler as scheduler_lab
from aifactory.spec import Factory, resolve_spec_path

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
# Acceptance on stand-ins: nothing failed, but the checks that need hardware could not run. Truthful,
# and not a failure of the rehearsal, whose hosts are stand-ins.
INCOMPLETE = "incomplete"
# The scheduler stage's munge key and accounting database password on the lab's stand-ins: lab-only
# values (a real factory generates its own once), handled as secrets all the same (docs/scheduler.md).
LAB_SCHEDULER_SECRETS = {"AIFACTORY_MUNGE_KEY": "aifactory-lab-stand-in-munge-key-" + "0123456789abcdef" * 4,
                         "AIFACTORY_SLURMDBD_DB_PASSWORD": "aifactory-lab-stand-in-slurmdbd"}
# Credentials for the BMC stand-in (sushy-emulator runs without auth) and the scheduler's; never real ones.
LAB_BMC_CREDENTIALS = {"AIFACTORY_BMC_USERNAME": "lab", "AIFACTORY_BMC_PASSWORD": "lab-stand-in",
                       **LAB_SCHEDULER_SECRETS}
NOT_IN_LAB = ("lab nodes are containers without accelerators or RDMA devices; nspawn loads no kernel module")
# The activation code the lab's SSM agent stand-in registers with: a secret like a site's (environment
# only, never in output, logs or artifacts), made per rehearsal; the stand-in checks nothing with it.
SSM_CODE_ENV = "AIFACTORY_SSM_ACTIVATION_CODE"
# A failed acceptance check does not fail its host in the bring-ups (the second still runs on every host):
# the acceptance stage judges the verdicts the role wrote, and names each failed node and check.
REHEARSAL_EXTRA_VARS = {"acceptance_fail_on_failure": False}
# Acceptance checks that depend on the AWS stack outputs (the node side of the AWS link).
AWS_LINK_CHECKS = ("bedrock_dns", "bedrock_https")


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
    # The first bring-up's per-stage results (`bringup --format json`'s stage_results) and its run directory.
    bringup_stages: dict = field(default_factory=dict)
    bringup_artifacts: str = ""
    # The second bring-up's (the one that must change nothing) per-stage results, the same way.
    again_stages: dict = field(default_factory=dict)
    # Per acceptance check: {pass, fail, skipped: host counts, stand_in: hosts where it ran on a stand-in tool}.
    checks: dict = field(default_factory=dict)
    # What the nodes reached beyond the factory's network (aifactory.lab.reached), one entry per address and port.
    reached: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(s.outcome != FAILED for s in self.stages)

    def as_dict(self) -> dict:
        return {"site": self.site, "passed": self.passed, "stages": [asdict(s) for s in self.stages],
                "bringup_stages": self.bringup_stages, "bringup_artifacts": self.bringup_artifacts,
                "bringup_again_stages": self.again_stages,
                "acceptance_checks": self.checks, "reached": self.reached}


class StageFailed(Exception):
    """A build stage failed; the rehearsal stops (lab down still runs)."""


def aifactory(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the aifactory CLI as a user would, with this interpreter."""
    return subprocess.run([sys.executable, "-m", "aifactory.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def aifactory_streaming(*args: str, env: dict, progress: Callable[[str], None]) -> subprocess.CompletedProcess:
    """Run the aifactory CLI as `aifactory()` does, showing its plays and failures as they come."""
    return run_streaming([sys.executable, "-m", "aifactory.cli", *args], progress, env)


def run_streaming(argv: list[str], progress: Callable[[str], None], env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `argv`, passing each PLAY and FAILED/UNREACHABLE line of its stderr (bringup's progress) on as
    it comes; stdout (the JSON result) is returned whole."""
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("PLAY ") or line.strip().startswith(("FAILED:", "UNREACHABLE:")):
                progress(f"   {line.strip()}")
        proc.wait()
        out.seek(0)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), "".join(lines))


def check_table(results: dict[str, dict | None]) -> dict[str, dict]:
    """{check: {pass, fail, skipped: host counts, stand_in: hosts where it ran against a stand-in tool}}."""
    out: dict[str, dict] = {}
    for r in results.values():
        for c in (r or {}).get("checks", []):
            row = out.setdefault(c["name"], {"pass": 0, "fail": 0, "skipped": 0, "stand_in": 0})
            row[c["status"]] = row.get(c["status"], 0) + 1
            row["stand_in"] += 1 if c.get("stand_in") else 0
    return dict(sorted(out.items()))


def situation_phrase(data: dict) -> str:
    """What decided the drivers stage's batches, from `bringup --format json`'s situation."""
    slurm = (data.get("situation") or {}).get("slurm")
    return str(slurm.get("summary")) if isinstance(slurm, dict) else "Slurm not asked"


def bringup_result(result: subprocess.CompletedProcess) -> dict:
    """`bringup --format json` output: `hosts` {host: {ok, changed, failed, unreachable, ...}}, `artifacts`."""
    try:
        data = json.loads(result.stdout)
        data["hosts"].items()
        return data
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise StageFailed(f"bringup exited {result.returncode} without a per-host recap: {' | '.join(tail)}") from None


def failure_lines(progress: str, limit: int = 5) -> list[str]:
    """The FAILED/UNREACHABLE lines of bringup's progress output (host, task, message)."""
    lines = [ln.strip() for ln in progress.splitlines() if ln.strip().startswith(("FAILED:", "UNREACHABLE:"))]
    return lines[:limit]


def read_acceptance(results_dir: Path, hosts: list[str]) -> dict[str, dict | None]:
    """The acceptance role's verdict per host (`<dir>/<host>.json`, `evaluate()`'s format), None where it
    wrote none. Each is read as any input (a regular file of bounded size); StageFailed names one that is not
    a verdict."""
    out: dict[str, dict | None] = {}
    for host in hosts:
        path = results_dir / f"{host}.json"
        try:
            out[host] = read_verdict(path)
        except InputFileError as err:
            raise StageFailed(f"{path}: not an acceptance verdict ({err})") from None
    return out


def skipped_checks(results: dict[str, dict | None], names: Callable[[str], bool]) -> dict[str, str]:
    """{check: reason} for checks the acceptance role reported as skipped on some host."""
    return {c["name"]: c.get("reason", "") for r in results.values() if r
            for c in r.get("checks", []) if c["status"] == SKIPPED and names(c["name"])}


def lab_explains(check: dict) -> bool:
    """A check the lab cannot run: it needs a kernel the lab's containers do not have (the gate's reading too)."""
    return check["reason"].startswith(WITHOUT_KERNEL)


def awslink_outcome(stage_results: dict, results: dict[str, dict | None]) -> tuple[str, str]:
    """The AWS link stage of a rehearsal, from the bring-up's `awslink` tally and the acceptance verdicts:
    passed when its tasks ran with no step reported not run and every node passed the Bedrock checks
    through the private endpoint name; failed otherwise, naming what did not run or pass."""
    tally = stage_results.get("awslink")
    if not tally or not tally.get("tasks"):
        return FAILED, "the awslink stage ran no task"
    problems = [f"not run: {n['step']} ({', '.join(n['hosts'])})" for n in tally.get("not_run", [])]
    checks = {h: {c["name"]: c for c in (r or {}).get("checks", [])} for h, r in results.items()}
    for host, by_name in sorted(checks.items()):
        for name in AWS_LINK_CHECKS:
            c = by_name.get(name)
            if c is None or c["status"] != "pass":
                problems.append(f"{host}: {name} {c['status'] + ' (' + c.get('reason', '') + ')' if c else 'no result'}")
    ran = (f"{tally['tasks']} host-task results ({tally['changed']} changed, {tally['skipped']} skipped by their "
           f"conditions)")
    if problems:
        return FAILED, f"{ran}; " + "; ".join(problems)
    return PASSED, (f"{ran}, no step left out; {', '.join(AWS_LINK_CHECKS)} passed through the private endpoint "
                    f"names on {', '.join(sorted(checks))}")


def acceptance_outcome(results: dict[str, dict | None], exit_code: int = 0) -> tuple[str, str]:
    """The acceptance stage of a rehearsal, the acceptance gate (aifactory.node.acceptance_gate) over
    every node: failed on a missing result, a failed check, or a check that could not run for a reason
    the lab does not explain (lab_explains: a kernel its containers do not have); incomplete when only
    that kept checks from running; passed when every check passed. `exit_code` is the bring-up's. The detail gives each host's counts and names the checks that
    could not run, and why."""
    if not results:
        return FAILED, "no node ran acceptance"
    gate = judge(exit_code, results, results)
    hosts = "; ".join(f"{h} {r['result']} ({r['counts']['pass']} passed, {r['counts']['fail']} failed, "
                      f"{r['counts']['skipped']} could not run)" if r else f"{h} no result"
                      for h, r in sorted(results.items()))
    missing = sorted(h for h, r in results.items() if r is None)
    failed = {f"{h}: {c['name']} ({c['reason']})" for h, r in results.items() if r
              for c in r["checks"] if c["status"] == "fail"}
    unexplained = {f"{h}: {c['name']} ({c['reason']})" for h, r in results.items() if r
                   for c in r["checks"] if c["status"] == SKIPPED and not lab_explains(c)}
    if not gate.passed:
        problems = ([f"no result from {', '.join(missing)}"] if missing else []) + sorted(failed) + \
            [f"could not run, not explained by the lab: {u}" for u in sorted(unexplained)] + \
            ([] if ended_well(exit_code) else [f"the bring-up exited {exit_code}"])
        return FAILED, f"{hosts}; {'; '.join(problems)}"
    reasons: dict[str, set[str]] = {}
    for r in results.values():
        for c in r["checks"]:
            if c["status"] == SKIPPED:
                reasons.setdefault(c["reason"], set()).add(c["name"])
    if not reasons:
        return PASSED, hosts
    could_not = "; ".join(f"{', '.join(sorted(names))}: {why}" for why, names in sorted(reasons.items()))
    return INCOMPLETE, f"{hosts}; could not run on the lab's stand-ins: {could_not}"


def rehearse(f: Factory, spec: str, progress: Callable[[str], None] = print, limit: str | None = None,
             trays_per_rack: int | None = None, strategy: str | None = None,
             faults: dict[str, list[str]] | None = None, in_service: dict[str, list[str]] | None = None) -> Rehearsal:
    """Run every stage in order, stop at the first failed build stage (the verdicts all run), and always
    remove the lab it brought up.
    Both bring-ups run with `strategy` (`aifactory bringup --strategy`; None: ansible.cfg's). `faults` are in the
    nodes' hardware from lab up; `in_service` faults appear in the monitoring stage (aifactory.lab.monitoring)."""
    report = Rehearsal(f.name, [])
    spec_file = str(resolve_spec_path(spec).resolve())
    node_names = [n.name for n in f.nodes]
    env: dict[str, str] = {**LAB_BMC_CREDENTIALS, SSM_CODE_ENV: f"lab-{secrets.token_urlsafe(15)}",
                           **(monitoring_lab.secrets() if f.monitoring.enabled else {})}
    ctx: dict = {"bringup": {}, "acceptance": {}}

    def stage(name: str, work: Callable[[], tuple[str, str]], stops: bool = True) -> None:
        """Run one stage and record it; a failed stage that `stops` ends the rehearsal."""
        progress(f"== {name}")
        start = time.monotonic()
        try:
            outcome, detail = work()
        except (StageFailed, RuntimeError, OSError, ValueError) as err:
            outcome, detail = FAILED, str(err)
        report.stages.append(Stage(name, outcome, round(time.monotonic() - start, 1), detail))
        progress(f"   {outcome}: {detail}")
        if outcome == FAILED and stops:
            raise StageFailed(detail)

    def lab_up():
        state = lifecycle.up(f, lambda line: progress(f"   {line}"), scratch_disks=lifecycle.SCRATCH_DISKS,
                             trays_per_rack=trays_per_rack, faults=faults)
        ctx["state"] = state
        ctx["results_dir"] = state.dir / "acceptance"
        shutil.rmtree(ctx["results_dir"], ignore_errors=True)  # a previous lab's results are not this one's
        return PASSED, (f"{sum(n.name in state.nodes for n in f.nodes)} of {len(f.nodes)} nodes as nspawn containers with {lifecycle.SCRATCH_DISKS} empty scratch disk each, "
                        f"sushy-emulator at {state.endpoints['bmc']}, "
                        f"moto_server at {state.endpoints['aws']} (stand-ins)")

    def plan():
        outputs = aws.stack_outputs_path(ctx["state"])
        result = aifactory("plan", spec_file, "--aws-endpoint", ctx["state"].endpoints["aws"], "--format", "json",
                           "--stack-outputs", str(outputs))
        try:
            data = json.loads(result.stdout)
            s = data["summary"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise StageFailed(f"plan exited {result.returncode}: {result.stderr.strip()[-300:]}") from None
        detail = (f"{s['resources']} resources ({s['moto']} created in moto_server, {s['api_model']} checked against "
                  f"the AWS API's model, {s['mock_only']} mock only), "
                  f"controls {s['controls_passed']} passed / {s['controls_failed']} failed")
        if data.get("errors"):
            detail += "; errors: " + " | ".join(data["errors"][:3])
        # Its stack outputs (the lab's DNS stand-in answers their endpoint names) go to both bring-ups.
        mock = sorted(name for name, o in (data.get("outputs") or {}).items() if o["mock_only"])
        detail += f"; stack outputs in {outputs.name}" + (f" ({', '.join(mock)} of mock-only resources)" if mock else "")
        return (PASSED if result.returncode == 0 and data.get("clean") else FAILED), detail

    def bringup(second: bool):
        def run():
            args = ["bringup", spec_file, "--format", "json",
                    "--host-overrides", str(ctx["state"].dir / lifecycle.OVERRIDES_FILE),
                    "--stack-outputs", str(aws.stack_outputs_path(ctx["state"])),
                    "--extra-vars", json.dumps({"acceptance_results_dir": str(ctx["results_dir"]),
                                                **REHEARSAL_EXTRA_VARS}),
                    "--artifacts-dir", str(ctx["state"].dir / "bringup")]
            result = aifactory_streaming(*args, *(["--limit", limit] if limit else []),
                                         *(["--strategy", strategy] if strategy else []), env=env, progress=progress)
            data = bringup_result(result)
            ctx["bringup"] = data
            if not second:
                ctx["brought_up_at"] = time.time()  # the factory's monitoring runs from here
                report.bringup_stages = data.get("stage_results") or {}
                report.bringup_artifacts = str(data.get("artifacts") or "")
            else:
                report.again_stages = data.get("stage_results") or {}
            stats = data["hosts"]
            bad = sorted(h for h, s in stats.items() if s.get("failed") or s.get("unreachable"))
            # Exit 3 (acceptance incomplete) is expected on stand-ins; the acceptance stage judges it.
            if bad or not ended_well(data.get("exit_code", result.returncode)):
                why = failure_lines(result.stderr) or [f"status {data.get('status')}, rc {data.get('rc')}"]
                return FAILED, (f"failed on {', '.join(bad) or 'the run'}: {' | '.join(why)}; "
                                f"artifacts {data.get('artifacts')}")
            changed = {h: s["changed"] for h, s in stats.items() if s.get("changed")}
            if second and changed:
                tasks = data.get("changed_tasks") or {}
                return FAILED, "not idempotent: changed " + "; ".join(
                    f"{h}={n} ({', '.join(tasks.get(h, [])) or 'tasks not recorded'})" for h, n in sorted(changed.items()))
            return PASSED, f"{len(stats)} hosts ok, {sum(changed.values())} changes; {situation_phrase(data)}"
        return run

    def acceptance():
        ran = [h for h in ctx["bringup"]["hosts"] if h in node_names]
        results = ctx["acceptance"] = read_acceptance(ctx["results_dir"], ran)
        report.checks = check_table(results)
        return acceptance_outcome(results, ctx["bringup"]["exit_code"])

    def reported_skipped(names: Callable[[str], bool], why: str):
        def run():
            skipped = skipped_checks(ctx["acceptance"], names)
            if not skipped:
                return PASSED, "no check skipped"
            reasons = sorted(set(skipped.values()))
            return SKIPPED, f"{', '.join(sorted(skipped))}: {'; '.join(reasons)} ({why})"
        return run

    def air_gap():
        hosts = {**{n.address: n.name for n in f.nodes}, **{h.address: h.name for h in f.head_nodes}}
        outcome, detail, found = reached.air_gap_outcome(ctx["state"], str(network.gateway(f.network.host_cidr).ip),
                                                         hosts)
        report.reached = [r.as_dict() for r in found]
        return outcome, detail

    try:
        stage("lab up", lab_up)
        stage("plan (AWS side against moto_server)", plan)
        stage("bringup", bringup(second=False))
        stage("bringup again (must change nothing)", bringup(second=True))
        # The verdicts on the brought-up lab: each runs, whatever the one before found.
        stage("acceptance", acceptance, stops=False)
        stage("GPU / kernel-module steps", reported_skipped(lambda c: c not in AWS_LINK_CHECKS, NOT_IN_LAB), stops=False)
        stage("AWS link (node side)", lambda: awslink_outcome(report.bringup_stages, ctx["acceptance"]), stops=False)
        if f.head_nodes:
            stage("scheduler (Slurm on the nodes)", lambda: scheduler_lab.scheduler_outcome(f, ctx["state"], faults or {}),
                  stops=False)
            stage("performance", lambda: performance_lab.performance_outcome(f, ctx["state"], ctx["results_dir"],
                                                                             ctx["acceptance"]), stops=False)
            if f.monitoring.enabled:
                stage("monitoring", lambda: monitoring_lab.monitoring_outcome(
                    f, ctx["state"], faults or {}, report.bringup_stages, ctx["brought_up_at"], in_service or {},
                    inject=lambda injected: lifecycle.inject_faults(f, ctx["state"], injected),
                    progress=lambda line: progress(f"   {line}")), stops=False)
        stage("air gap (what the nodes reached)", air_gap, stops=False)
    except StageFailed:
        pass
    finally:
        if "state" in ctx:
            lab_down(f.name, report, progress)
        else:  # never remove a lab this rehearsal did not bring up (one already up); a failed up cleans itself
            report.stages.append(Stage("lab down", SKIPPED, 0.0, "no lab of this rehearsal to remove"))
    return report


def lab_down(site: str, report: Rehearsal, progress: Callable[[str], None]) -> None:
    """Remove the lab and check that every resource it recorded is gone."""
    start = time.monotonic()
    progress("== lab down")
    state = LabState.load(site)
    recorded = list(state.resources) if state else []
    removed = lifecycle.down(site, lambda line: progress(f"   {line}"))
    left = [f"{r['kind']} {lifecycle.resource_id(r)}" for r in recorded if lifecycle.resource_present(r)]
    outcome = FAILED if left else PASSED
    detail = (f"left behind: {', '.join(left)}" if left else
              f"removed {len(recorded)} namespaces, links, mounts, loop devices, cgroups and processes"
              if removed else "no lab was up")
    report.stages.append(Stage("lab down", outcome, round(time.monotonic() - start, 1), detail))
    progress(f"   {outcome}: {detail}")
