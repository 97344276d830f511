"""The performance thresholds catalog: every figure with its source, URL and message sizes, site baselines
said to be such, and the loader refusing an entry that is neither or both."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aifactory.catalog import platforms
from aifactory.catalog.performance import PUBLISHED, SITE_BASELINE, Threshold, performance_thresholds


def test_every_platform_has_thresholds_and_every_published_figure_its_source_url_and_sizes():
    thresholds = performance_thresholds()
    assert set(thresholds) == set(platforms())
    for platform, checks in thresholds.items():
        for check in checks.values():
            assert check.source.strip(), (platform, check.check)
            if check.kind == PUBLISHED:
                assert check.url and check.url.startswith("https://"), (platform, check.check)
            if check.tool != "dcgmi":
                assert check.message_bytes and check.message_bytes.min <= check.message_bytes.max


def test_the_figures_the_anchors_publish():
    gb200 = performance_thresholds()["nvidia-gb200-nvl72"]
    assert (gb200["tray_all_reduce"].min, gb200["tray_all_reduce"].tier) == (680, "tray")
    assert (gb200["rack_all_reduce"].min, gb200["rack_all_reduce"].transport) == (900, "mnnvl")
    assert (gb200["ib_write_bw_port"].min, gb200["ib_write_bw_port"].unit) == (380, "Gb/s")
    assert "cluster-readiness-engine" in gb200["rack_all_reduce"].url
    assert "azurehpc-health-checks" in gb200["ib_write_bw_port"].url


def test_where_no_authoritative_figure_exists_the_catalog_says_site_baseline():
    thresholds = performance_thresholds()
    hgx = thresholds["nvidia-hgx-b200"]["tray_all_reduce"]
    assert hgx.kind == SITE_BASELINE and hgx.min is None
    assert hgx.floor is not None and hgx.floor.min == 600  # AWS's p6-b200 floor, not a target
    trn3 = thresholds["aws-trn3-ultraserver"]
    assert trn3 and all(t.kind == SITE_BASELINE for t in trn3.values())
    assert thresholds["nvidia-gb200-nvl72"]["cross_rack_all_reduce"].kind == SITE_BASELINE


SIZES = {"min": 8, "max": 16}


@pytest.mark.parametrize("body, message", [
    ({"min": 680, "site_baseline": True, "url": "https://x"}, "either min"),
    ({}, "either min"),
    ({"min": 680}, "https:// URL"),
    ({"min": 680, "url": "http://x"}, "https:// URL"),
    ({"site_baseline": True, "message_bytes": None}, "message_bytes"),
    ({"site_baseline": True, "message_bytes": {"min": 16, "max": 8}}, "at most max"),
])
def test_an_entry_that_is_not_exactly_one_kind_or_lacks_its_source_is_refused(body, message):
    fields = {"check": "tray_all_reduce", "tier": "tray", "tool": "nccl-tests", "test": "all_reduce_perf",
              "unit": "GB/s", "source": "s", "message_bytes": SIZES, **body}
    with pytest.raises(ValidationError, match=message):
        Threshold(**fields)
