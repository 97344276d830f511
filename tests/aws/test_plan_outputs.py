"""The stack outputs an offline plan exposes: those the playbooks consume, never a secret one, each
value of a mock-only resource marked; `--stack-outputs FILE` writes them as `pulumi stack output --json`
does, and `bringup --stack-outputs` reads that file."""

from __future__ import annotations

import json

from aifactory.cli import main
from aifactory.node.inventory import AMP_OUTPUT, AWS_OUTPUT_KEYS, load_stack_outputs
from aifactory.aws.plan import make_plan
from tests.aws.conftest import LAB

PROGRAM = '''
import json

import pulumi
import pulumi_aws as aws

role = aws.iam.Role("node", name="node", assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "rolesanywhere.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
anchor = aws.rolesanywhere.TrustAnchor("anchor", name="anchor", source={
    "source_type": "CERTIFICATE_BUNDLE", "source_data": {"x509_certificate_data": "-----BEGIN CERTIFICATE-----"}})
pulumi.export("region", "eu-west-3")
pulumi.export("endpoint_dns", {"sts": "sts.eu-west-3.amazonaws.com"})
pulumi.export("node_role_arn", role.arn)
pulumi.export("trust_anchor_arn", anchor.arn)
pulumi.export("ssm_activation_id", pulumi.Output.secret("kept-out-because-secret"))
pulumi.export("vpc_id", "vpc-not-for-the-playbooks")
pulumi.export("node_profile_arn", None)
'''


def test_plan_exposes_the_playbooks_outputs_marks_mock_only_and_drops_secrets(tmp_path):
    (tmp_path / "__main__.py").write_text(PROGRAM)
    outputs = make_plan(LAB, tmp_path, progress=lambda line: None).as_dict()["outputs"]
    assert list(outputs) == ["region", "endpoint_dns", "node_role_arn", "trust_anchor_arn"]
    assert outputs["region"] == {"value": "eu-west-3", "resource": None, "mock_only": False}
    assert outputs["endpoint_dns"]["value"] == {"sts": "sts.eu-west-3.amazonaws.com"}
    role = outputs["node_role_arn"]
    assert role["value"].startswith("arn:aws:iam::") and role["value"].endswith(":role/node") and role["resource"] == "node"
    assert role["mock_only"] is False  # moto created the role
    assert outputs["trust_anchor_arn"]["mock_only"] is True and outputs["trust_anchor_arn"]["resource"] == "anchor"


def test_stack_outputs_file_is_what_bringup_reads(tmp_path, capsys):
    path = tmp_path / "outputs.json"
    rc = main(["plan", str(LAB), "--format", "json", "--stack-outputs", str(path)])
    plan = json.loads(capsys.readouterr().out)
    written = json.loads(path.read_text())
    # lab-b200 has the SSM activation, and writes no metrics to AMP
    assert rc == 0 and set(written) == set(AWS_OUTPUT_KEYS) - {AMP_OUTPUT}
    assert written == {name: o["value"] for name, o in plan["outputs"].items()}
    assert load_stack_outputs(path) == written
    assert "ssm_activation_code" not in path.read_text() and "ActivationCode" not in path.read_text()
    assert {n for n, o in plan["outputs"].items() if o["mock_only"]} == {
        "trust_anchor_arn", "node_profile_arn", "ssm_activation_id"}  # moto has no Roles Anywhere; SSM activation


def test_stack_outputs_file_takes_one_site(tmp_path, capsys):
    assert main(["plan", str(LAB), str(LAB), "--stack-outputs", str(tmp_path / "o.json")]) == 2
    assert "--stack-outputs: one site only" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()
