"""The plan engine's contract with moto: preview semantics, isolation between plans, moto's account."""

from __future__ import annotations

import pytest

from aifactory.aws.moto_standin.backend import ACCOUNT_ID, client_factory, in_process_moto
from aifactory.aws.plan import make_plan
from aifactory.aws.plan.engine import MOCK_ONLY, MOTO
from tests.aws.conftest import LAB, PROGRAMS


def test_outputs_known_after_apply_leave_their_users_unchecked_not_rejected():
    plan = make_plan(LAB, PROGRAMS / "known_after_apply", progress=lambda line: None)
    checked = {r.name: r.checked_by for r in plan.resources}
    assert checked == {"hub": MOTO, "default-https": MOCK_ONLY}
    assert plan.errors == [] and plan.resource_errors == []
    rule = next(r for r in plan.resources if r.name == "default-https")
    assert "securityGroupId" not in rule.inputs  # unknown until the VPC exists, as in a preview


def test_each_plan_starts_from_an_empty_account():
    """moto's data outlives a plan (no reset at its end); the next plan must not see it."""
    first = make_plan(LAB, PROGRAMS / "baseline", progress=lambda line: None)
    second = make_plan(LAB, PROGRAMS / "baseline", progress=lambda line: None)  # the same explicit alias name again
    assert first.resource_errors == [] and second.resource_errors == []
    alias = next(r for r in second.resources if r.name == "key-alias")
    assert alias.checked_by == MOTO


@pytest.mark.parametrize("service", ["ec2", "iam", "sts"])
def test_every_request_names_motos_account(service):
    seen = []
    with in_process_moto():
        client = client_factory(None)(service, "eu-west-3")
        client.meta.events.register_last("before-sign", lambda request, **_: seen.append(dict(request.headers)))
        {"ec2": lambda: client.describe_vpcs(), "iam": lambda: client.list_roles(),
         "sts": lambda: client.get_caller_identity()}[service]()
    assert seen and seen[0].get("x-moto-account-id") == ACCOUNT_ID
