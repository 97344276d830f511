"""The offline plan sees what AWS would see: moto holds what it can, the rest is held against the AWS API's model."""

from __future__ import annotations

import inspect
import json
import re

import pulumi_aws
import pytest

from aifactory.aws.moto_standin.backend import HANDLERS, client_factory
from aifactory.aws.plan import make_plan
from aifactory.aws.plan.api_model import API_CALLS
from aifactory.aws.plan.engine import API_MODEL, MOTO, REJECTED, MockOnlyBackend, PlanMocks, run_program
from aifactory.catalog.aws_api import botocore_version
from aifactory.cli import main
from tests.aws.conftest import BASELINE, LAB, PROGRAMS, REPO

SEEDED = PROGRAMS / "api_model"


def seeded_run(monkeypatch, fault: str):
    """The seeded program run by the plan's engine with no moto behind it: every resource is model-checked."""
    monkeypatch.setenv("API_FAULT", fault)
    mocks = PlanMocks(MockOnlyBackend("eu-west-3"), "eu-west-3", progress=lambda line: None)
    return run_program(SEEDED, {"aws:region": "eu-west-3"}, mocks, "api-model")


def test_every_mapped_type_is_model_checked_when_valid(monkeypatch):
    run = seeded_run(monkeypatch, "")
    assert run.errors == []
    assert {r.type for r in run.resources} == set(API_CALLS)  # the seeded program covers the whole mapping
    assert {r.name: r.checked_by for r in run.resources if r.checked_by != API_MODEL} == {}
    assert {r.name for r in run.resources} == {resource for resource, _ in FAULTS.values()}  # a fault for each


# fault -> (the resource it breaks, the input the refusal names)
FAULTS = {
    "analyzer_type": ("analyzer", "type"),
    "dx_asn": ("dxgw", "amazonSideAsn"),
    "vif_vlan": ("dx-vif", "vlan"),
    "prefix_type": ("dx-assoc", "allowedPrefixes[0].cidr"),
    "anchor_source": ("anchor", "source.sourceType"),
    "profile_duration": ("profile", "durationSeconds"),
    "guardrail_strength": ("guardrail", "contentPolicyConfig.filtersConfig[0].inputStrength"),
    "version_description": ("guardrail-version", "description"),
    "activation_limit": ("activation", "registrationLimit"),
    "association_type": ("tgw-assoc", "transitGatewayRouteTableId"),
    "propagation_type": ("tgw-prop", "transitGatewayRouteTableId"),
    "xks_endpoint": ("xks", "xksProxyUriEndpoint"),
    "xks_secret": ("xks", "xksProxyAuthenticationCredential.RawSecretAccessKey"),
    "key_usage": ("key", "keyUsage"),
    "alias_name": ("alias", "name"),
    "policy_size": ("key-policy", "policy"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_value_the_api_refuses_is_rejected_naming_resource_and_field(monkeypatch, fault):
    resource, field = FAULTS[fault]
    run = seeded_run(monkeypatch, fault)
    rejected = [r for r in run.resources if r.checked_by == REJECTED]
    assert [r.name for r in rejected] == [resource]
    assert re.search(rf"(^|[ :]){re.escape(field)} ", rejected[0].error), rejected[0].error
    assert f"botocore {botocore_version()}" in rejected[0].error


def test_refused_secret_is_never_echoed(monkeypatch):
    run = seeded_run(monkeypatch, "xks_secret")
    error = next(r.error for r in run.resources if r.name == "xks")
    assert "RawSecretAccessKey" in error and "do-not-print" not in error


def test_program_declares_no_type_neither_moto_nor_the_model_holds():
    """Every type infra/ declares that moto has no handler for is mapped to its API call."""
    declared = set()
    for source in (REPO / "infra").glob("*.py"):
        for module, name in re.findall(r"\baws\.(\w+)\.([A-Z]\w*)\(", source.read_text()):
            if not name.endswith("Args"):
                cls_source = inspect.getsource(getattr(getattr(pulumi_aws, module), name))
                declared.add(re.search(r"__init__\(\s*'(aws:[^']+)'", cls_source).group(1))
    assert "aws:bedrock/guardrail:Guardrail" in declared and "aws:ec2/vpc:Vpc" in declared
    assert sorted(declared - set(HANDLERS) - set(API_CALLS)) == []


def test_plan_exits_1_naming_resource_and_field(monkeypatch, capsys):
    monkeypatch.setenv("PLAN_FAULT", "guardrail_filter_strength")
    assert main(["plan", str(LAB), "--program", str(BASELINE), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["api_model"] == {"botocore": botocore_version()}
    assert [e for e in data["errors"] if e.startswith("guardrail (aws:bedrock/guardrail:Guardrail)")
            and "inputStrength" in e and "'EXTREME'" in e]
    assert data["summary"]["rejected"] == 1 and data["summary"]["controls_failed"] == 0


def test_moto_holds_what_the_plan_says_it_checked(moto_server, monkeypatch):
    """After a plan against a moto_server, moto shows the program's default network ACL rules only, the
    flow log delivering to its group, the endpoints' interfaces in the program's group; the VPN tunnel
    options, which moto does not hold, are listed as not in moto."""
    monkeypatch.setenv("PLAN_FAULT", "")
    plan = make_plan(LAB, BASELINE, aws_endpoint=moto_server, progress=lambda line: None)
    assert plan.clean, plan.as_dict()["errors"]
    by_name = {r.name: r for r in plan.resources}
    ec2 = client_factory(moto_server, plan.account)("ec2", plan.factory.sovereignty.region)

    nacl = by_name["default-nacl"]
    assert nacl.checked_by == MOTO
    entries = ec2.describe_network_acls(NetworkAclIds=[nacl.id])["NetworkAcls"][0]["Entries"]
    held = {(e["Egress"], e["RuleNumber"], e["Protocol"], e["CidrBlock"], e["PortRange"]["From"], e["PortRange"]["To"])
            for e in entries if e["RuleNumber"] != 32767}  # EC2's last deny-all rule, which no call removes
    assert held == {(False, 100, "6", "10.40.0.0/16", 443, 443), (True, 100, "6", "10.40.0.0/16", 1024, 65535)}

    flow_log = ec2.describe_flow_logs(FlowLogIds=[by_name["hub-flow-log"].id])["FlowLogs"][0]
    assert flow_log["DeliverLogsStatus"] == "SUCCESS" and flow_log["LogGroupName"] == by_name["flow-logs"].id

    endpoint = by_name["vpce-kms"]
    interfaces = ec2.describe_network_interfaces(NetworkInterfaceIds=endpoint.outputs["networkInterfaceIds"])
    assert interfaces["NetworkInterfaces"]
    assert {g["GroupId"] for i in interfaces["NetworkInterfaces"] for g in i["Groups"]} == {by_name["endpoints-sg"].id}

    vpn = by_name["vpn"]
    options = ec2.describe_vpn_connections(VpnConnectionIds=[vpn.id])["VpnConnections"][0].get("Options") or {}
    assert not options.get("TunnelOptions")  # moto drops them ...
    assert vpn.checked_by == MOTO and "tunnel1Phase1EncryptionAlgorithms" in vpn.not_in_moto  # ... and the plan says so
    assert plan.as_dict()["resources"][plan.resources.index(vpn)]["not_in_moto"] == vpn.not_in_moto
