"""Python's cycle collector tuned for a batch job that allocates a lot: the offline plan and its moto worker."""

from __future__ import annotations

import contextlib
import gc

# Allocations between collections of the young generation, and collections of each generation
# between collections of the next (Python's defaults: 700, 10, 10).
BATCH_THRESHOLDS = (50_000, 50, 50)


@contextlib.contextmanager
def fewer_collections(thresholds: tuple[int, int, int] = BATCH_THRESHOLDS):
    """Run the cycle collector less often for a while, then restore its thresholds.

    The Pulumi SDK allocates many short-lived objects in cycles per resource (futures, tasks,
    closures), and moto many per request. At the default thresholds the collector runs thousands
    of times in a large plan and its older-generation passes walk the whole heap, so collecting
    grew faster than the resource count (bench/RESULTS.md). Cycles are still collected, in larger
    batches; the plan's peak memory stays the same.
    """
    before = gc.get_threshold()
    gc.set_threshold(*thresholds)
    try:
        yield
    finally:
        gc.set_threshold(*before)
