"""Schema checks shared by the CI-format tests: SARIF against the OASIS 2.1.0 schema, JUnit against
the subset CI servers parse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from aifactory.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REPO = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = json.loads((FIXTURES / "sarif" / "sarif-schema-2.1.0.json").read_text())
JUNIT_SCHEMA = xmlschema.XMLSchema(FIXTURES / "junit" / "junit.xsd")


def valid_sarif(text: str) -> dict:
    document = json.loads(text)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(document)
    return document


def valid_junit(text: str):
    """The parsed document, after checking it against the schema."""
    JUNIT_SCHEMA.validate(text)
    return xmlschema.XMLResource(text).root


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    status = main([str(a) for a in argv])
    return status, capsys.readouterr().out


@pytest.fixture
def lab_copy(tmp_path) -> Path:
    """A copy of the lab-b200 site to break."""
    site = tmp_path / "lab-b200"
    shutil.copytree(REPO / "inventories" / "lab-b200", site)
    return site
