"""How `aifactory rehearse` reads bringup's output and the acceptance results (no lab needed)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

from aifactory.commands.rehearse import print_details
from aifactory.lab.lifecycle import CONTAINER_CAPABILITIES
from aifactory.lab.rehearsal import (AWS_LINK_CHECKS, FAILED, INCOMPLETE, PASSED, StageFailed, acceptance_outcome,
                                     awslink_outcome, bringup_result, check_table, failure_lines, read_acceptance,
                                     run_streaming, skipped_checks)
from aifactory.node.parsers.acceptance import evaluate
from aifactory.spec import load_spec
from tests.conftest import REPO, site_dir


def test_bringup_without_a_recap_fails_the_stage_with_its_last_lines():
    done = subprocess.CompletedProcess([], 2, stdout="", stderr="one\nerror: no such playbook: x.yml\n")
    expected = "exited 2 without a per-host recap: one | error: no such playbook"
    with pytest.raises(StageFailed, match=re.escape(expected)):
        bringup_result(done)


def test_failure_lines_keep_the_failed_and_unreachable_results_only():
    progress = "PLAY x [nodes]\n  TASK t\n    ok: n1\n    FAILED: n2: t: boom\n    UNREACHABLE: n3: t: gone\n"
    assert failure_lines(progress) == ["FAILED: n2: t: boom", "UNREACHABLE: n3: t: gone"]


BEDROCK = "bedrock-runtime.eu-central-1.amazonaws.com"


def lab_site(bedrock_endpoint: str = BEDROCK) -> dict:
    """What the acceptance role judges a lab-b200 node against (its profile, scratch, the Bedrock endpoint
    of the lab's stack outputs)."""
    f = load_spec(site_dir("lab-b200"))
    return f.platform.expected.model_dump() | {"driver_branch": "580", "scratch_mount": "/scratch",
                                               "bedrock_endpoint": bedrock_endpoint}


def stand_in(**observed) -> dict:
    """A lab node: scratch mounted, the Bedrock endpoint name resolving to the lab gateway and answering,
    the checks that need a kernel declared as the lab declares them."""
    return {"checks_without_kernel": CONTAINER_CAPABILITIES["aifactory_checks_without_kernel"],
            "mounts": ["/", "/scratch"], "scratch_probe": "ok",
            "bedrock_dns": {"stdout": f"10.77.1.1      STREAM {BEDROCK}\n"}, "bedrock_https": {"status": 200}, **observed}


def test_kernel_bound_checks_make_acceptance_incomplete_not_failed_with_counts_and_reasons(tmp_path):
    """A GB200 lab node: its stand-in tools answer, but the IMEX channel and an NFS share need a kernel it lacks."""
    site = load_spec(site_dir("lab-gb200")).platform.expected.model_dump() | {
        "driver_branch": "580", "scratch_mount": "/scratch", "bedrock_endpoint": BEDROCK,
        "shared_mounts": [{"name": "home", "type": "nfs", "source": "10.0.0.2:/home", "mount": "/home/shared"}]}
    tools = {key: (REPO / "tests" / "fixtures" / "tools" / name).read_text() for key, name in (
        ("nvidia_smi", "nvidia-smi-q-x.gb200-healthy.xml"), ("nvlink", "nvidia-smi-nvlink-s.gb200-healthy.txt"),
        ("dcgm", "dcgmi-diag-r2-j.gb200-healthy.json"), ("ibstat", "ibstat.gb200-healthy.txt"))}
    node = stand_in(**tools, services={"nvidia-imex.service": {"state": "running"}})
    hosts = [n.name for n in load_spec(site_dir("lab-gb200")).nodes[:2]]
    for host in hosts:
        (tmp_path / f"{host}.json").write_text(json.dumps({"host": host} | evaluate(site, node)))
    results = read_acceptance(tmp_path, hosts + ["absent"])
    assert results["absent"] is None and results[hosts[0]]["result"] == "incomplete"
    del results["absent"]
    outcome, detail = acceptance_outcome(results)
    assert outcome == INCOMPLETE, detail
    ran = len(results[hosts[0]]["checks"]) - 2
    assert f"{hosts[0]} incomplete ({ran} passed, 0 failed, 2 could not run)" in detail
    assert "imex_channel: needs a kernel this host does not have: IMEX channels are device nodes" in detail
    assert skipped_checks(results, lambda c: c in AWS_LINK_CHECKS) == {}
    assert set(skipped_checks(results, lambda c: c not in AWS_LINK_CHECKS)) == {"imex_channel", "shared:home"}
    # The same node without its stand-in tools: that is no kernel's doing, and fails the rehearsal.
    outcome, detail = acceptance_outcome({hosts[0]: evaluate(site, stand_in())})
    assert outcome == FAILED and "not explained by the lab" in detail and "no `nvidia-smi -q -x` output collected" in detail


def test_bedrock_checks_without_stack_outputs_are_not_the_labs_doing():
    """The lab feeds the plan's stack outputs to the inventory: a Bedrock check that could not run fails."""
    outcome, detail = acceptance_outcome({"n1": evaluate(lab_site(bedrock_endpoint=""), stand_in())})
    assert outcome == FAILED and "could not run, not explained by the lab: n1: bedrock_dns" in detail


AWSLINK_TALLY = {"awslink": {"tasks": 60, "changed": 18, "failed": 0, "unreachable": 0, "skipped": 12, "not_run": []}}


def test_awslink_stage_passes_when_its_tasks_ran_and_every_node_passed_bedrock():
    results = {"n1": evaluate(lab_site(), stand_in()), "n2": evaluate(lab_site(), stand_in())}
    outcome, detail = awslink_outcome(AWSLINK_TALLY, results)
    assert outcome == PASSED
    assert detail == ("60 host-task results (18 changed, 12 skipped by their conditions), no step left out; "
                      "bedrock_dns, bedrock_https passed through the private endpoint names on n1, n2")


def test_awslink_stage_fails_on_a_step_left_out_a_failed_check_or_no_task():
    left_out = {"awslink": {**AWSLINK_TALLY["awslink"], "not_run": [
        {"step": "SSM registration, no activation code (aws_node_identity_ssm_activation_code)", "hosts": ["n1"]}]}}
    outcome, detail = awslink_outcome(left_out, {"n1": evaluate(lab_site(), stand_in())})
    assert outcome == FAILED and "not run: SSM registration, no activation code" in detail
    public = evaluate(lab_site(), stand_in(bedrock_dns={"stdout": "52.94.1.1 STREAM x\n"}))
    outcome, detail = awslink_outcome(AWSLINK_TALLY, {"n1": public})
    assert outcome == FAILED and "n1: bedrock_dns fail" in detail
    assert awslink_outcome({}, {"n1": public}) == (FAILED, "the awslink stage ran no task")


def test_a_real_failure_or_a_missing_result_still_fails_the_rehearsal():
    unmounted = evaluate(lab_site(), stand_in(mounts=["/"]))
    outcome, detail = acceptance_outcome({"n1": unmounted, "n2": evaluate(lab_site(), stand_in())})
    assert outcome == FAILED and "n1: scratch (/scratch is not mounted)" in detail
    outcome, detail = acceptance_outcome({"n1": evaluate(lab_site(), stand_in()), "n2": None})
    assert outcome == FAILED and "no result from n2" in detail
    assert acceptance_outcome({})[0] == FAILED


def test_a_check_that_could_not_run_for_a_reason_the_lab_does_not_explain_fails():
    # Not a stand-in, and dcgmi missing: on a host the lab says is real, that is not the lab's doing.
    site = {"accelerators": 8, "accelerator_name_contains": "B200", "fabric": "x", "dcgm_diag_level": 2}
    result = evaluate(site, {"nvidia_smi": None, "tools": {"nvidia_smi": False}})
    outcome, detail = acceptance_outcome({"n1": result})
    assert outcome == FAILED and "could not run, not explained by the lab: n1: accelerator_count" in detail


def test_every_check_passed_is_a_pass():
    outcome, detail = acceptance_outcome({"n1": evaluate({"scratch_mount": "/scratch"}, stand_in())})
    assert (outcome, detail) == (PASSED, "n1 pass (1 passed, 0 failed, 0 could not run)")


def test_check_table_counts_hosts_per_check_and_the_stand_in_runs():
    results = {"a": {"checks": [{"name": "gpu_count", "status": "pass", "stand_in": True},
                                {"name": "scratch", "status": "pass"}]},
               "b": {"checks": [{"name": "gpu_count", "status": "fail", "stand_in": True},
                                {"name": "scratch", "status": "skipped"}]},
               "c": None}
    assert check_table(results) == {"gpu_count": {"pass": 1, "fail": 1, "skipped": 0, "stand_in": 2},
                                    "scratch": {"pass": 1, "fail": 0, "skipped": 1, "stand_in": 0}}


def test_streamed_bringup_passes_plays_and_failures_on_and_keeps_stdout_whole():
    script = ("import sys; print('PLAY Racks [bmcs]', file=sys.stderr); print('  TASK t', file=sys.stderr);"
              "print('    FAILED: n1: t: boom', file=sys.stderr); print('{\"hosts\": {}}')")
    seen = []
    done = run_streaming([sys.executable, "-c", script], seen.append)
    assert seen == ["   PLAY Racks [bmcs]", "   FAILED: n1: t: boom"]
    assert json.loads(done.stdout) == {"hosts": {}} and "TASK t" in done.stderr


def test_rehearse_prints_the_first_bringups_seconds_per_stage(capsys):
    recorded = json.loads((REPO / "tests/fixtures/rehearsal/lab-b200.json").read_text())
    print_details(SimpleNamespace(bringup_stages=recorded["bringup_stages"], checks={}))
    rows = {line.split()[0]: line.split()[1:4] for line in capsys.readouterr().out.splitlines()[4:] if line.strip()}
    assert rows["scheduler"] == ["289.5", "134", "48"] and rows["validate"] == ["0.8", "4", "0"]
