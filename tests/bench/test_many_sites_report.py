"""RESULTS.md's several-sites section: figures, the per-extra-site cost and its verdict against half a lone plan."""

from __future__ import annotations

from bench.measure import spread
from bench.report import render
from tests.bench.test_bench_runner import _results


def _many_sites(lone_wall: float, together_wall: float, lone_cpu: float, together_cpu: float) -> dict:
    extra_wall, extra_cpu = (together_wall - lone_wall) / 2, (together_cpu - lone_cpu) / 2
    return {"sites": 3, "resources": {"lone": 66, "together": 198},
            "lone": {"wall_s": spread([lone_wall]), "cpu_s": spread([lone_cpu])},
            "together": {"wall_s": spread([together_wall]), "cpu_s": spread([together_cpu])},
            "extra_site_wall_s": extra_wall, "extra_over_lone_wall_s": round(extra_wall / lone_wall, 2),
            "extra_site_cpu_s": extra_cpu, "extra_over_lone_cpu_s": round(extra_cpu / lone_cpu, 2),
            "measured": {"date": "2026-12-01T15:00:00+00:00", "load_at_start": [1.0, 1.5, 2.0]}}


def test_extra_site_cost_and_verdicts():
    results = _results(defaults_first=50.0, tuned_first=20.0, tuned_again=5.0)
    results["plan_many_sites"] = _many_sites(lone_wall=4.0, together_wall=7.2, lone_cpu=5.0, together_cpu=11.0)
    md = render(results)
    assert "### Several sites in one run" in md and "Measured on its own at 2026-12-01T15:00:00+00:00" in md
    assert "| each extra site | 1.60 s (0.4x lone) | 3.00 s (0.6x lone) |" in md
    assert "- each extra site in one run at most 0.5x a lone plan: 0.4x (wall) -> met" in md
    assert "- each extra site in one run at most 0.5x a lone plan: 0.6x (CPU) -> MISSED" in md


def test_no_section_without_the_figures():
    assert "Several sites" not in render(_results(defaults_first=50.0, tuned_first=20.0, tuned_again=5.0))
