"""Machine formats CI systems read: SARIF 2.1.0 for code scanning, JUnit XML for test reports.

`sarif` and `junit` turn a validated spec, a spec's problems or a plan into those documents;
`spec_lines` finds the YAML line of a spec problem's dotted path.
"""

from __future__ import annotations

import json
from pathlib import Path

from aifactory.reports.formats.junit import spec_junit
from aifactory.reports.formats.sarif import spec_sarif
from aifactory.spec import Problem, SpecError, load_spec, resolve_spec_path

MACHINE_FORMATS = ("sarif", "junit")


def spec_document(spec: str | Path, problems: list[Problem], fmt: str, command: str) -> str:
    """The spec's problems as SARIF or JUnit; `command` (validate, plan) names the CI category."""
    spec_file = resolve_spec_path(spec)
    site = spec_file.resolve().parent.name
    if fmt == "sarif":
        return json.dumps(spec_sarif(spec_file, problems, f"aifactory-{command}/{site}/"), indent=2) + "\n"
    parsed = not any(p.validator in ("", "schema") for p in problems)
    return spec_junit(site, problems, parsed)


def spec_report(spec: str | Path, fmt: str) -> tuple[str, int]:
    """`aifactory validate` as SARIF or JUnit: the document and the exit status (0 valid, 2 not)."""
    warnings: list[Problem] = []
    try:
        load_spec(spec, warnings=warnings)
    except SpecError as err:
        return spec_document(spec, err.problems, fmt, "validate"), 2
    return spec_document(spec, warnings, fmt, "validate"), 0
