"""Debian version order and the dependency closure with versions (aifactory.mirror.debian)."""

from __future__ import annotations

import pytest

from aifactory.mirror.debian import MirrorIndexError, closure, compare_versions, relations


@pytest.mark.parametrize("older, newer", [
    ("580.95.05-1", "580.105.08-1"),  # digit runs compare as numbers
    ("1.0~rc1-1", "1.0-1"),  # ~ sorts before the end
    ("4.4.1-1", "1:4.0-1"),  # the epoch first
    ("1.0-1", "1.0-1ubuntu1"),
    ("2.30.2.0", "2.30.10.0"),
])
def test_compare_versions(older, newer):
    assert compare_versions(older, newer) < 0 < compare_versions(newer, older)
    assert compare_versions(newer, newer) == 0


def test_relations_keep_versions_and_drop_architecture_qualifiers():
    assert relations("a (>= 1.2), b:any | c (= 3)") == [[("a", ">=", "1.2")], [("b", None, None), ("c", "=", "3")]]


def p(name: str, version: str, depends: str = "") -> dict:
    return {"Package": name, "Version": version, "Depends": depends}


def test_closure_takes_the_pinned_prefix_and_the_version_a_relation_demands():
    candidates = {"drv": [p("drv", "580.95.05-1", "fm (= 580.95.05-1)"), p("drv", "580.105.08-1", "fm (= 580.105.08-1)")],
                  "fm": [p("fm", "580.95.05-1"), p("fm", "580.105.08-1")]}
    assert [x["Version"] for x in closure([("drv", "")], candidates, set())] == ["580.105.08-1"] * 2
    assert [x["Version"] for x in closure([("drv", "580.95")], candidates, set())] == ["580.95.05-1"] * 2


def test_closure_names_what_fits_nothing_or_collects_it():
    candidates = {"drv": [p("drv", "580.95.05-1", "fm (>= 600)")], "fm": [p("fm", "580.95.05-1")]}
    with pytest.raises(MirrorIndexError, match=r"fm >= 600 is in no index of the mirror \(needed by drv\)"):
        closure([("drv", "")], candidates, set())
    missing: list[str] = []
    assert [x["Package"] for x in closure([("drv", ""), ("gone", "")], candidates, set(), missing)] == ["drv"]
    assert missing[0] == "gone is in no index of the mirror" and missing[1].startswith("fm >= 600")
