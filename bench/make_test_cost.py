"""`make test`'s own cost, from the JUnit XML reports its two parts write (the Makefile's test-results/):
unit.xml from `make unit` (every test that boots no lab) and scenarios.xml from `pytest tests/scenarios` (the
booted labs). Each part's wall seconds, test counts and seconds per test module; the whole run's seconds."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

REPORTS = {"unit": "unit.xml", "scenarios": "scenarios.xml"}  # make test's parts, in the order it runs them


def junit_report(junit: Path) -> dict:
    """One pytest --junitxml report: its suite's wall seconds, test counts, seconds per test module (its tests'
    seconds summed, largest first; a module named by its path), its own timestamp and file name. A missing or
    unreadable report raises ValueError naming the file."""
    try:
        root = ET.parse(junit).getroot()
    except FileNotFoundError:
        raise ValueError(f"{junit}: no such JUnit report") from None
    except (ET.ParseError, OSError) as e:
        raise ValueError(f"{junit}: not a JUnit XML report ({e})") from None
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        raise ValueError(f"{junit}: no testsuite element")
    modules: dict[str, float] = {}
    for case in suite.iter("testcase"):
        module = module_path(case.get("classname") or "?")
        modules[module] = modules.get(module, 0.0) + float(case.get("time") or 0)
    return {"seconds": round(float(suite.get("time") or 0), 1), "tests": int(suite.get("tests") or 0),
            "failures": int(suite.get("failures") or 0) + int(suite.get("errors") or 0),
            "skipped": int(suite.get("skipped") or 0), "timestamp": suite.get("timestamp", ""),
            "modules": dict(sorted(((m, round(s, 1)) for m, s in modules.items()), key=lambda x: -x[1])),
            "source": junit.name}


def module_path(classname: str) -> str:
    """A test case's module as a path: tests.node.test_x (or tests.node.test_x.TestGroup) -> tests/node/test_x.py;
    a classname with no test_ part stays as it is."""
    parts = classname.split(".")
    last = max((i for i, part in enumerate(parts) if part.startswith("test_")), default=None)
    return classname if last is None else "/".join(parts[:last + 1]) + ".py"


def make_test(folder: Path) -> dict:
    """Both parts of one `make test` from the reports it wrote in folder: {"unit": ..., "scenarios": ...,
    "seconds": the two parts' seconds together}."""
    parts = {part: junit_report(folder / name) for part, name in REPORTS.items()}
    return {**parts, "seconds": round(sum(p["seconds"] for p in parts.values()), 1)}
