"""The AWS link stage on lab nodes (issue 14, item 4): with the plan's stack outputs (planned against
the lab's moto_server), the aws_node_identity role's tasks run, a node gets credentials through the
signing helper stand-in and calls STS under the private endpoint name (the lab's DNS stand-in, HTTPS
with the lab CA, moto behind), the SSM agent stand-in is registered, the acceptance Bedrock checks
pass, a second bring-up changes nothing, and the activation code appears in no output or artifact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aifactory.cli import main
from aifactory.lab import lifecycle, network
from aifactory.lab.rehearsal import LAB_BMC_CREDENTIALS, SSM_CODE_ENV
from tests.conftest import site_dir
from tests.scenarios.conftest import node_ssh

# A long lab scenario (AIFACTORY_LAB_LONG=1, tests/scenarios/conftest.py): a lab-b200 lab and two bring-ups of its own.
pytestmark = [pytest.mark.lab, pytest.mark.lab_long]

LAB_SCRATCH_DISKS = lifecycle.SCRATCH_DISKS
CODE = "lab-act-7Qx9+Zk2/Lm4-awslink"
WHOAMI = ("AWS_CONFIG_FILE=/etc/aifactory/aws/config python3 -c \"import boto3; "
          "print(boto3.Session(profile_name='aifactory-node').client('sts').get_caller_identity()['Arn'])\"")


def bringup(state, outputs: Path, tmp_path: Path, capsys) -> tuple[int, dict, str]:
    rc = main(["bringup", str(site_dir("lab-b200")), "--stages", "os,awslink,acceptance", "--format", "json",
               "--host-overrides", str(state.dir / lifecycle.OVERRIDES_FILE), "--stack-outputs", str(outputs),
               "--artifacts-dir", str(tmp_path / "runs"),
               "-e", json.dumps({"acceptance_results_dir": str(tmp_path / "acceptance")})])
    out = capsys.readouterr()
    return rc, json.loads(out.out), out.out + out.err


def test_awslink_stage_runs_on_lab_nodes_through_the_private_endpoint_names(lab, lab_stack_outputs, tmp_path,
                                                                            monkeypatch, capsys):
    f, state = lab
    for name, value in {**LAB_BMC_CREDENTIALS, SSM_CODE_ENV: CODE}.items():
        monkeypatch.setenv(name, value)
    outputs = json.loads(lab_stack_outputs.read_text())
    gateway = str(network.gateway(f.network.host_cidr).ip)

    rc, first, text = bringup(state, lab_stack_outputs, tmp_path, capsys)
    assert rc in (0, 3), first["hosts"]  # 3: acceptance incomplete on stand-ins (no GPU), nothing failed
    awslink = first["stage_results"]["awslink"]
    assert awslink["failed"] == 0 and awslink["not_run"] == [], awslink
    assert awslink["tasks"] - awslink["skipped"] >= 15 * len(f.nodes)  # the role's steps ran on every node
    rc, second, text2 = bringup(state, lab_stack_outputs, tmp_path, capsys)
    assert {h: s["changed"] for h, s in second["hosts"].items() if s["changed"]} == {}, second["changed_tasks"]

    sts = outputs["endpoint_dns"]["sts"]
    role_name = outputs["node_role_arn"].rsplit("/", 1)[1]
    for node in f.nodes:
        verdict = json.loads((tmp_path / "acceptance" / f"{node.name}.json").read_text())
        checks = {c["name"]: c for c in verdict["checks"]}
        assert checks["bedrock_dns"]["status"] == "pass", checks["bedrock_dns"]
        assert checks["bedrock_https"]["status"] == "pass", checks["bedrock_https"]
        resolved = node_ssh(state, node.address, f"getent ahostsv4 {sts}")
        assert resolved.stdout.split()[0] == gateway
        whoami = node_ssh(state, node.address, WHOAMI)
        assert whoami.stdout.strip().endswith(f":assumed-role/{role_name}/{node.name}"), whoami.stderr[-1500:]
        helper = node_ssh(state, node.address, "/usr/local/bin/aws_signing_helper --version")
        assert "stand-in" in helper.stdout
        agent = node_ssh(state, node.address, "cat /var/lib/amazon/ssm/registration; systemctl is-active amazon-ssm-agent")
        registration, active = agent.stdout.rsplit("}", 1)
        assert json.loads(registration + "}")["Region"] == outputs["region"] and active.strip() == "active"
        assert CODE not in agent.stdout
    # The activation code is a secret: in no output, log or artifact.
    assert CODE not in text + text2
    leaked = [p for p in (tmp_path / "runs").rglob("*") if p.is_file() and CODE.encode() in p.read_bytes()]
    assert leaked == []
