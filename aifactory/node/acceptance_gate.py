"""The acceptance gate: whether hosts passed acceptance, judged once for bringup, rollout, replace and the rehearsal.

A host's acceptance verdict (aifactory.node.parsers.acceptance.evaluate, handed over by the acceptance
role with set_stats or written to `<results dir>/<host>.json`) has a `result`: `pass`, `fail`, or
`incomplete` (checks the platform's expected hardware needs could not run). A run's exit code says
whether the run itself ended well: 0, or EXIT_ACCEPTANCE_INCOMPLETE when nothing failed but acceptance
is incomplete on some host. A host passes the gate with `pass`, or with `incomplete` where every check
that could not run needs a kernel the inventory says the host does not have (`checks_without_kernel`,
whose skip reason starts with WITHOUT_KERNEL): `incomplete (kernel-bound checks only)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from aifactory.core.inputs import MAX_RECORD_BYTES, InputFileError, read_json
from aifactory.node.parsers.acceptance import NO_STACK_OUTPUTS, WITHOUT_KERNEL

# Exit code of a run in which nothing failed but acceptance is incomplete on some host. 1 stays "failed".
EXIT_ACCEPTANCE_INCOMPLETE = 3
PASS, INCOMPLETE = "pass", "incomplete"
KERNEL_BOUND_INCOMPLETE = "incomplete (kernel-bound checks only)"
# The AWS-link checks cannot run without the stack outputs, which a run of the node stages alone is not given:
# the gate lets them through, and the outcome says that they were not checked.
WITHOUT_STACK_OUTPUTS_INCOMPLETE = "incomplete (kernel-bound checks, and AWS checks without stack outputs)"
GATE_PASSES = (PASS, KERNEL_BOUND_INCOMPLETE, WITHOUT_STACK_OUTPUTS_INCOMPLETE)


@dataclass(frozen=True)
class Gate:
    """The gate's answer: passed, and each judged host's outcome (host_outcome)."""

    passed: bool
    outcomes: dict[str, str]


def read_verdict(path: Path) -> dict | None:
    """The verdict the acceptance role wrote at `path` (`<results dir>/<host>.json`), read as any input (a
    regular file of bounded size); None when there is none. Raises InputFileError saying why a file there is
    not a verdict (not JSON, or not an object with a `result`), never quoting it."""
    verdict = read_json(path, MAX_RECORD_BYTES)
    if verdict is not None and not (isinstance(verdict, dict) and isinstance(verdict.get("result"), str)):
        raise InputFileError("not an object with a `result`")
    return verdict


def incomplete_hosts(verdicts: Mapping[str, dict | None]) -> list[str]:
    """The hosts whose acceptance verdict is incomplete, sorted."""
    return sorted(h for h, verdict in verdicts.items() if (verdict or {}).get("result") == INCOMPLETE)


def run_exit_code(ran_clean: bool, verdicts: Mapping[str, dict | None], check: bool) -> int:
    """A finished run's exit code: 1 when it did not run clean (the run, or a host, failed or was
    unreachable); EXIT_ACCEPTANCE_INCOMPLETE when acceptance is incomplete on some host, except in check
    mode (which runs no tool, so its acceptance is never complete); 0 otherwise."""
    if not ran_clean:
        return 1
    return EXIT_ACCEPTANCE_INCOMPLETE if incomplete_hosts(verdicts) and not check else 0


def ended_well(exit_code: int) -> bool:
    """The run ended without a failure: exit 0, or acceptance incomplete (judged per host by the gate)."""
    return exit_code in (0, EXIT_ACCEPTANCE_INCOMPLETE)


def skipped_reasons(verdict: Mapping) -> list[str]:
    """The reasons of the checks that could not run, from a verdict as the bring-up report holds it
    (`skipped`: {check: reason}) or as `evaluate` writes it (`checks`)."""
    if "skipped" in verdict:
        return list((verdict.get("skipped") or {}).values())
    return [c.get("reason", "") for c in verdict.get("checks") or [] if c.get("status") == "skipped"]


def host_outcome(verdict: dict | None, counts: Mapping[str, int] | None = None) -> str:
    """A host's outcome in a run: `unreachable`, its acceptance verdict (`incomplete (kernel-bound checks
    only)` when every check that could not run needs a kernel the host does not have), `failed` (a task
    failed on it before acceptance), or `not judged`."""
    counts = counts or {}
    result = (verdict or {}).get("result")
    if counts.get("unreachable"):
        return "unreachable"
    reasons = skipped_reasons(verdict or {})
    if result == INCOMPLETE and reasons and all(r.startswith(WITHOUT_KERNEL) for r in reasons):
        return KERNEL_BOUND_INCOMPLETE
    if result == INCOMPLETE and reasons and all(r.startswith(WITHOUT_KERNEL) or r == NO_STACK_OUTPUTS for r in reasons):
        return WITHOUT_STACK_OUTPUTS_INCOMPLETE
    if result:
        return result
    return "failed" if counts.get("failed") else "not judged"


def judge(exit_code: int, hosts: Iterable[str], verdicts: Mapping[str, dict | None],
          counts: Mapping[str, Mapping[str, int]] | None = None) -> Gate:
    """The gate over `hosts`: the run ended well (ended_well) and every host's outcome is `pass` or an
    incomplete of kernel-bound checks only. `counts` are the run's per-host task counts."""
    outcomes = {h: host_outcome(verdicts.get(h), (counts or {}).get(h)) for h in hosts}
    return Gate(ended_well(exit_code) and all(o in GATE_PASSES for o in outcomes.values()), outcomes)
