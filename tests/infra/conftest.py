"""Fixtures for the Pulumi program tests: the real program (infra/) run by the plan's own engine
(aifactory.aws.plan.engine) with no AWS stand-in behind it, so every resource gets the engine's mock
outputs. Each example site runs once per session.

Assertions read the recorded inputs (camelCase, secrets unwrapped, as the engine sees them) after the
program has finished, never inside `Output.apply`, so an output the engine did not resolve cannot make
a test pass silently.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from aifactory.aws.plan.engine import MockOnlyBackend, PlanMocks, PlannedResource, ProgramRun, run_program
from aifactory.spec import load_spec
from tests.conftest import REPO, SITES, site_dir
from tests.spec.conftest import write_site  # noqa: F401  (fixture: a mutated copy of an example site)

PROGRAM = REPO / "infra"


class Run:
    """One run of the program: its resources and explicit providers, its stack outputs by name."""

    def __init__(self, run: ProgramRun):
        self.resources = run.resources
        self.providers = run.providers
        self.errors = run.errors
        self.outputs = {o.name: o.value for o in run.outputs}
        self.secret_outputs = {o.name for o in run.outputs if o.secret}

    def of_type(self, typ: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str) -> PlannedResource:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, found {[r.name for r in found]}"
        return found[0]

    def named(self, name: str, typ: str | None = None) -> PlannedResource:
        found = [r for r in self.resources if r.name == name and typ in (None, r.type)]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]


def program_run(spec: Path, region: str, stack: str, config: dict[str, str] | None = None) -> Run:
    """Run infra/ for `spec` (a site dir or factory.yaml), with extra Pulumi config, and return what it declared."""
    mocks = PlanMocks(MockOnlyBackend(region), region, progress=lambda line: None)
    return Run(run_program(PROGRAM, {"aifactory:spec": str(spec), **(config or {})}, mocks, stack))


_RUNS: dict[str, Run] = {}


def site_run(site: str) -> Run:
    if site not in _RUNS:
        _RUNS[site] = program_run(site_dir(site), load_spec(site_dir(site)).sovereignty.region, site)
    assert _RUNS[site].errors == []
    return _RUNS[site]


@pytest.fixture(params=SITES)
def site(request) -> str:
    return request.param


@pytest.fixture
def run(site) -> Run:
    return site_run(site)


@pytest.fixture
def run_site(write_site) -> Callable[..., Run]:
    """Run the program for a mutated copy of an example site, with extra Pulumi config."""

    def run(site: str, mutate: Callable[[dict], None], config: dict[str, str] | None = None) -> Run:
        path = write_site(site, mutate)
        result = program_run(path, load_spec(path).sovereignty.region, site, config)
        assert result.errors == []
        return result

    return run
