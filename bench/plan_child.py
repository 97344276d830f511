"""One plan, run in its own process so the parent can read its wall time and peak RSS.

    python bench/plan_child.py moto SITE [--program DIR]   # what `aifactory plan` does (make_plan: moto worker)
    python bench/plan_child.py bare SITE [--program DIR]   # the same program and engine, no moto

"bare" is the Pulumi SDK's mock runtime alone: the engine's PlanMocks over its MockOnlyBackend (every
resource answered by mock outputs, the invokes answered statically), then the same controls evaluated,
outside `mock_aws` (so neither moto's patching nor its managed-policy load run). Prints one JSON object: plan_seconds (in-process time of the plan
itself, imports excluded; in moto mode it includes waiting for the moto worker process), import_seconds,
peak_rss_mb, resources, by_checker, errors. The parent's rusage of this process includes the worker's CPU
(it is waited for), so CPU compares the whole cost of both modes; peak_rss_mb adds the worker's peak
to this process's own (rusage keeps the larger of the two, not their sum).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

START = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collections import Counter  # noqa: E402

from aifactory.aws.plan import DEFAULT_PROGRAM, control_config, make_plan  # noqa: E402
from aifactory.aws.plan.engine import MockOnlyBackend, PlanMocks, run_program  # noqa: E402
from aifactory.aws.plan.evaluate import evaluate  # noqa: E402
from aifactory.spec import load_spec  # noqa: E402


def bare_plan(spec: Path, program: Path):
    """make_plan's steps with no AWS stand-in: the program run, then the same controls on its resources."""
    factory = load_spec(spec)
    region = factory.sovereignty.region
    config = {"aifactory:spec": str(Path(spec).resolve() / "factory.yaml"), "aws:region": region}
    mocks = PlanMocks(MockOnlyBackend(region), region, progress=lambda line: None)
    run = run_program(Path(program).resolve(), config, mocks, stack=factory.name)
    evaluate(run.resources, control_config(factory))
    return run


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["moto", "bare"])
    p.add_argument("site", type=Path)
    p.add_argument("--program", type=Path, default=DEFAULT_PROGRAM)
    args = p.parse_args()
    imported = time.perf_counter()
    if args.mode == "moto":
        plan = make_plan(args.site, args.program, progress=lambda line: None)
        resources, errors = plan.resources, plan.errors + [r.error for r in plan.resource_errors]
    else:
        run = bare_plan(args.site, args.program)
        resources, errors = run.resources, run.errors
    done = time.perf_counter()
    peak_kb = sum(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(json.dumps({"import_seconds": imported - START, "plan_seconds": done - imported, "peak_rss_mb": peak_kb / 1024,
                      "resources": len(resources), "by_checker": dict(Counter(r.checked_by for r in resources)),
                      "errors": errors[:5]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
