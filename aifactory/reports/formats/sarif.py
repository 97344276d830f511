"""SARIF 2.1.0 (OASIS) documents: one rule per validator or control, one result per problem or
violation. Spec problems point at their line in factory.yaml; plan findings at the program file and
line that declared the resource when the plan records it, else at the program's entry file."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from aifactory import __version__
from aifactory.reports.formats.rules import Rule, plan_rules, spec_rules
from aifactory.spec import NotRun, Problem

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"  # the directory the command ran in: a CI job's checkout


def spec_rule_id(problem: Problem) -> str:
    """The rule a spec problem belongs to: its validator, else the file, YAML or schema step."""
    if problem.validator and problem.validator != "schema":
        return f"spec/{problem.validator}"
    return {"(file)": "spec/file", "(yaml)": "spec/yaml"}.get(problem.path, "spec/schema")


def reporting_descriptor(rule: Rule) -> dict:
    """A rule as SARIF describes it: what it checks, what to change, and where the docs say more."""
    return {"id": rule.id, "shortDescription": {"text": rule.short}, "fullDescription": {"text": rule.full},
            "help": {"text": rule.help_text}, "defaultConfiguration": {"level": rule.level}}


def artifact_location(path: Path) -> dict:
    """A file relative to the working directory (the CI checkout) when under it, else its file URI."""
    path = path.resolve()
    try:
        return {"uri": path.relative_to(Path.cwd().resolve()).as_posix(), "uriBaseId": SRCROOT}
    except ValueError:
        return {"uri": path.as_uri()}


def _document(tool_rules: list[Rule], results: list[dict], category: str, succeeded: bool,
              notifications: list[dict] | None = None) -> dict:
    index = {rule.id: i for i, rule in enumerate(tool_rules)}
    for result in results:
        result["ruleIndex"] = index[result["ruleId"]]
    for note in notifications or []:
        note["associatedRule"]["index"] = index[note["associatedRule"]["id"]]
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "aifactory", "version": __version__, "semanticVersion": __version__,
                "rules": [reporting_descriptor(rule) for rule in tool_rules],
            }},
            "automationDetails": {"id": category},
            "originalUriBaseIds": {SRCROOT: {"uri": Path.cwd().resolve().as_uri() + "/"}},
            "invocations": [{"executionSuccessful": succeeded,
                             **({"toolExecutionNotifications": notifications} if notifications else {})}],
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


def spec_sarif(spec_file: Path, problems: list[Problem], category: str, not_run: list[NotRun]) -> dict:
    """The spec's problems (errors and warnings), each at its line and column in `spec_file`; each validator
    a schema error stopped, as a note of the run naming the field it needs."""
    results = []
    for p in problems:
        results.append({
            "ruleId": spec_rule_id(p),
            "level": "warning" if p.level == "warning" else "error",
            "message": {"text": str(p)},
            "locations": [{"physicalLocation": {"artifactLocation": artifact_location(spec_file), **_region(p.line, p.column)},
                           "logicalLocations": [{"fullyQualifiedName": p.path, "kind": "member"}]}],
        })
    notes = [{"level": "note", "message": {"text": str(n)}, "associatedRule": {"id": f"spec/{n.validator}"}}
             for n in not_run]
    return _document(spec_rules(), results, category, succeeded=True, notifications=notes)


def declared_at(resource, program: Path) -> tuple[Path, int | None]:
    """Where the program declared `resource`: the SDK's recorded source position when the plan keeps
    it (a `source` of (file URI, line)), else the program's entry file."""
    source = getattr(resource, "source", None)
    if source:
        uri, line = source
        return Path(unquote(urlparse(uri).path)), line
    return program / "__main__.py", None


def merged_sarif(documents: list[dict]) -> dict:
    """Several sites' SARIF logs (plans, specs) as one: their runs in order, each with its own category."""
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
    return _document(plan_rules(), results, f"aifactory-plan/{plan.factory.name}/", succeeded=True)
