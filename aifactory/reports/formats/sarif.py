"""SARIF 2.1.0 (OASIS) documents: one rule per validator or control, one result per problem or
violation. Spec problems point at their line in factory.yaml; plan findings at the program file and
line that declared the resource when the plan records it, else at the program's entry file."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from aifactory import __version__
from aifactory.reports.formats.spec_lines import spec_position
from aifactory.spec import Problem
from aifactory.spec.validators import VALIDATORS

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"  # the directory the command ran in: a CI job's checkout
# Rules for problems no validator reports: the file itself, its YAML syntax, the schema.
SPEC_RULES = {"file": "The spec file exists and is readable UTF-8 text.",
              "yaml": "The spec is well-formed YAML holding a mapping of sections.",
              "schema": "Every field is known and of its type (`aifactory schema`)."}
PLAN_RULES = {"plan/rejected": "AWS (moto) accepts every resource the program declares.",
              "plan/program-error": "The program runs to the end and every lookup it makes is answered offline."}


def spec_rule_id(problem: Problem) -> str:
    """The rule a spec problem belongs to: its validator, else the file, YAML or schema step."""
    if problem.validator and problem.validator != "schema":
        return f"spec/{problem.validator}"
    return {"(file)": "spec/file", "(yaml)": "spec/yaml"}.get(problem.path, "spec/schema")


def spec_rules() -> list[tuple[str, str]]:
    """(rule id, description) of every step of spec validation, in the order they run."""
    rules = [(f"spec/{name}", text) for name, text in SPEC_RULES.items()]
    for name, _level, check in VALIDATORS:
        doc = (check.__doc__ or "").strip()
        rules.append((f"spec/{name}", doc.split("\n\n")[0].replace("\n", " ") if doc else name.replace("_", " ") + "."))
    return rules


def artifact_location(path: Path) -> dict:
    """A file relative to the working directory (the CI checkout) when under it, else its file URI."""
    path = path.resolve()
    try:
        return {"uri": path.relative_to(Path.cwd().resolve()).as_posix(), "uriBaseId": SRCROOT}
    except ValueError:
        return {"uri": path.as_uri()}


def _document(tool_rules: list[tuple[str, str]], results: list[dict], category: str, succeeded: bool) -> dict:
    index = {rule_id: i for i, (rule_id, _) in enumerate(tool_rules)}
    for result in results:
        result["ruleIndex"] = index[result["ruleId"]]
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "aifactory", "version": __version__,
                "rules": [{"id": rule_id, "shortDescription": {"text": text}, "fullDescription": {"text": text},
                           "defaultConfiguration": {"level": "error"}} for rule_id, text in tool_rules],
            }},
            "automationDetails": {"id": category},
            "originalUriBaseIds": {SRCROOT: {"uri": Path.cwd().resolve().as_uri() + "/"}},
            "invocations": [{"executionSuccessful": succeeded}],
            "results": results,
        }],
    }


def _region(line: int | None, column: int | None = None) -> dict:
    if not line:
        return {}
    region = {"startLine": line}
    if column:
        region["startColumn"] = column
    return {"region": region}


def spec_sarif(spec_file: Path, problems: list[Problem], category: str) -> dict:
    """The spec's problems (errors and warnings), each at its line in `spec_file`."""
    results = []
    for p in problems:
        line, column = spec_position(spec_file, p.path)
        results.append({
            "ruleId": spec_rule_id(p),
            "level": "warning" if p.level == "warning" else "error",
            "message": {"text": str(p)},
            "locations": [{"physicalLocation": {"artifactLocation": artifact_location(spec_file), **_region(line, column)},
                           "logicalLocations": [{"fullyQualifiedName": p.path, "kind": "member"}]}],
        })
    return _document(spec_rules(), results, category, succeeded=True)


def declared_at(resource, program: Path) -> tuple[Path, int | None]:
    """Where the program declared `resource`: the SDK's recorded source position when the plan keeps
    it (a `source` of (file URI, line)), else the program's entry file."""
    source = getattr(resource, "source", None)
    if source:
        uri, line = source
        return Path(unquote(urlparse(uri).path)), line
    return program / "__main__.py", None


def plans_sarif(plans: list) -> dict:
    """Several sites' plans as one SARIF log: one run per site, each with its own category."""
    documents = [plan_sarif(plan) for plan in plans]
    return {**documents[0], "runs": [run for document in documents for run in document["runs"]]}


def plan_sarif(plan) -> dict:
    """A plan's findings: each control violation, each resource AWS rejected, each program error."""
    by_name = {r.name: r for r in [*plan.resources, *plan.components]}
    entry = plan.program / "__main__.py"

    def located(rule_id: str, text: str, resource=None) -> dict:
        file, line = declared_at(resource, plan.program) if resource else (entry, None)
        location = {"physicalLocation": {"artifactLocation": artifact_location(file), **_region(line)}}
        if resource:
            location["logicalLocations"] = [{"name": resource.name, "fullyQualifiedName": resource.urn, "kind": "resource"}]
        return {"ruleId": rule_id, "level": "error", "message": {"text": text}, "locations": [location]}

    results = []
    for control in plan.controls:
        for v in control.violations:
            results.append(located(control.id, f"{control.id}: {v.resource or '(stack)'}: {v.message}", by_name.get(v.resource)))
    for r in plan.resource_errors:
        results.append(located("plan/rejected", f"{r.name} ({r.type}): {r.error}", r))
    for error in plan.errors:
        results.append(located("plan/program-error", error))
    rules = [(c.id, c.statement) for c in plan.controls] + list(PLAN_RULES.items())
    return _document(rules, results, f"aifactory-plan/{plan.factory.name}/", succeeded=True)
