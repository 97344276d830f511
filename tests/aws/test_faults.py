"""Faulty programs: each fault is reported as exactly one control, or as AWS's error, naming the resource."""

from __future__ import annotations

import json
import re

import pytest

from aifactory.aws.plan.engine import API_MODEL, MOTO, REJECTED
from tests.aws.conftest import failed_controls


def test_baseline_is_clean_and_created_in_moto(plan_with_fault):
    plan = plan_with_fault("")
    assert plan.errors == [] and plan.resource_errors == []
    assert failed_controls(plan) == {}
    vpc = next(r for r in plan.resources if r.name == "hub")
    assert vpc.checked_by == MOTO and vpc.id.startswith("vpc-")
    subnet = next(r for r in plan.resources if r.name == "private-a")
    assert subnet.inputs["vpcId"] == vpc.id  # moto's ids flow into dependent resources
    metrics = next(r for r in plan.resources if r.name == "metrics")
    assert metrics.checked_by == MOTO and metrics.id.startswith("ws-")  # moto's amp holds the workspace
    assert metrics.not_in_moto == ["kmsKeyArn"]  # moto drops the key: SOV-04 reads it from the program
    guardrail = next(r for r in plan.resources if r.name == "guardrail")
    assert guardrail.checked_by == API_MODEL  # moto has no guardrails: the mock gives its outputs AWS's shape
    assert re.fullmatch(rf"arn:aws:bedrock:[a-z0-9-]+:{plan.account}:guardrail/[a-z0-9-]+", guardrail.outputs["guardrailArn"])
    condition = json.loads(next(r for r in plan.resources if r.name == "node-invoke").inputs["policy"])
    assert condition["Statement"][0]["Condition"]["StringEquals"]["bedrock:GuardrailIdentifier"] == guardrail.outputs["guardrailArn"]


# fault -> (control, resource named in the violation)
CONTROL_FAULTS = {
    "internet_gateway": ("SOV-01", "hub-igw"),
    "endpoint_no_policy": ("SOV-02", "vpce-kms"),
    "role_no_boundary": ("SOV-03", "node-role"),
    "unencrypted_bucket": ("SOV-04", "artifacts"),
    "key_no_rotation": ("SOV-04", "key"),
    "bucket_no_tls": ("SOV-05", "artifacts"),
    "wildcard_admin": ("SOV-06", "admin-policy"),
    "bedrock_no_guardrail": ("SOV-07", "node-invoke"),
    "weak_vpn": ("SOV-08", "vpn"),
    "foreign_region_endpoint": ("SOV-09", "vpce-sts"),
    "no_flow_log": ("SOV-10", "hub"),
    "sg_default_egress": ("SOV-01", "endpoints-sg"),
    "open_default_nacl": ("SOV-01", "default-nacl"),
    "kms_create_star": ("SOV-12", "key-policy"),
    "logs_on_star": ("SOV-06", "job-logs"),
    "missing_trail": ("SOV-13", "artifacts"),
    "activation_no_expiry": ("SOV-14", "activation"),
    "state_elsewhere": ("SOV-15", "lab-b200-pulumi-state"),
    "amp_no_cmk": ("SOV-04", "metrics"),
    "amp_foreign_region": ("SOV-09", "metrics"),
}
def test_metrics_workspace_in_another_region_of_the_zone_is_refused_as_outside_the_home_region(plan_with_fault):
    """Residency alone would pass eu-west-1 for an eu-central-1 factory (one zone): metrics must stay home."""
    (violation,) = failed_controls(plan_with_fault("amp_foreign_region"))["SOV-09"]
    assert violation.resource == "metrics"
    assert "eu-west-1, outside the home region eu-central-1" in violation.message


# Faults that break a policy's value: the control that reads it and SOV-11 (no unset value in a policy).
VALUE_FAULTS = {
    "null_guardrail": ({"SOV-07", "SOV-11"}, "node-invoke"),
}


@pytest.mark.parametrize("fault", sorted(CONTROL_FAULTS))
def test_fault_fails_exactly_its_control(plan_with_fault, fault):
    control, resource = CONTROL_FAULTS[fault]
    plan = plan_with_fault(fault)
    failed = failed_controls(plan)
    assert list(failed) == [control]
    assert resource in {v.resource for v in failed[control]}
    assert not plan.clean


@pytest.mark.parametrize("fault", sorted(VALUE_FAULTS))
def test_unset_value_fails_its_controls_naming_the_resource(plan_with_fault, fault):
    controls, resource = VALUE_FAULTS[fault]
    plan = plan_with_fault(fault)
    failed = failed_controls(plan)
    assert set(failed) == controls
    for control in controls:
        assert {v.resource for v in failed[control]} == {resource}
    assert not plan.clean


# fault -> (resource AWS rejects, words of AWS's message)
AWS_FAULTS = {
    "subnet_outside_vpc": ("private-a", "InvalidSubnet.Range"),
    "overlapping_subnets": ("private-overlap", "InvalidSubnet.Conflict"),
    "malformed_policy": ("broken-policy", "MalformedPolicyDocument"),
    "flow_log_no_group": ("hub-flow-log", "log group nowhere, does not exist"),
    "vpn_bad_option": ("vpn", "AES512"),
    "guardrail_filter_strength": ("guardrail", "contentPolicyConfig.filtersConfig[0].inputStrength is not one of"),
}


@pytest.mark.parametrize("fault", sorted(AWS_FAULTS))
def test_aws_rejects_fault_naming_the_resource(plan_with_fault, fault):
    resource, message = AWS_FAULTS[fault]
    plan = plan_with_fault(fault)
    rejected = [r for r in plan.resource_errors if r.checked_by == REJECTED]
    assert [r.name for r in rejected] == [resource]
    assert message in rejected[0].error
    assert not plan.clean
