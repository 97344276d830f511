"""The SSM activation code (AIFACTORY_SSM_ACTIVATION_CODE) reaches the agent and nothing else: not the
bring-up's output, not its artifacts, even when the agent echoes its command line and fails, and not
the registration the lab's agent stand-in records.

The aws_node_identity role's SSM steps run on one of the lab site's BMC hosts (a local connection:
nothing leaves this machine) with a stand-in agent given through aws_node_identity_ssm_agent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from aifactory.lab.aws import STAND_IN_TOOLS
from tests.hostile.conftest import AIFACTORY, REPO
from tests.hostile.test_secrets_at_rest import forms

CODE = "ssm-act-Qx9+Zk2/Lm4-hostile"
HOST = "lab-b200-r001-n01-bmc"
PLAY = """
- name: The node's SSM registration, alone
  hosts: all
  gather_facts: false
  roles:
    - role: aws_node_identity
"""
# An agent that tells everything it was given, on both streams, then fails.
LOUD_AGENT = """#!/bin/sh
echo "registering with: $*"
echo "error: activation $* refused" >&2
exit 1
"""


@pytest.mark.parametrize("agent", ["stand-in", "loud and failing"])
def test_activation_code_only_reaches_the_agent(tmp_path, agent):
    registration = tmp_path / "ssm" / "registration"
    if agent == "stand-in":
        command = tmp_path / "amazon-ssm-agent"
        command.write_text(f"#!/bin/sh\nAIFACTORY_SSM_REGISTRATION={registration} exec {sys.executable} "
                           f"{STAND_IN_TOOLS / 'amazon-ssm-agent'} \"$@\"\n")
    else:
        command = tmp_path / "loud-agent"
        command.write_text(LOUD_AGENT)
    command.chmod(0o755)
    (tmp_path / "play.yml").write_text(PLAY)
    extra = {"aws_node_identity_outputs": {"region": "eu-central-1", "ssm_activation_id": "mock-0fb48c07caae"},
             "aws_node_identity_region": "eu-central-1", "aws_node_identity_ssm_agent": str(command),
             "aws_node_identity_check_dns": False,
             "__aws_node_identity_ssm_registration": str(registration)}
    env = {**os.environ, "AIFACTORY_SSM_ACTIVATION_CODE": CODE, "AIFACTORY_STATE_DIR": str(tmp_path / "state")}
    env.pop("PYTEST_CURRENT_TEST", None)
    done = subprocess.run([str(AIFACTORY), "bringup", "inventories/lab-b200", "--playbook", str(tmp_path / "play.yml"),
                           "--limit", HOST, "--yes", "--format", "json", "--artifacts-dir", str(tmp_path / "artifacts"),
                           "-e", json.dumps(extra)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    summary = json.loads(done.stdout)
    if agent == "stand-in":  # registered; then the agent's restart fails: the controller has no systemd
        assert json.loads(registration.read_text())["ManagedInstanceID"].startswith("mi-"), done.stderr[-2000:]
    else:
        assert done.returncode == 1 and summary["hosts"][HOST]["failed"] == 1, done.stderr[-2000:]
        assert "Register the node with the hybrid activation" in done.stderr
    on_disk = [p for p in tmp_path.rglob("*") if p.is_file() and p != command
               and any(form in p.read_bytes() for form in forms(CODE))]
    assert on_disk == []
    assert not any(form.decode() in done.stdout + done.stderr for form in forms(CODE))
