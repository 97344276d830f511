"""playbooks/validate.yml, the inventory-only checks site.yml runs first: it accepts the example sites
and refuses an inventory that host overrides, another inventory source or missing stack outputs broke."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aifactory.spec import load_spec
from tests.conftest import REPO, SITES, site_dir

PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
STACK_OUTPUTS = {
    "region": "eu-central-1",
    "endpoint_dns": {"bedrock-runtime": "vpce-0a1b-bedrock-runtime.eu-central-1.vpce.amazonaws.com"},
    "trust_anchor_arn": "arn:aws:rolesanywhere:eu-central-1:111122223333:trust-anchor/1b2c",
    "node_profile_arn": "arn:aws:rolesanywhere:eu-central-1:111122223333:profile/3d4e",
    "node_role_arn": "arn:aws:iam::111122223333:role/lab-b200-node",
    "ssm_activation_id": "2b3c4d5e-6f70-4a1b-8c2d-3e4f5a6b7c8d",
    "amp_remote_write_url": "https://aps-workspaces.eu-central-1.amazonaws.com/workspaces/ws-0b1c/api/v1/remote_write",
}


def validate_play(tmp_path: Path, *args: str, site: str = "lab-b200", outputs: dict | None = None,
                  overrides: dict | None = None, inventories: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}  # messages unwrapped
    if outputs is not None:
        (tmp_path / "outputs.json").write_text(json.dumps(outputs))
        env["AIFACTORY_STACK_OUTPUTS"] = str(tmp_path / "outputs.json")
    if overrides is not None:
        (tmp_path / "overrides.json").write_text(json.dumps(overrides))
        env["AIFACTORY_HOST_OVERRIDES"] = str(tmp_path / "overrides.json")
    sources = [arg for path in (site_dir(site) / "aifactory.yml", *inventories) for arg in ("-i", str(path))]
    return subprocess.run([str(PLAYBOOK), *sources, "playbooks/validate.yml", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env=env)


def lab_nodes() -> list[str]:
    return [n.name for n in load_spec(site_dir("lab-b200")).nodes]


@pytest.mark.parametrize("site", SITES)
def test_accepts_example_site_with_its_stack_outputs(tmp_path, site):
    """Each site with stack outputs of its own home region (outputs of another region are refused)."""
    region = load_spec(site_dir(site)).sovereignty.region
    outputs = json.loads(json.dumps(STACK_OUTPUTS).replace(STACK_OUTPUTS["region"], region))
    done = validate_play(tmp_path, site=site, outputs=outputs)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "failed=0" in done.stdout


@pytest.mark.parametrize("args", [("--tags", "os,storage"), ("--skip-tags", "awslink")])
def test_stack_outputs_not_needed_when_the_awslink_stage_does_not_act(tmp_path, args):
    done = validate_play(tmp_path, *args)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("args", [(), ("--tags", "awslink")])
def test_awslink_stage_without_stack_outputs_is_refused(tmp_path, args):
    done = validate_play(tmp_path, *args)
    assert done.returncode != 0
    assert ("the awslink stage needs the AWS stack outputs region, endpoint_dns, trust_anchor_arn, node_profile_arn, "
            "node_role_arn, ssm_activation_id:") in done.stdout


def test_the_ssm_activation_id_is_needed_only_where_the_spec_has_the_activation(tmp_path):
    """The inventory names the outputs the stage needs; lab-gb200 has no SSM hybrid activation."""
    assert not load_spec(site_dir("lab-gb200")).identity.ssm_hybrid_activation
    without_ssm = {k: v for k, v in STACK_OUTPUTS.items() if k != "ssm_activation_id"}
    assert validate_play(tmp_path, site="lab-gb200", outputs=without_ssm).returncode == 0
    done = validate_play(tmp_path, outputs=without_ssm)
    assert done.returncode != 0
    assert "needs the AWS stack outputs ssm_activation_id:" in done.stdout


def test_a_missing_output_is_named(tmp_path):
    done = validate_play(tmp_path, outputs={k: v for k, v in STACK_OUTPUTS.items() if k != "node_role_arn"})
    assert done.returncode != 0
    assert "needs the AWS stack outputs node_role_arn:" in done.stdout


def test_refuses_node_moved_out_of_its_rack_by_an_override(tmp_path):
    moved = lab_nodes()[1]
    done = validate_play(tmp_path, "--tags", "os", overrides={moved: {"aifactory_rack_group": "rack07"}})
    assert done.returncode != 0
    assert f"nodes without ansible_host, aifactory_rack or their rack group: {moved}" in done.stdout


def test_refuses_node_without_its_bmc(tmp_path):
    """Another inventory source adds a node to rack 1 that the factory's spec (and so its BMCs) lacks."""
    extra = tmp_path / "extra.ini"
    extra.write_text("[rack01]\nlab-b200-stray ansible_host=10.77.1.99 aifactory_rack=1 aifactory_rack_group=rack01\n")
    done = validate_play(tmp_path, "--tags", "os", inventories=(extra,))
    assert done.returncode != 0
    assert f"3 node BMCs for {len(lab_nodes()) + 1} nodes" in done.stdout
