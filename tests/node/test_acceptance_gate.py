"""The acceptance gate (aifactory.node.acceptance_gate): a run's exit code and whether hosts passed acceptance."""

from __future__ import annotations

import pytest

from aifactory.node.acceptance_gate import (EXIT_ACCEPTANCE_INCOMPLETE, KERNEL_BOUND_INCOMPLETE,
                                            WITHOUT_STACK_OUTPUTS_INCOMPLETE, ended_well, host_outcome,
                                            incomplete_hosts, judge, run_exit_code)
from aifactory.node.parsers.acceptance import NO_STACK_OUTPUTS, WITHOUT_KERNEL

CLEAN = {"ok": 5, "changed": 1, "failed": 0, "unreachable": 0}
PASS, FAIL, INCOMPLETE = {"result": "pass"}, {"result": "fail"}, {"result": "incomplete", "skipped": {"ecc": "x"}}
# Incomplete only for checks that need a kernel the host does not have, as the bring-up report and evaluate() say it.
KERNEL_BOUND = {"result": "incomplete", "skipped": {"imex_channel": f"{WITHOUT_KERNEL}: IMEX channels ..."}}
KERNEL_BOUND_CHECKS = {"result": "incomplete", "checks": [{"name": "ecc", "status": "pass"},
                                                          {"name": "shared:home", "status": "skipped",
                                                           "reason": f"{WITHOUT_KERNEL}: a shared filesystem ..."}]}
# A run of the node stages without the AWS stack outputs: the Bedrock checks could not run either.
NO_OUTPUTS = {"result": "incomplete", "skipped": {"imex_channel": f"{WITHOUT_KERNEL}: IMEX", "bedrock_dns": NO_STACK_OUTPUTS}}
MIXED = {"result": "incomplete", "skipped": {"imex_channel": f"{WITHOUT_KERNEL}: IMEX", "ecc": "`nvidia-smi` is not installed"}}


def test_incomplete_hosts_are_sorted_and_ignore_hosts_without_a_verdict():
    verdicts = {"n2": INCOMPLETE, "n1": INCOMPLETE, "n3": PASS, "bmc": None}
    assert incomplete_hosts(verdicts) == ["n1", "n2"]


@pytest.mark.parametrize(("ran_clean", "verdicts", "check", "code"), [
    (True, {"n1": PASS}, False, 0),
    (True, {"n1": PASS, "n2": INCOMPLETE}, False, EXIT_ACCEPTANCE_INCOMPLETE),
    (True, {"n1": INCOMPLETE}, True, 0),  # check mode runs no tool: never complete, not counted
    (False, {"n1": INCOMPLETE}, False, 1),  # a failure wins over incomplete
    (False, {"n1": PASS}, True, 1),
])
def test_run_exit_code(ran_clean, verdicts, check, code):
    assert run_exit_code(ran_clean, verdicts, check) == code


def test_a_run_ended_well_with_exit_0_or_acceptance_incomplete_only():
    assert [ended_well(code) for code in (0, EXIT_ACCEPTANCE_INCOMPLETE, 1, 2, 130, 143)] == [
        True, True, False, False, False, False]


@pytest.mark.parametrize(("verdict", "counts", "outcome"), [
    (PASS, CLEAN, "pass"),
    (FAIL, CLEAN, "fail"),
    (INCOMPLETE, CLEAN, "incomplete"),
    (KERNEL_BOUND, CLEAN, KERNEL_BOUND_INCOMPLETE),
    (KERNEL_BOUND_CHECKS, CLEAN, KERNEL_BOUND_INCOMPLETE),
    (NO_OUTPUTS, CLEAN, WITHOUT_STACK_OUTPUTS_INCOMPLETE),
    (MIXED, CLEAN, "incomplete"),  # one check that could not run for another reason
    (PASS, {**CLEAN, "unreachable": 1}, "unreachable"),  # unreachable wins over an earlier verdict
    (None, {**CLEAN, "failed": 1}, "failed"),  # a task failed before acceptance
    (None, CLEAN, "not judged"),
    (None, None, "not judged"),  # no result at all (a rehearsal's missing file)
])
def test_host_outcome(verdict, counts, outcome):
    assert host_outcome(verdict, counts) == outcome


def test_the_gate_passes_on_pass_and_a_kernel_bound_incomplete_after_a_run_that_ended_well():
    verdicts = {"n1": PASS, "n2": KERNEL_BOUND, "n3": NO_OUTPUTS}
    gate = judge(EXIT_ACCEPTANCE_INCOMPLETE, ["n1", "n2", "n3"], verdicts, {"n1": CLEAN, "n2": CLEAN})
    assert gate.passed and gate.outcomes == {"n1": "pass", "n2": KERNEL_BOUND_INCOMPLETE,
                                             "n3": WITHOUT_STACK_OUTPUTS_INCOMPLETE}


def test_the_gate_fails_on_any_other_incomplete_a_failure_or_a_host_not_judged():
    verdicts = {"n1": PASS, "n2": INCOMPLETE, "n3": FAIL, "n5": MIXED}
    assert not judge(EXIT_ACCEPTANCE_INCOMPLETE, ["n1", "n2"], verdicts).passed
    assert not judge(EXIT_ACCEPTANCE_INCOMPLETE, ["n1", "n5"], verdicts).passed
    assert not judge(0, ["n1", "n3"], verdicts).passed
    gate = judge(0, ["n1", "n4"], verdicts)
    assert not gate.passed and gate.outcomes["n4"] == "not judged"


def test_the_gate_fails_when_the_run_did_not_end_well_even_if_every_host_passed():
    verdicts = {"n1": PASS}
    assert judge(0, ["n1"], verdicts).passed
    assert [judge(code, ["n1"], verdicts).passed for code in (1, 130, 143)] == [False, False, False]


def test_the_gate_judges_only_the_hosts_it_is_given():
    gate = judge(0, ["n1"], {"n1": PASS, "n2": FAIL})
    assert gate.passed and list(gate.outcomes) == ["n1"]
