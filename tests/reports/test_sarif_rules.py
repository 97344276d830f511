"""Every SARIF rule says what it checks and what to change, and links to docs that exist; the driver
names the project and its version. A rule is described where it is written (a validator's docstring, a
control's statement and its checks' docstrings), so these tests read the rules the documents carry."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from aifactory import __version__
from aifactory.reports.formats.rules import Rule, plan_rules, spec_rules
from aifactory.reports.formats.sarif import plan_sarif, spec_sarif
from aifactory.spec.validators import VALIDATORS
from tests.reports.conftest import REPO, valid_sarif

LAB_SPEC = REPO / "inventories" / "lab-b200" / "factory.yaml"
FILLER = {"a", "an", "the", "is", "are", "be", "must", "of", "and", "on", "in", "to", "check", "checks"}


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def placeholder(text: str, rule_id: str) -> bool:
    """Empty, fewer than 4 words, or the rule's id or name reworded ("vpc size.")."""
    said = words(text)
    return len(said) < 4 or set(said) <= set(words(rule_id.replace("_", " "))) | FILLER


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file."""
    anchors = set()
    for line in markdown.splitlines():
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if heading:
            anchors.add(re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("rule", spec_rules() + plan_rules(), ids=lambda rule: rule.id)
def test_each_rule_says_what_it_checks_and_what_to_change(rule: Rule):
    assert not placeholder(rule.short, rule.id) and not placeholder(rule.full, rule.id), rule
    assert not placeholder(rule.help, rule.id) and rule.help != rule.full, rule
    path, _, anchor = rule.doc.partition("#")
    assert anchor in github_anchors((REPO / path).read_text()), f"{rule.id}: no heading {rule.doc}"


def test_the_placeholder_check_catches_what_the_rules_once_said():
    assert placeholder("vpc size.", "spec/vpc_size") and placeholder("residency.", "spec/residency")
    assert placeholder("", "SOV-01") and placeholder("Checks the vpc size.", "spec/vpc_size")
    assert not placeholder("The AWS VPC is between /16 and /28.", "spec/vpc_size")


def test_every_validator_and_control_is_a_rule_with_its_level():
    ids = {rule.id: rule for rule in spec_rules() + plan_rules()}
    for name, level, _check in VALIDATORS:
        assert ids[f"spec/{name}"].level == level
    assert {f"SOV-{n:02d}" for n in range(1, 16)} <= set(ids)


def test_documents_carry_the_rules_and_the_driver():
    plan = SimpleNamespace(factory=SimpleNamespace(name="lab-b200"), program=REPO / "infra", resources=[], components=[],
                           controls=[], resource_errors=[], errors=[])
    validate = valid_sarif(json.dumps(spec_sarif(LAB_SPEC, [], "aifactory-validate/lab-b200/", [])))
    planned = valid_sarif(json.dumps(plan_sarif(plan)))
    for document, expected in ((validate, spec_rules()), (planned, plan_rules())):
        driver = document["runs"][0]["tool"]["driver"]
        assert driver["version"] == driver["semanticVersion"] == __version__
        assert [r["id"] for r in driver["rules"]] == [rule.id for rule in expected]
        for rule, written in zip(expected, driver["rules"]):
            assert written["shortDescription"]["text"] == rule.short and written["fullDescription"]["text"] == rule.full
            assert written["help"]["text"] == f"{rule.help} More: {rule.doc} in the aifactory repository."
            assert written["defaultConfiguration"]["level"] == rule.level
