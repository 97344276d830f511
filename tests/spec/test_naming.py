"""Host names and host-override marks (aifactory.spec.naming), and that the spec and inventory use them."""

from __future__ import annotations

from aifactory.spec import load_spec
from aifactory.spec.naming import (ABSENT, DEDICATED, absent_hosts, bmc_host, head_node_name, is_container, is_lab,
                                   is_marked, mark_problems, node_name, rack_group, rack_name, switch_tray_name)
from tests.conftest import site_dir


def test_names():
    assert rack_name("paris", 7) == "paris-r007" and rack_name("paris", 1000) == "paris-r1000"
    assert node_name("paris", 2, 3) == "paris-r002-n03"
    assert switch_tray_name("paris", 2, 9) == "paris-r002-sw09"
    assert head_node_name("paris", 1) == "paris-head01"
    assert bmc_host("paris-r002-n03") == "paris-r002-n03-bmc"
    assert rack_group(4) == "rack04"


def test_the_spec_names_its_hosts_with_them():
    f = load_spec(site_dir("lab-gb200"))
    assert f.nodes[0].name == node_name(f.name, 1, 1) and f.nodes[0].rack_group == rack_group(1)
    assert f.switch_trays[-1].name == switch_tray_name(f.name, f.compute.racks, f.switch_trays[-1].slot)


def test_marks_count_only_when_true():
    overrides = {"a": {ABSENT: True}, "b": {DEDICATED: False}, "c": {ABSENT: "yes", DEDICATED: 0}, "d": "not a dict",
                 "e": {ABSENT: True, DEDICATED: False}}
    assert absent_hosts(overrides) == ["a", "e"]
    assert [h for h, v in overrides.items() if is_container(v)] == ["b", "e"]
    assert not is_marked(None, ABSENT) and absent_hosts(None) == [] and not is_container({DEDICATED: True})


def test_a_lab_says_every_node_is_a_container_or_absent_and_one_at_least_a_container():
    nodes = ["n1", "n2", "n3"]
    container = {DEDICATED: False}
    assert is_lab(nodes, {"n1": container, "n2": container, "n3": {ABSENT: True}})
    assert not is_lab(nodes, {n: {ABSENT: True} for n in nodes})
    assert not is_lab(nodes, {"n1": container, "n2": container})  # n3 unmarked: a real node
    assert not is_lab(nodes, {"n1": container, "n2": container, "n3": {DEDICATED: True}})
    assert not is_lab(nodes, None) and not is_lab(nodes, {})


def test_a_mark_that_is_not_a_boolean_is_a_problem_naming_host_and_mark():
    problems = mark_problems({"n1": {ABSENT: "true", DEDICATED: False}, "n2": {DEDICATED: 0}, "n3": "x"})
    assert problems == [("n1", f"{ABSENT} must be true or false", "true"),
                        ("n2", f"{DEDICATED} must be true or false", 0)]
