"""Machine formats CI systems read: SARIF 2.1.0 for code scanning, JUnit XML for test reports.

`sarif` and `junit` turn a validated spec, a spec's problems (each at the line and column `load_spec`
found) or a plan into those documents. The two writers load on first use: their rules hold the plan's
controls, whose modules (Pulumi, boto3) `aifactory validate` has no other need for.
"""

from __future__ import annotations

import json
from pathlib import Path

from aifactory.spec import NotRun, Problem, SpecError, load_spec, resolve_spec_path

MACHINE_FORMATS = ("sarif", "junit")


def spec_document(spec: str | Path, problems: list[Problem], fmt: str, command: str,
                  not_run: list[NotRun] | None = None) -> str:
    """The spec's problems as SARIF or JUnit; `command` (validate, plan) names the CI category; `not_run`
    the validators a schema error stopped."""
    from aifactory.reports.formats.junit import spec_junit
    from aifactory.reports.formats.sarif import spec_sarif

    spec_file = resolve_spec_path(spec)
    site = spec_file.resolve().parent.name
    if fmt == "sarif":
        return json.dumps(spec_sarif(spec_file, problems, f"aifactory-{command}/{site}/", not_run or []),
                          indent=2) + "\n"
    parsed = not any(p.validator == "" for p in problems)  # a file or YAML problem: no validator ran
    return spec_junit(site, problems, parsed, not_run or [])


def spec_report(spec: str | Path, fmt: str) -> tuple[str, int]:
    """`aifactory validate` as SARIF or JUnit: the document and the exit status (0 valid, 2 not)."""
    warnings: list[Problem] = []
    try:
        load_spec(spec, warnings=warnings)
    except SpecError as err:
        return spec_document(spec, err.problems, fmt, "validate", err.not_run), 2
    return spec_document(spec, warnings, fmt, "validate"), 0


def specs_report(specs: list[str | Path], fmt: str) -> tuple[str, int]:
    """`aifactory validate` of several sites as one SARIF or JUnit document, the sites in the order given (SARIF:
    a run per site; JUnit: a suite per site), and the worst status (0 all valid, 2 one is not)."""
    from aifactory.reports.formats.junit import merged_junit
    from aifactory.reports.formats.sarif import merged_sarif

    reports = [spec_report(spec, fmt) for spec in specs]
    status = max(status for _, status in reports)
    if len(reports) == 1:
        return reports[0]
    if fmt == "sarif":
        return json.dumps(merged_sarif([json.loads(document) for document, _ in reports]), indent=2) + "\n", status
    return merged_junit([document for document, _ in reports]), status
