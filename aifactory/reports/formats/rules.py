"""The rules SARIF and JUnit report against, each described where it is written: a spec validator by its
docstring (first paragraph: what it checks; `Fix:` paragraph: what to change), a control by its statement
and its checks' docstrings, and the steps no validator or control covers (the spec file, its YAML, the
schema; AWS rejections and program errors of a plan) below. Each rule names the part of the project's docs about
it (a file and heading of the repository: the project declares no web home, so SARIF carries no helpUri)."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass

from aifactory.aws.plan.controls import CONTROLS
from aifactory.spec.validators import VALIDATORS

# Where the docs describe each kind of rule: a file of the repository and a heading's anchor in it.
SPEC_DOC = "README.md#using-it-for-real"
VALIDATOR_DOCS = {"network": "docs/addressing.md#addresses-a-fixed-block-per-rack",
                  "scheduler": "docs/scheduler.md#the-spec"}
CONTROLS_DOC = "docs/DESIGN.md#sovereignty-controls"
PLAN_DOC = "docs/DESIGN.md#the-aws-side-infra"
# (what it checks, what to change) of the steps no validator reports: the file itself, its YAML, the schema.
SPEC_STEPS = {
    "file": ("The spec file exists and is readable UTF-8 text.",
             "Point SPEC at a factory.yaml, or at the site directory holding one: a regular UTF-8 file of at most 1 MiB."),
    "yaml": ("The spec is well-formed YAML holding a mapping of sections.",
             "Correct the YAML at the line given (indentation, an unclosed bracket or quote); no duplicate keys, "
             "anchors or aliases."),
    "schema": ("Every field is known and of its type (`aifactory schema`).",
               "Spell the field as the schema does and give it a value of its type, numbers and booleans as plain YAML "
               "(4, true; not \"4\", yes); `aifactory schema` prints the JSON Schema for an editor."),
}
PLAN_STEPS = {
    "plan/rejected": ("AWS (moto) accepts every resource the program declares.",
                      "Correct the resource's arguments as AWS's error says; the finding names the resource and its type."),
    "plan/program-error": ("The program runs to the end, declares AWS resources, and every lookup it makes is answered offline.",
                           "Fix the error the program raised where the message says, then plan again."),
}


@dataclass(frozen=True)
class Rule:
    id: str
    short: str  # one sentence: what it checks
    full: str  # what it checks
    help: str  # what to change
    doc: str  # "file#anchor" of the repository
    level: str = "error"  # the level of its findings (a validator may only warn)

    @property
    def help_text(self) -> str:
        """What to change, and where the docs say more."""
        return f"{self.help} More: {self.doc} in the aifactory repository."


def paragraphs(doc: str | None) -> list[str]:
    """A docstring's paragraphs, each on one line."""
    return [" ".join(p.split()) for p in inspect.cleandoc(doc or "").split("\n\n") if p.strip()]


def described(doc: str | None) -> tuple[str, str]:
    """(what it checks: the first paragraph, what to change: the `Fix:` paragraph) of a check's docstring."""
    parts = paragraphs(doc)
    fix = next((p.removeprefix("Fix:").strip() for p in parts if p.startswith("Fix:")), "")
    return (parts[0] if parts and not parts[0].startswith("Fix:") else ""), fix


def first_sentence(text: str) -> str:
    return re.split(r"(?<=\.)\s", text, maxsplit=1)[0]


def spec_rules() -> list[Rule]:
    """Every step of spec validation, in the order they run: the file, YAML and schema, then each validator."""
    rules = [Rule(f"spec/{step}", what, what, fix, SPEC_DOC) for step, (what, fix) in SPEC_STEPS.items()]
    for name, level, check in VALIDATORS:
        what, fix = described(check.__doc__)
        doc = VALIDATOR_DOCS.get(check.__module__.rsplit(".", 1)[-1], SPEC_DOC)
        rules.append(Rule(f"spec/{name}", first_sentence(what), what, fix, doc, level))
    return rules


def control_rules() -> list[Rule]:
    """One rule per control id (a control may be checked by several policies), in the order they are declared."""
    by_id: dict[str, list] = {}
    for c in CONTROLS:
        by_id.setdefault(c.id, []).append(c)
    rules = []
    for control_id, checks in by_id.items():
        # a later check under the same title adds its requirement only
        parts = [checks[0].statement] + [(c.statement.partition(": ")[2] or c.statement[0].lower() + c.statement[1:])
                                         for c in checks[1:]]
        full = "; ".join(dict.fromkeys(parts))
        fix = " ".join(described(c.check.__doc__)[1] for c in checks)
        rules.append(Rule(control_id, f"{control_id}: {checks[0].statement}", full, fix, CONTROLS_DOC))
    return rules


def plan_rules() -> list[Rule]:
    """The controls, then AWS rejections and program errors."""
    return control_rules() + [Rule(rule_id, what, what, fix, PLAN_DOC) for rule_id, (what, fix) in PLAN_STEPS.items()]
