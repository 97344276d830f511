"""The CI templates' commands, run as a runner would: the YAML parsed, each step's shell commands
run in order in a checkout (one site, lab-b200, to keep it short) with the repository's venv
standing in for the install step."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.reports.conftest import REPO, valid_junit, valid_sarif

VENV_BIN = Path(sys.executable).parent
GITHUB_EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=ci", "-c", "user.email=ci@example.org", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path) -> tuple[Path, str]:
    """A factory repository with lab-b200, and a change on top of its base: a blocked guardrail topic."""
    repo = tmp_path / "repo"
    for part in ("infra", "ci", "inventories/lab-b200"):
        shutil.copytree(REPO / part, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
    for stack_file in ("Pulumi.yaml", "Pulumi.lab-b200.yaml"):
        shutil.copy(REPO / stack_file, repo / stack_file)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    spec = repo / "inventories/lab-b200/factory.yaml"
    spec.write_text(spec.read_text().replace("blocked_topics: []", "blocked_topics: [weapons]"))
    git(repo, "commit", "-q", "-am", "block a topic")
    return repo, base


def run_commands(repo: Path, commands: list[tuple[str, dict]]) -> list[int]:
    """Each command's exit status, run with bash -e like both runners, the venv first on PATH."""
    statuses = []
    for command, env in commands:
        environment = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", **env}
        statuses.append(subprocess.run(["bash", "-e", "-c", command], cwd=repo, env=environment).returncode)
    return statuses


def github_commands(base: str) -> tuple[list[tuple[str, dict]], list[dict]]:
    """(the commands a runner would run, the steps left to GitHub: actions, install, comment)."""
    workflow = yaml.safe_load((REPO / "ci/github-actions.yml").read_text())
    context = {"github.event.pull_request.base.sha": base}
    runnable, left = [], []
    for step in workflow["jobs"]["plan"]["steps"]:
        if "uses" in step or step["name"] in ("Install aifactory", "Comment the change preview"):
            left.append(step)
            continue
        env = {k: GITHUB_EXPRESSION.sub(lambda m: context[m.group(1)], str(v)) for k, v in step.get("env", {}).items()}
        runnable.append((step["run"], env))
    return runnable, left


def check_reports(repo: Path) -> str:
    reports = repo / "reports"
    assert sorted(p.name for p in reports.iterdir()) == [
        "plan-lab-b200.junit.xml", "plan-lab-b200.sarif", "preview.md", "validate-lab-b200.junit.xml", "validate-lab-b200.sarif"]
    for sarif in reports.glob("*.sarif"):
        valid_sarif(sarif.read_text())
    for junit in reports.glob("*.junit.xml"):
        valid_junit(junit.read_text())
    return (reports / "preview.md").read_text()


def test_github_actions(checkout):
    repo, base = checkout
    workflow = yaml.safe_load((REPO / "ci/github-actions.yml").read_text())
    assert workflow[True]["pull_request"]["paths"] == ["inventories/**", "infra/**"]  # YAML 1.1 reads `on` as true
    runnable, left = github_commands(base)
    assert {s.get("uses", "").split("@")[0] for s in left} >= {"github/codeql-action/upload-sarif", "mikepenz/action-junit-report"}
    assert run_commands(repo, runnable) == [0]
    preview = check_reports(repo)
    assert "### aifactory diff: lab-b200" in preview and "**Hosts**: 0 added, 0 removed, 0 moved" in preview
    assert re.search(r"\| updated \| lab-b200-guardrail \| .* \| topicPolicyConfig", preview)


def test_gitlab_ci_fails_on_a_bad_spec(checkout):
    repo, base = checkout
    job = yaml.safe_load((REPO / "ci/gitlab-ci.yml").read_text())["aifactory"]
    assert job["artifacts"]["reports"]["junit"] == "reports/*.junit.xml"
    spec = repo / "inventories/lab-b200/factory.yaml"
    spec.write_text(spec.read_text().replace("  racks: 1", "  racks: 1\n  rackz: 2"))
    variables = {"CI_MERGE_REQUEST_DIFF_BASE_SHA": base}
    statuses = run_commands(repo, [(line, variables) for line in job["script"] + job["after_script"]])
    assert statuses == [1, 0]  # the job fails; the comment step (no merge request here) does nothing
    [result] = valid_sarif((repo / "reports/validate-lab-b200.sarif").read_text())["runs"][0]["results"]
    assert "compute.rackz" in result["message"]["text"]
