"""The performance acceptance verdict: what a tier's tools measured, against the catalog's thresholds
(aifactory/catalog/performance.yaml). One function, `judge`; the parsers in aifactory/node/parsers read the
tools' output."""

from __future__ import annotations

from aifactory.catalog.performance import Threshold, performance_thresholds

STATUSES = ("pass", "fail", "skipped")


class Unmet(Exception):
    """A result that cannot pass whatever its figure (wrong values, the wrong transport, the wrong sizes);
    `figure` is what was measured, where it could be read."""

    def __init__(self, message: str, figure: float | None = None):
        super().__init__(message)
        self.figure = figure


def judge(platform: str, results: dict[str, dict], *, tier: str | None = None,
          baselines: dict[str, float] | None = None) -> dict:
    """`{result: pass|fail|incomplete, checks: [{name, tier, status, figure, threshold, floor, unit, kind,
    source, url, reason}], counts}`.

    `results` maps a check (`tray_all_reduce`, or `<check>:<subject>` such as `ib_write_bw_port:mlx5_0` for
    one port) to what its parser returned: `parse_nccl_tests`, `parse_ib_write_bw`, `parse_nccom_test`, and
    for `dcgm_diag` `parse_dcgm_diag`'s result with the `level` the run used. `baselines` holds the site's
    recorded figure of each `site baseline` check. Every threshold of the platform (of `tier`, when given)
    without a result is skipped as not run; a site baseline not yet recorded is skipped with the figure
    measured, so the tier is incomplete, never passed."""
    thresholds = performance_thresholds().get(platform)
    if thresholds is None:
        raise ValueError(f"no performance thresholds for platform {platform!r}")
    baselines = baselines or {}
    checks = []
    for name, result in sorted(results.items()):
        threshold = thresholds.get(name.split(":")[0])
        if threshold is None:
            raise ValueError(f"{platform}: no performance threshold for check {name!r}")
        if tier is None or threshold.tier == tier:
            checks.append(_check(name, threshold, result, baselines.get(threshold.check)))
    ran = {name.split(":")[0] for name in results}
    for check, threshold in thresholds.items():
        if check not in ran and (tier is None or threshold.tier == tier):
            checks.append(_entry(check, threshold, "skipped", None, None, "not run"))
    counts = {s: sum(c["status"] == s for c in checks) for s in STATUSES}
    verdict = "fail" if counts["fail"] else "incomplete" if counts["skipped"] or not checks else "pass"
    return {"result": verdict, "checks": checks, "counts": counts}


def _check(name: str, threshold: Threshold, result: dict, baseline: float | None) -> dict:
    required = threshold.min if threshold.min is not None else baseline
    try:
        figure = FIGURES[threshold.tool](threshold, result)
    except Unmet as unmet:
        return _entry(name, threshold, "fail", unmet.figure, required, str(unmet))
    shown = f"{figure:g} {threshold.unit}"
    if threshold.floor and figure < threshold.floor.min:
        return _entry(name, threshold, "fail", figure, required,
                      f"{shown} is below the published floor of {threshold.floor.min:g} {threshold.unit}")
    if required is None:
        return _entry(name, threshold, "skipped", figure, None,
                      f"measured {shown}; this check's threshold is a site baseline, not yet recorded")
    passed = figure >= required
    return _entry(name, threshold, "pass" if passed else "fail", figure, required,
                  f"{shown} {'>=' if passed else '<'} {required:g} {threshold.unit} ({threshold.kind})")


def _entry(name: str, threshold: Threshold, status: str, figure: float | None, required: float | None,
           reason: str) -> dict:
    return {"name": name, "tier": threshold.tier, "status": status, "figure": figure, "threshold": required,
            "floor": threshold.floor.min if threshold.floor else None, "unit": threshold.unit,
            "kind": threshold.kind, "source": threshold.source, "url": threshold.url, "reason": reason}


def _sized(threshold: Threshold, rows: list[dict], size_key: str) -> list[dict]:
    """The rows within the threshold's message sizes, or Unmet naming what the run covered."""
    sizes = threshold.message_bytes
    assert sizes is not None, f"{threshold.check}: a bandwidth check has message sizes (catalog validator)"
    mine = [r for r in rows if sizes.min <= r[size_key] <= sizes.max]
    if not mine:
        largest = max((r[size_key] for r in rows), default=0)
        raise Unmet(f"no result between {sizes.min} and {sizes.max} bytes (the run's largest size: {largest})")
    return mine


def _nccl_tests(threshold: Threshold, result: dict) -> float:
    """The lowest busbw (out-of-place and in-place) within the sizes; zero wrong values; the transport."""
    rows = _sized(threshold, result["rows"], "size")
    figure = min(min(r["out_of_place"]["busbw"], r["in_place"]["busbw"]) for r in rows)
    wrong = sum((r[half]["wrong"] or 0) for r in result["rows"] for half in ("out_of_place", "in_place"))
    if result["out_of_bounds"] is None:
        raise Unmet("no `Out of bounds values` summary: the run did not finish", figure)
    if wrong or result["out_of_bounds"]:
        raise Unmet(f"{max(wrong, result['out_of_bounds'])} wrong values: the collective returned wrong data", figure)
    seen = result["transports"]
    if threshold.transport and threshold.transport not in seen:
        said = ", ".join(f"{t} ({n} channels)" for t, n in sorted(seen.items())) or \
            "no channel lines (run with NCCL_DEBUG=INFO)"
        raise Unmet(f"transport {threshold.transport} not confirmed: NCCL used {said}", figure)
    return figure


def _nccom_test(threshold: Threshold, result: dict) -> float:
    return min(r["busbw"] for r in _sized(threshold, result["rows"], "size"))


def _ib_write_bw(threshold: Threshold, result: dict) -> float:
    """The lowest average bandwidth within the sizes, in Gb/s, with the buffers in GPU memory (GPUDirect)."""
    if result["unit"] != "Gb/sec":
        raise Unmet(f"reported in {result['unit']}: run ib_write_bw with --report_gbits")
    if not result["gpu_memory"]:
        raise Unmet("buffers in host memory: run ib_write_bw with --use_cuda (GPUDirect RDMA)")
    return min(r["bw_average"] for r in _sized(threshold, result["rows"], "bytes"))


def _dcgm(_threshold: Threshold, result: dict) -> float:
    """The level the diagnostic ran at; a failed diagnostic fails whatever its level."""
    if result.get("level") is None:
        raise Unmet("the diagnostic's run level (dcgmi diag -r N) was not recorded")
    if not result["passed"]:
        raise Unmet("; ".join(result["failures"][:5]) or "the diagnostic ran no test")
    return float(result["level"])


FIGURES = {"nccl-tests": _nccl_tests, "nccom-test": _nccom_test, "ib_write_bw": _ib_write_bw, "dcgmi": _dcgm}
