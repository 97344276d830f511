"""The HTML report's control evidence is what the plan's evaluation recorded (no control runs again),
with secrets masked. No Graphviz or Chromium needed: the page is built without its drawing."""

from __future__ import annotations

from aifactory.aws.plan import MASK, Plan
from aifactory.aws.plan.engine import MOTO, PlannedResource
from aifactory.aws.plan.evaluate import ControlResult
from aifactory.reports.html import evidence, page
from aifactory.reports.provenance import provenance
from aifactory.spec import load_spec
from tests.reports.conftest import REPO

VPN = "aws:ec2/vpnConnection:VpnConnection"


def plan_with(controls: list[ControlResult]) -> Plan:
    """A plan of one VPN whose weak IKE version a control would read, were it run again."""
    weak = {"tunnel1IkeVersions": ["ikev1"]}
    vpn = PlannedResource("urn:vpn-1", VPN, "lab-b200-vpn-1", "HybridLink", weak, weak, "vpn-1", MOTO,
                          secret_paths={"customerGatewayConfiguration"})
    return Plan(load_spec(REPO / "inventories" / "lab-b200"), REPO / "infra", "moto (worker process)", [vpn], [],
                controls, [], [], "123456789012")


def test_the_page_shows_the_recorded_evidence_with_secrets_masked():
    recorded = ControlResult("SOV-08", "strong VPN crypto", evidence={"lab-b200-vpn-1": {
        "tunnel1IkeVersions": ["ikev2"], "tunnel1PresharedKey": "psk-do-not-print",
        "customerGatewayConfiguration": "<xml>cgw-do-not-print</xml>"}})
    plan = plan_with([recorded])
    found = evidence(plan)
    assert found == {"SOV-08": {"lab-b200-vpn-1": {"tunnel1IkeVersions": ["ikev2"], "tunnel1PresharedKey": MASK,
                                                   "customerGatewayConfiguration": MASK}}}
    text = page(plan, "<svg></svg>", found, [], provenance(plan.program))
    section = text[text.index('id="SOV-08"'):]
    assert "tunnel1IkeVersions" in section and "ikev2" in section and "(1 resources examined)" in section
    assert "do-not-print" not in text and "ikev1" not in text


def test_a_control_without_recorded_evidence_shows_none():
    plan = plan_with([ControlResult("SOV-08", "strong VPN crypto")])  # the resource is there; nothing was recorded
    assert evidence(plan) == {"SOV-08": {}}
    text = page(plan, "<svg></svg>", evidence(plan), [], provenance(plan.program))
    assert "(0 resources examined)" in text and 'class="evidence"' not in text
