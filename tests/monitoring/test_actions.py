"""The severity table: every alert of every example site has an action with a reason."""

from __future__ import annotations

import pytest

from aifactory.monitoring import actions as a
from aifactory.monitoring.alerts import alerts
from aifactory.monitoring.metrics import XID_CLASSES
from aifactory.spec import load_spec
from tests.conftest import site_dir

SITES = ("paris-gb200", "ohio-trn3", "lab-b200", "lab-gb200")


def alerts_without_action(site: str) -> list[str]:
    return [rule.name for rule in alerts(load_spec(site_dir(site))) if a.severity(rule.name) is None]


@pytest.mark.parametrize("site", SITES)
def test_every_alert_of_the_site_has_an_action(site):
    assert alerts_without_action(site) == []


def test_an_alert_the_table_lacks_is_found(monkeypatch):
    monkeypatch.delitem(a.TABLE, "GpuEccDoubleBit")
    assert alerts_without_action("paris-gb200") == ["GpuEccDoubleBit"]


def test_every_entry_names_a_known_action_and_a_reason_and_no_alert_that_does_not_exist():
    every = {rule.name for site in SITES for rule in alerts(load_spec(site_dir(site)))}
    assert set(a.TABLE) == every
    for entry in [*a.TABLE.values(), *a.XID_CLASS_ACTIONS.values()]:
        assert entry.action in a.ACTIONS and entry.reason
    assert set(a.XID_CLASS_ACTIONS) <= set(XID_CLASSES)


def test_an_xid_class_can_ask_for_more_than_a_drain():
    assert a.severity("GpuXidError", {"xid_class": "fell-off-bus"}).action == a.POWER_CYCLE
    assert a.severity("GpuXidError", {"xid_class": "memory"}).action == a.DRAIN
    assert a.severity("GpuXidError").action == a.DRAIN
    assert a.drain_reason("GpuXidError") == "aifactory alert: GpuXidError"


def test_only_a_rack_that_is_one_nvlink_domain_is_isolated_whole():
    assert a.isolates_rack(load_spec(site_dir("paris-gb200")))
    assert not a.isolates_rack(load_spec(site_dir("lab-b200")))
