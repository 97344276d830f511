"""Plans run in-process: each run gets its own event loop, Pulumi settings and moto state."""

from __future__ import annotations

from pathlib import Path

import pytest

from aifactory.plan import make_plan

PROGRAMS = Path(__file__).resolve().parent / "programs"
BASELINE = PROGRAMS / "baseline"
REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "inventories" / "lab-b200"


@pytest.fixture
def plan_with_fault(monkeypatch):
    """Plan lab-b200 with the baseline program and one injected fault (PLAN_FAULT)."""

    def run(fault: str):
        monkeypatch.setenv("PLAN_FAULT", fault)
        return make_plan(LAB, BASELINE, progress=lambda line: None)

    return run


def failed_controls(plan) -> dict[str, list]:
    return {c.id: c.violations for c in plan.controls if not c.passed}
