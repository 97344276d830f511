"""The monitoring section: alert receivers and the mail relay, each rule reported at its field."""

from __future__ import annotations

import pytest

from aifactory.spec import SpecError, load_spec
from tests.conftest import both, put


def problems_of(site_path):
    with pytest.raises(SpecError) as caught:
        load_spec(site_path)
    return caught.value.problems


CASES = [
    ("receiver name not lower-case", put("monitoring.receivers.0.name", "NOC"), {"monitoring.receivers.0.name"}),
    ("two receivers of one name", put("monitoring.receivers.1.name", "noc"), {"monitoring.receivers.1.name"}),
    ("receiver with email and webhook", put("monitoring.receivers.0.webhook", "https://tools.par1.factory.internal/a"),
     {"monitoring.receivers.0"}),
    ("receiver without a target", put("monitoring.receivers.1.webhook", None), {"monitoring.receivers.1"}),
    ("email not an address", put("monitoring.receivers.0.email", "noc at bank"), {"monitoring.receivers.0.email"}),
    ("webhook over http", put("monitoring.receivers.1.webhook", "http://itsm.par1.factory.internal/hook"),
     {"monitoring.receivers.1.webhook"}),
    ("webhook with credentials", put("monitoring.receivers.1.webhook", "https://bot:s3cret@itsm.par1.factory.internal/"),
     {"monitoring.receivers.1.webhook"}),
    ("public webhook on an air-gapped site", put("monitoring.receivers.1.webhook", "https://hooks.example.com/x"),
     {"monitoring.receivers.1.webhook"}),
    ("email without a mail relay or sender", both(put("monitoring.smtp_smarthost", None), put("monitoring.smtp_from", None)),
     {"monitoring.smtp_smarthost", "monitoring.smtp_from"}),
    ("mail relay without a port", put("monitoring.smtp_smarthost", "mail.par1.factory.internal"),
     {"monitoring.smtp_smarthost"}),
    ("public mail relay on an air-gapped site", put("monitoring.smtp_smarthost", "smtp.example.com:587"),
     {"monitoring.smtp_smarthost"}),
    ("retention of no days", put("monitoring.retention_days", 0), {"monitoring.retention_days"}),
    ("monitoring without head nodes", both(put("monitoring.enabled", True), put("scheduler", {"kind": "none"})),
     {"monitoring.enabled"}),
]


@pytest.mark.parametrize("mutate,paths", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_reports_exactly_its_field(write_site, mutate, paths):
    problems = problems_of(write_site("paris-gb200", mutate))
    assert {p.path for p in problems} == paths, [str(p) for p in problems]


def test_messages_say_what_to_change_and_never_echo_a_password(write_site):
    problems = problems_of(write_site("paris-gb200", both(
        put("monitoring.receivers.1.webhook", "https://bot:s3cret@itsm.par1.factory.internal/"),
        put("monitoring.smtp_smarthost", None))))
    text = "\n".join(str(p) for p in problems)
    assert "s3cret" not in text
    assert "as a file on the head node" in text and "such as mail.example.internal:587" in text


def test_monitoring_is_optional_and_metrics_stay_home_by_default(write_site):
    factory = load_spec(write_site("paris-gb200", lambda data: data.pop("monitoring")))
    assert factory.monitoring.receivers == [] and factory.monitoring.retention_days == 30
    assert factory.monitoring.amp_remote_write is False


@pytest.mark.parametrize("amp_remote_write", [True, False])
def test_receivers_and_amp_remote_write_without_head_nodes_are_warnings(write_site, amp_remote_write):
    warnings = []
    load_spec(write_site("paris-gb200", both(put("scheduler", {"kind": "none"}),
                                             put("monitoring.amp_remote_write", amp_remote_write))), warnings=warnings)
    assert sorted((w.path, w.validator) for w in warnings if w.path.startswith("monitoring")) == [
        *([("monitoring.amp_remote_write", "amp_remote_write_needs_head_nodes")] if amp_remote_write else []),
        ("monitoring.receivers", "receivers_need_head_nodes")]


def test_amp_remote_write_must_be_a_boolean(write_site):
    assert {p.path for p in problems_of(write_site("paris-gb200", put("monitoring.amp_remote_write", "sometimes")))} == {
        "monitoring.amp_remote_write"}
