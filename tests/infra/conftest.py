"""Fixtures for the Pulumi program tests: each example site's program run, once per session."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import SITES, site_dir
from tests.infra.mock_run import Run, run_program
from tests.spec.conftest import write_site  # noqa: F401  (fixture: a mutated copy of an example site)

from aifactory.spec import load_spec

_RUNS: dict[str, Run] = {}


def site_run(site: str) -> Run:
    if site not in _RUNS:
        spec = load_spec(site_dir(site))
        _RUNS[site] = run_program(site_dir(site), spec.sovereignty.region, site)
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
        return run_program(path, load_spec(path).sovereignty.region, site, config)

    return run
