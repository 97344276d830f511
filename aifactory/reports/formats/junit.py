"""JUnit XML as CI servers read it (Jenkins, GitLab, GitHub test reporters: the Ant format):
<testsuites>/<testsuite>/<testcase> with a <failure> per failed case, <skipped> for what was not run."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from aifactory.reports.formats.rules import spec_rules
from aifactory.reports.formats.sarif import spec_rule_id
from aifactory.aws.plan.engine import MOCK_ONLY, REJECTED
from aifactory.spec import NotRun, Problem


class Suite:
    """One <testsuite>: cases added one by one, counts kept."""

    def __init__(self, name: str):
        self.element = ET.Element("testsuite", name=name)
        self.tests = self.failures = self.skipped = 0

    def case(self, classname: str, name: str, failure: list[str] | None = None, skipped: str | None = None,
             output: list[str] | None = None) -> None:
        case = ET.SubElement(self.element, "testcase", name=name, classname=classname, time="0")
        self.tests += 1
        if failure:
            self.failures += 1
            node = ET.SubElement(case, "failure", message=failure[0] if len(failure) == 1 else f"{len(failure)} failures: {failure[0]}",
                                 type="violation")
            node.text = "\n".join(failure)
        elif skipped:
            self.skipped += 1
            ET.SubElement(case, "skipped", message=skipped)
        if output:
            ET.SubElement(case, "system-out").text = "\n".join(output)

    def done(self) -> ET.Element:
        self.element.attrib.update(tests=str(self.tests), failures=str(self.failures), errors="0",
                                   skipped=str(self.skipped), time="0")
        return self.element


def _document(suites: list[Suite]) -> str:
    root = ET.Element("testsuites")
    for suite in suites:
        root.append(suite.done())
    root.attrib.update(tests=str(sum(s.tests for s in suites)), failures=str(sum(s.failures for s in suites)),
                       errors="0", time="0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def merged_junit(documents: list[str]) -> str:
    """Several JUnit documents as one: their suites in order, the totals summed."""
    root = ET.Element("testsuites")
    for document in documents:
        root.extend(ET.fromstring(document))
    for key in ("tests", "failures"):
        root.set(key, str(sum(int(suite.get(key, "0")) for suite in root)))
    root.attrib.update(errors="0", time="0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def spec_junit(site: str, problems: list[Problem], parsed: bool, not_run: list[NotRun]) -> str:
    """One case per validation step; a step with errors fails (each at `line:column`), warnings go to its
    output. A validator a schema error stopped is skipped, naming the field it needs; when the spec did not
    parse (its file or YAML), no validator ran: all are skipped."""
    by_rule: dict[str, list[Problem]] = defaultdict(list)
    for p in problems:
        by_rule[spec_rule_id(p)].append(p)
    stopped = {n.validator: n for n in not_run}
    suite = Suite(f"aifactory validate {site}")
    for rule_id in (rule.id for rule in spec_rules()):
        found = by_rule.get(rule_id, [])
        errors = [p.located() for p in found if p.level != "warning"]
        warnings = [f"warning: {p.located()}" for p in found if p.level == "warning"]
        step = rule_id.removeprefix("spec/")
        if step in stopped:
            skipped = f"not run: it needs {stopped[step].needs}, which the schema refused"
        elif not parsed and not found and step not in ("file", "yaml", "schema"):
            skipped = "not run: the spec did not parse"
        else:
            skipped = None
        suite.case(f"aifactory.validate.{site}", step, errors, skipped, warnings)
    return _document([suite])


def plans_junit(plans: list) -> str:
    """One document for the plans of several sites: two suites per site."""
    return _document([suite for plan in plans for suite in _plan_suites(plan)])


def _plan_suites(plan) -> list[Suite]:
    """Two suites: one case per control (its violations as the failure), and one case per resource
    (AWS's error when rejected; skipped when mock only, as neither moto nor the API model checked it)."""
    site = plan.factory.name
    controls = Suite(f"aifactory plan {site}: controls")
    for c in plan.controls:
        controls.case(f"aifactory.plan.{site}.controls", f"{c.id}: {c.statement.split(':')[0]}",
                      [f"{v.resource or '(stack)'}: {v.message}" for v in c.violations])
    controls.case(f"aifactory.plan.{site}.controls", "program runs offline", plan.errors)
    resources = Suite(f"aifactory plan {site}: resources")
    for r in plan.resources:
        resources.case(f"aifactory.plan.{site}.{r.component.strip('()')}", f"{r.name} ({r.type})",
                       [f"AWS rejected it: {r.error}"] if r.checked_by == REJECTED else None,
                       "mock only: moto cannot create this type; its inputs were checked by the controls only"
                       if r.checked_by == MOCK_ONLY else None)
    return [controls, resources]
