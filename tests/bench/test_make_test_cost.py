"""The bench's `make test` part: the JUnit reports `make test` writes (test-results/unit.xml, scenarios.xml) read
into its unit and lab parts, `bench/run.py --make-test-junit DIR`, and RESULTS.md's `make test` section with issue
26's targets for it. Every figure comes from fabricated reports; no wall-clock figure is asserted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench import make_test_cost, run
from bench.report import render
from tests.bench.test_bench_runner import _results

BENCH = Path(__file__).resolve().parent.parent.parent / "bench"


def _junit(path: Path, cases: dict[str, float], skipped: int = 0, failures: int = 0, errors: int = 0,
           wall: float | None = None) -> Path:
    """A pytest --junitxml report: {classname::name: seconds}; its suite time is `wall` (the cases' sum by default)."""
    rows = "".join(f'<testcase classname="{c.split("::")[0]}" name="{c.split("::")[1]}" time="{t}" />'
                   for c, t in cases.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="{errors}"'
                    f' failures="{failures}" skipped="{skipped}" tests="{len(cases)}"'
                    f' time="{sum(cases.values()) if wall is None else wall}"'
                    f' timestamp="2026-12-05T10:00:00.000000+00:00" hostname="h">{rows}</testsuite></testsuites>')
    return path


def _make_test_dir(tmp_path: Path, unit_s: float, lab: dict[str, float], failures: int = 0) -> Path:
    """test-results/ as `make test` leaves it: a unit part of three modules taking unit_s, and a lab part."""
    folder = tmp_path / "test-results"
    _junit(folder / "unit.xml", {"tests.node.test_parsers::t1": unit_s * 0.5, "tests.node.test_parsers::t2": unit_s * 0.3,
                                 "tests.aws.test_plan.TestPlan::t": unit_s * 0.6, "tests.test_structure::t": 1.0,
                                 "tests.spec.test_spec::t": 0.5}, skipped=1, wall=unit_s)
    _junit(folder / "scenarios.xml", lab, skipped=0, failures=failures, wall=sum(lab.values()) * 0.6)
    return folder


LAB = {"tests.scenarios.test_rehearse_gb200::test_it": 900.0, "tests.scenarios.test_rehearse::test_it": 800.0,
       "tests.scenarios.test_day2::t1": 500.0, "tests.scenarios.test_day2::t2": 100.0,
       "tests.scenarios.test_check_mode::t": 300.0}  # 2600 s of modules, 1560 s (26.0 min) of wall on two workers


def test_a_report_gives_its_wall_time_counts_and_modules_by_path_largest_first(tmp_path):
    path = _junit(tmp_path / "unit.xml", {"tests.node.test_x::a": 3.0, "tests.node.test_x.TestGroup::b": 4.5,
                                          "tests.aws.test_x::c": 5.0, "conftest::d": 0.25},
                  skipped=2, failures=1, errors=1, wall=9.0)
    x = make_test_cost.junit_report(path)
    assert x["seconds"] == 9.0 and x["tests"] == 4 and x["skipped"] == 2 and x["failures"] == 2
    # two modules of the same name in different folders stay apart; a class's tests count for its module
    assert list(x["modules"].items()) == [("tests/node/test_x.py", 7.5), ("tests/aws/test_x.py", 5.0), ("conftest", 0.2)]
    assert x["source"] == "unit.xml" and x["timestamp"] == "2026-12-05T10:00:00.000000+00:00"


def test_make_test_reads_both_parts_and_adds_their_wall_times(tmp_path):
    m = make_test_cost.make_test(_make_test_dir(tmp_path, 120.0, LAB))
    assert m["unit"]["seconds"] == 120.0 and m["scenarios"]["seconds"] == 1560.0 and m["seconds"] == 1680.0
    assert next(iter(m["scenarios"]["modules"])) == "tests/scenarios/test_rehearse_gb200.py"


@pytest.mark.parametrize("broken", ["missing", "not xml", "no suite"])
def test_a_missing_or_broken_report_exits_2_naming_the_file(tmp_path, capsys, broken):
    folder = _make_test_dir(tmp_path, 120.0, LAB)
    if broken == "missing":
        (folder / "scenarios.xml").unlink()
    else:
        (folder / "scenarios.xml").write_text("<testsuites/>" if broken == "no suite" else "PASSED 3 tests")
    with pytest.raises(SystemExit) as exit_:
        run.main(["--only", "make-test", "--make-test-junit", str(folder), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"--make-test-junit: {folder / 'scenarios.xml'}" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()  # refused before any part ran


def test_only_make_test_without_its_reports_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        run.main(["--only", "make-test", "--out", str(tmp_path)])
    assert exit_.value.code == 2 and "give their folder with --make-test-junit DIR" in capsys.readouterr().err


def test_update_records_make_test_and_drops_an_older_lab_suite(tmp_path):
    earlier = _results(50.0, 20.0, 5.0)
    earlier["lab_suite"] = make_test_cost.junit_report(_junit(tmp_path / "old" / "lab.xml", {"tests.scenarios.test_x::t": 9.0}))
    (tmp_path / "results.json").write_text(json.dumps(earlier))
    folder = _make_test_dir(tmp_path, 120.0, LAB)
    assert run.main(["--only", "make-test", "--make-test-junit", str(folder), "--update", "--out", str(tmp_path)]) == 0
    kept = json.loads((tmp_path / "results.json").read_text())
    assert kept["make_test"]["seconds"] == 1680.0 and kept["make_test"]["measured"]["date"]
    assert "lab_suite" not in kept and kept["plan_by_racks"] == earlier["plan_by_racks"]
    assert "`make test` at most 45 minutes (issue 26): 28.0 min" in (tmp_path / "RESULTS.md").read_text()


def test_results_md_shows_both_parts_and_the_met_targets(tmp_path):
    results = _results(50.0, 20.0, 5.0)
    results["make_test"] = make_test_cost.make_test(_make_test_dir(tmp_path, 120.0, LAB))
    md = render(results)
    section = md.split("## 6. `make test`")[1].split("## Targets")[0]
    assert ("| `make unit` (every test that boots no lab) | 2.0 min (120 s) | 4 | 1 | 0 | tests/node/test_parsers.py"
            " 1.6 min, tests/aws/test_plan.py 1.2 min, tests/test_structure.py 1.0 s |") in section
    assert ("| the lab scenarios (tests/scenarios) | 26.0 min (1560 s) | 5 | 0 | 0 | tests/scenarios/test_rehearse_gb200.py"
            " 15.0 min, tests/scenarios/test_rehearse.py 13.3 min, tests/scenarios/test_day2.py 10.0 min |") in section
    assert "| `make test` | 28.0 min (1680 s) | 9 | 1 | 0 |  |" in section
    assert ("tests/scenarios/test_rehearse.py (lab-b200 with two injected NVLink faults, monitoring and the alert receiver: acceptance and"
            " performance fail by design, every other stage passes) 13.3 min; tests/scenarios/test_rehearse_gb200.py (lab-gb200 passes whole) 15.0 min.") in section
    assert "- `make test` at most 45 minutes (issue 26): 28.0 min (unit 2.0 + lab scenarios 26.0) -> met" in md
    assert "- `make unit` under 3 minutes (issue 26): 2.0 min (120 s, 4 tests run) -> met" in md
    assert "`make test` took" not in md and "`make unit` took" not in md


def test_results_md_explains_missed_make_test_targets_from_the_largest_modules(tmp_path):
    results = _results(50.0, 20.0, 5.0)
    lab = {**LAB, "tests.scenarios.test_day2::t1": 3000.0}  # 5100 s of modules, 3060 s (51.0 min) of wall
    results["make_test"] = make_test_cost.make_test(_make_test_dir(tmp_path, 200.0, lab, failures=1))
    md = render(results)
    assert "- `make test` at most 45 minutes (issue 26): 54.3 min (unit 3.3 + lab scenarios 51.0) -> MISSED" in md
    assert "- `make unit` under 3 minutes (issue 26): 3.3 min (200 s, 4 tests run) -> MISSED" in md
    why = md.split("## Why targets were missed")[1]
    assert ("`make test` took 54.3 min against 45: `make unit` (every test that boots no lab) 3.3 min, its largest"
            " modules tests/node/test_parsers.py 2.7 min, tests/aws/test_plan.py 2.0 min, tests/test_structure.py 1.0 s;"
            " the lab scenarios (tests/scenarios) 51.0 min, its largest modules tests/scenarios/test_day2.py 51.7 min,"
            " tests/scenarios/test_rehearse_gb200.py 15.0 min, tests/scenarios/test_rehearse.py 13.3 min."
            " 1 of its tests failed.") in why
    assert ("`make unit` took 3.3 min against 3: 4 tests on three workers (the Makefile's -n 3); its largest modules:"
            " tests/node/test_parsers.py 2.7 min") in why


def test_an_older_results_json_with_the_lab_suite_alone_still_renders(tmp_path):
    results = _results(50.0, 20.0, 5.0)
    results["lab_suite"] = make_test_cost.junit_report(_junit(tmp_path / "lab.xml", {"tests.scenarios.test_x::t": 3000.0}))
    md = render(results)
    assert "| `make unit` (every test that boots no lab) | not measured | - | - | - | - |" in md
    assert "an older bench's `pytest tests/scenarios` report, without the unit part" in md
    assert "- `make test` at most 45 minutes (issue 26): its lab part alone took 50.0 min -> MISSED" in md
    assert "`make test`'s lab part alone took 50.0 min against 45: the lab scenarios (tests/scenarios) 50.0 min" in md
    assert "- `make unit` under 3 minutes (issue 26): not measured in this run (no --make-test-junit)" in md
    results["lab_suite"]["seconds"] = 600.0
    assert "- `make test` at most 45 minutes (issue 26): not measured in this run (its lab part alone 10.0 min)" in render(results)


def test_the_committed_results_render_with_issue_26s_targets(tmp_path):
    shutil.copy(BENCH / "results.json", tmp_path / "results.json")
    assert run.main(["--render", "--out", str(tmp_path)]) == 0
    md = (tmp_path / "RESULTS.md").read_text()
    for target in ("`make test` at most 45 minutes (issue 26):", "`make unit` under 3 minutes (issue 26):",
                   "the lab-gb200 rehearsal at most 12 minutes (issue 26):",
                   "lab-gb200's \"bringup again (must change nothing)\" stage at most 0.2 of its \"bringup\" stage"
                   " (issue 26):"):
        assert f"- {target}" in md
    assert "third of CI" not in md and "lab_long" not in md
