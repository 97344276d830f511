"""acceptance.performance_baselines: the site's recorded minimum of each check the catalog leaves to a site
baseline; a name that is no such check, a figure that is not positive, or one under the check's published floor
is refused naming the field. The judge holds a tier with a baseline recorded to it, and leaves one without
unjudged."""

from __future__ import annotations

import pytest

from aifactory.catalog.performance import performance_thresholds
from aifactory.cli import main
from aifactory.node.performance import judge
from aifactory.spec import load_spec
from tests.conftest import site_dir


def with_baselines(baselines: dict):
    def mutate(data):
        data["acceptance"] = {"performance_baselines": baselines}
    return mutate


@pytest.mark.parametrize("site, baselines, field, says", [
    ("lab-gb200", {"tray_all_reduce": 700}, "acceptance.performance_baselines.tray_all_reduce",
     "is not a site-baseline check of nvidia-gb200-nvl72"),
    ("lab-gb200", {"tray_all_gather": 0}, "acceptance.performance_baselines.tray_all_gather", "must be a positive"),
    ("lab-b200", {"tray_all_reduce": 500}, "acceptance.performance_baselines.tray_all_reduce",
     "below the check's published floor, 600"),
])
def test_a_baseline_the_catalog_does_not_leave_to_the_site_is_refused(write_site, capsys, site, baselines, field, says):
    code = main(["validate", str(write_site(site, with_baselines(baselines)))])
    err = capsys.readouterr().err
    assert code == 2 and field in err and says in err and "Traceback" not in err


def test_the_lab_specs_record_a_baseline_for_every_check_left_to_the_site():
    for site in ("lab-gb200", "lab-b200"):
        f = load_spec(site_dir(site))
        left = {name for name, t in performance_thresholds()[f.platform.name].items() if t.site_baseline}
        assert set(f.acceptance.performance_baselines) == left, site


def nccl(busbw: float) -> dict:
    """What parse_nccl_tests returns for one all_gather run at 8 GiB with `busbw` GB/s over NVLink (p2p)."""
    half = {"busbw": busbw, "wrong": 0}
    return {"rows": [{"size": 8589934592, "out_of_place": half, "in_place": half}], "out_of_bounds": 0,
            "transports": {"p2p": 16}}


def test_a_recorded_baseline_judges_the_check_and_an_unrecorded_one_leaves_it_unjudged():
    f = load_spec(site_dir("lab-gb200"))
    baseline = f.acceptance.performance_baselines["tray_all_gather"]
    checks = {"tray_all_gather": nccl(baseline + 1)}
    assert judge(f.platform.name, checks, tier="tray", baselines=f.acceptance.performance_baselines)["checks"][0]["status"] == "pass"
    low = judge(f.platform.name, {"tray_all_gather": nccl(baseline / 2)}, tier="tray",
                baselines=f.acceptance.performance_baselines)["checks"][0]
    assert low["status"] == "fail" and low["threshold"] == baseline
    assert judge(f.platform.name, checks, tier="tray")["checks"][0]["status"] == "skipped"
