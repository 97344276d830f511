"""How `aifactory rehearse` reads bringup's output and the acceptance results (no lab needed)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from aifactory.lab.rehearsal import (AWS_LINK_CHECKS, StageFailed, bringup_result, failure_lines, read_acceptance,
                                     skipped_checks)


def test_bringup_without_a_recap_fails_the_stage_with_its_last_lines():
    done = subprocess.CompletedProcess([], 2, stdout="", stderr="one\nerror: no such playbook: x.yml\n")
    expected = "exited 2 without a per-host recap: one | error: no such playbook"
    with pytest.raises(StageFailed, match=re.escape(expected)):
        bringup_result(done)


def test_failure_lines_keep_the_failed_and_unreachable_results_only():
    progress = "PLAY x [nodes]\n  TASK t\n    ok: n1\n    FAILED: n2: t: boom\n    UNREACHABLE: n3: t: gone\n"
    assert failure_lines(progress) == ["FAILED: n2: t: boom", "UNREACHABLE: n3: t: gone"]


def test_acceptance_results_are_read_per_host_and_skips_grouped(tmp_path):
    (tmp_path / "n1.json").write_text(json.dumps({"status": "pass", "checks": [
        {"name": "ecc", "status": "skipped", "detail": "no NVIDIA device"},
        {"name": "scratch", "status": "pass", "detail": "/scratch mounted"},
        {"name": "bedrock_endpoint", "status": "skipped", "detail": "no AWS stack outputs"}]}))
    results = read_acceptance(tmp_path, ["n1", "n2"])
    assert results["n2"] is None and results["n1"]["status"] == "pass"
    assert skipped_checks(results, lambda c: c not in AWS_LINK_CHECKS) == {"ecc": "no NVIDIA device"}
    assert skipped_checks(results, lambda c: c in AWS_LINK_CHECKS) == {"bedrock_endpoint": "no AWS stack outputs"}
