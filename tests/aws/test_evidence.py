"""The evidence `evaluate` records with each control's result: the properties of each resource the
control read, with the values it read, as it checked them."""

from __future__ import annotations

from aifactory.aws.plan.engine import MOTO, PlannedResource
from aifactory.aws.plan.evaluate import evaluate


def planned(name: str, typ: str, inputs: dict, computed: dict | None = None) -> PlannedResource:
    return PlannedResource(f"urn:pulumi:plan::aifactory::{typ}::{name}", typ, name, "HubNetwork", inputs,
                           {**inputs, **(computed or {})}, f"{name}-id", MOTO)


def by_id(results) -> dict:
    return {c.id: c for c in results}


def test_a_resource_control_keeps_what_it_read_of_each_resource():
    subnet = planned("private-1", "aws:ec2/subnet:Subnet", {"mapPublicIpOnLaunch": True, "cidrBlock": "10.0.0.0/24"})
    sov01 = by_id(evaluate([subnet]))["SOV-01"]
    assert [v.resource for v in sov01.violations] == ["private-1"]
    assert sov01.evidence["private-1"]["mapPublicIpOnLaunch"] is True
    assert "cidrBlock" not in sov01.evidence["private-1"]  # present, but the control never read it


def test_a_stack_control_reads_outputs_and_only_what_is_there():
    key = planned("data-key", "aws:kms/key:Key", {"enableKeyRotation": False, "description": "data"},
                  {"arn": "arn:aws:kms:eu-west-3:123456789012:key/k"})
    sov04 = by_id(evaluate([key]))["SOV-04"]
    assert not sov04.passed
    # customKeyStoreId was asked for too, but the key has none: evidence is what the resource holds
    assert sov04.evidence == {"data-key": {"enableKeyRotation": False}}


def test_a_control_that_reads_nothing_of_a_resource_keeps_no_evidence_of_it():
    group = planned("flow-logs", "aws:cloudwatch/logGroup:LogGroup", {"kmsKeyId": "arn:aws:kms:k", "retentionInDays": 365})
    results = by_id(evaluate([group]))
    assert results["SOV-04"].evidence == {"flow-logs": {"kmsKeyId": "arn:aws:kms:k"}}
    assert "flow-logs" not in results["SOV-02"].evidence


def test_no_internet_path_reads_nothing_of_resources_that_are_not_security_groups():
    analyzer = planned("analyzer", "aws:accessanalyzer/analyzer:Analyzer", {"type": "ACCOUNT"})
    gateway = planned("cgw", "aws:ec2/customerGateway:CustomerGateway", {"type": "ipsec.1", "bgpAsn": "65000"})
    rule = planned("sg-in", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", {"cidrIpv4": "10.0.0.0/8"})
    sov01 = by_id(evaluate([analyzer, gateway, rule]))["SOV-01"]
    assert "analyzer" not in sov01.evidence and "cgw" not in sov01.evidence
    assert sov01.evidence["sg-in"]["cidrIpv4"] == "10.0.0.0/8"
