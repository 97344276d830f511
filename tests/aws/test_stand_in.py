"""No false verdicts: a plan whose AWS stand-in cannot be reached, is not set up, or fails mid-plan is
an error with one message and exit 4 (could not check, not 1: non-compliant), never a report of controls;
plans share a moto_server safely."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import yaml

from aifactory.cli import main
from aifactory.aws.plan import XKS_PLACEHOLDERS, make_plan
from tests.aws.conftest import BASELINE, LAB, REPO, free_port


def plan_cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["plan", *map(str, argv)])
    out, err = capsys.readouterr()
    return status, out, err


def test_unreachable_endpoint_is_one_error_and_no_verdict(capsys):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    status, out, err = plan_cli(capsys, LAB, "--program", BASELINE, "--aws-endpoint", url, "--format", "json")
    assert status == 4 and out == ""
    assert f"cannot reach the moto_server at {url}" in err and "Traceback" not in err
    assert err.count("error:") == 1


# The worker is killed while the program still declares resources (its fifth create); in a process of
# its own, as a killed plan leaves the Pulumi SDK's runtime to that process's exit.
KILL_THE_WORKER = """
import sys
from aifactory.cli import main
from aifactory.aws.moto_standin.worker import WorkerSite
create, calls = WorkerSite.create, []
def create_then_die(self, *args):
    calls.append(args[0])
    if len(calls) == 5:
        self.worker._proc.kill()
    return create(self, *args)
WorkerSite.create = create_then_die
sys.exit(main(sys.argv[1:]))
"""


def test_worker_lost_mid_plan_is_an_error_not_a_report():
    done = subprocess.run([sys.executable, "-c", KILL_THE_WORKER, "plan", str(LAB), "--program", str(BASELINE)],
                          capture_output=True, text=True, cwd=REPO, env={**os.environ, "PLAN_FAULT": ""})
    assert done.returncode == 4 and done.stdout == ""
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("error: the plan stopped without a verdict") and "moto worker exited" in error


def test_moto_server_without_managed_policies_says_what_to_set(bare_moto_server, capsys):
    status, out, err = plan_cli(capsys, LAB, "--program", BASELINE, "--aws-endpoint", bare_moto_server)
    assert status == 4 and out == ""
    assert "no AWS managed policies" in err and "MOTO_IAM_LOAD_MANAGED_POLICIES=true" in err


def test_two_plans_against_one_moto_server_each_in_its_own_account(moto_server, monkeypatch):
    monkeypatch.setenv("PLAN_FAULT", "")
    first = make_plan(LAB, BASELINE, aws_endpoint=moto_server, progress=lambda line: None)
    second = make_plan(LAB, BASELINE, aws_endpoint=moto_server, progress=lambda line: None)
    assert first.account != second.account
    for plan in (first, second):  # IAM, KMS, logs and EC2 names meet no earlier plan's in a new account
        assert plan.clean, plan.as_dict()["errors"]
        role = next(r for r in plan.resources if r.name == "node-role")
        assert role.checked_by == "moto" and f":{plan.account}:" in role.outputs["arn"]
        # S3 names are global: moto gets the account's suffix, the plan keeps the program's name
        bucket = next(r for r in plan.resources if r.name == "artifacts")
        assert bucket.checked_by == "moto" and bucket.id == "lab-b200-artifacts"


def test_external_key_store_plans_offline_with_placeholders_marked(tmp_path, capsys):
    spec = yaml.safe_load((LAB / "factory.yaml").read_text())
    spec["sovereignty"]["keys"] = "external-key-store"
    spec["sovereignty"]["external_key_store"] = {"proxy_uri_endpoint": "https://xks.lab.example", "connectivity": "public-endpoint"}
    site = shutil.copytree(LAB, tmp_path / "xks-site")
    (site / "factory.yaml").write_text(yaml.safe_dump(spec))
    status, out, err = plan_cli(capsys, site, "--format", "json")
    data = json.loads(out)
    assert data["errors"] == [] and data["placeholders"] == sorted(XKS_PLACEHOLDERS)
    store = next(r for r in data["resources"] if r["type"] == "aws:kms/customKeyStore:CustomKeyStore")
    assert store["checked_by"] == "api-model"  # the placeholders have the shapes KMS accepts
    assert store["inputs"]["xksProxyAuthenticationCredential"] == "[secret]"
    assert XKS_PLACEHOLDERS["aifactory:xksSecretAccessKey"] not in out
    assert status == 0 and data["clean"]
    status, out, err = plan_cli(capsys, site)
    assert "mock settings (offline placeholders" in out and "aifactory:xksKeyIdData" in out


def test_interrupted_plan_is_no_report():
    """Ctrl-C while the program declares resources: exit 130 and one line, no JSON, no SDK noise."""
    waits = REPO / "tests" / "aws" / "programs" / "waits_for_ctrl_c"
    # As a terminal's shell starts a command: SIGINT at its default. A suite started in the background (`make
    # test &`) ignores SIGINT, and a Python started with it ignored never raises KeyboardInterrupt.
    plan = subprocess.Popen([sys.executable, "-m", "aifactory.cli", "plan", str(LAB), "--program", str(waits),
                             "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in plan.stderr:  # the program has declared its resources and waits
        if line.startswith("program: declared"):
            break
    plan.send_signal(signal.SIGINT)
    out, err = plan.communicate(timeout=120)
    assert plan.returncode == 130 and out == ""
    assert err.strip().splitlines()[-1] == "interrupted"
    assert "Traceback" not in err and "Task was destroyed" not in err
