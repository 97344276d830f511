"""`aifactory plan`: the Pulumi program run offline, checked by moto and by the sovereignty controls.

`make_plan(spec, program)` loads the spec, runs the program under the mock engine (moto in a worker
process of its own, or a running moto_server with `aws_endpoint`), evaluates the controls SOV-01..SOV-14, and
returns a `Plan` whose `as_dict()` is the documented JSON shape (docs/plan-json.md), secrets masked.
"""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from aifactory.core import project
from aifactory.core.exits import EXIT_NOT_CHECKED  # noqa: F401  (the plan's name for it: aifactory.reports.diff)
from aifactory.node.inventory import AWS_OUTPUT_KEYS
from aifactory.aws.moto_standin.backend import ACCOUNT_ID, Backend, StandInFailed, client_factory, new_account_id
from aifactory.aws.moto_standin.worker import MotoWorker, WorkerSite
from aifactory.aws.plan.engine import (API_MODEL, MOCK_ONLY, MOTO, REJECTED, SECRET_NAME, PlanMocks, PlannedResource,
                                      StackOutput, run_program)
from aifactory.aws.plan.evaluate import ControlResult, evaluate
from aifactory.catalog.aws_api import botocore_version
from aifactory.spec import Factory, load_spec

JSON_VERSION = 1
MASK = "[secret]"
# An offline plan never holds a site's XKS proxy credentials or its external key ids (the Pulumi config
# infra/keys.py reads): values of the shapes KMS accepts stand in for them, and the plan lists them.
XKS_PLACEHOLDERS = {
    "aifactory:xksAccessKeyId": "AIFACTORYOFFLINEPLANXKS",
    "aifactory:xksSecretAccessKey": "offlinePlanPlaceholderNotTheSiteSecret000000000",
    "aifactory:xksKeyIdData": "offline-plan-placeholder-data-key",
    "aifactory:xksKeyIdLogs": "offline-plan-placeholder-logs-key",
}




class PlanError(Exception):
    """The plan could not run to a verdict (no program, AWS's stand-in unreachable or failed)."""


class StandInUnavailable(PlanError):
    """AWS's stand-in could not be reached, is not set up, or failed mid-plan: the program was not checked."""


@dataclass
class Plan:
    factory: Factory
    program: Path
    backend: str  # "moto (worker process)" or "moto_server at URL"
    resources: list[PlannedResource]
    components: list[PlannedResource]
    controls: list[ControlResult]
    errors: list[str]
    placeholders: list[str]  # config the offline plan made up (mock values, not the site's)
    account: str  # the moto account the plan created its resources in
    stack_outputs: list[StackOutput] = field(default_factory=list)

    @property
    def outputs(self) -> dict[str, dict]:
        """The stack outputs the playbooks consume (aifactory.node.inventory.AWS_OUTPUT_KEYS) that the program
        exported with a value, never a secret one: {name: {value, resource, mock_only}}. `resource` is
        the resource whose id or ARN the value is (None: the program computed it from the spec);
        `mock_only` marks a value made up in AWS's shape for a resource moto cannot create."""
        producers = resource_ids(self.resources)
        out = {}
        for o in self.stack_outputs:
            if o.name not in AWS_OUTPUT_KEYS or o.secret or o.value in (None, "", {}, []):
                continue
            r = producers.get(o.value) if isinstance(o.value, str) else None
            out[o.name] = {"value": o.value, "resource": r.name if r else None,
                           "mock_only": bool(r and r.checked_by != MOTO)}
        return out

    def stack_output_file(self) -> dict:
        """`outputs` in the format of `pulumi stack output --json` (what `bringup --stack-outputs` reads)."""
        return {name: o["value"] for name, o in self.outputs.items()}

    @property
    def resource_errors(self) -> list[PlannedResource]:
        return [r for r in self.resources if r.checked_by == REJECTED]

    @property
    def clean(self) -> bool:
        return not self.errors and not self.resource_errors and all(c.passed for c in self.controls)

    def as_dict(self) -> dict:
        counts = Counter(r.checked_by for r in self.resources)
        return {
            "version": JSON_VERSION,
            "factory": self.factory.name,
            "region": self.factory.sovereignty.region,
            "program": str(self.program),
            "aws": self.backend,
            "aws_account": self.account,
            "clean": self.clean,
            "placeholders": self.placeholders,
            "api_model": {"botocore": botocore_version()},  # the AWS API model mock-only inputs were held against
            "summary": {"resources": len(self.resources), "moto": counts[MOTO], "api_model": counts[API_MODEL],
                        "mock_only": counts[MOCK_ONLY], "rejected": counts[REJECTED],
                        "controls_passed": sum(c.passed for c in self.controls), "controls_failed": sum(not c.passed for c in self.controls)},
            "resources": [
                {"name": r.name, "type": r.type, "component": r.component, "id": r.id, "checked_by": r.checked_by,
                 "error": r.error, "inputs": masked(r.inputs, r.secret_paths),
                 "source": {"uri": r.source[0], "line": r.source[1]} if r.source else None,
                 "ignore_changes": r.ignore_changes, "not_in_moto": r.not_in_moto}
                for r in self.resources
            ],
            "controls": [
                {"id": c.id, "statement": c.statement, "passed": c.passed,
                 "violations": [{"resource": v.resource, "type": v.type, "message": v.message} for v in c.violations]}
                for c in self.controls
            ],
            "errors": self.errors + [f"{r.name} ({r.type}): {r.error}" for r in self.resource_errors],
            "outputs": self.outputs,
        }


def resource_ids(resources: list[PlannedResource]) -> dict[str, PlannedResource]:
    """Each id or ARN the resources got (not one they were given) -> the resource that got it."""
    found: dict[str, PlannedResource] = {}
    for r in resources:
        for key, value in r.outputs.items():
            if isinstance(value, str) and key not in r.inputs and (key in ("id", "arn") or key.endswith(("Arn", "Id"))):
                found.setdefault(value, r)
    return found


def masked(value, secret_paths: set[str], path: str = ""):
    """A copy of `value` with every secret (marked by the program, or secret by name) replaced by MASK."""
    if path in secret_paths or SECRET_NAME.search(path.rsplit(".", 1)[-1]):
        return MASK if value not in (None, "", [], {}) else value
    if isinstance(value, dict):
        return {k: masked(v, secret_paths, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, secret_paths, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def control_config(factory: Factory) -> dict:
    """The policy config the controls read from the spec (as `pulumi preview --policy-pack` gets it)."""
    return {"sov-09-residency": {"residency": factory.sovereignty.residency},
            "sov-13-audit-trail-and-access-logs": {"organization_trail": factory.sovereignty.audit_trail == "organization"}}


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def program_dir(program: Path | None) -> Path:
    """The Pulumi program directory to plan with (default: the project's infra/); PlanError if it is none."""
    program = Path(program or project.program()).resolve()
    if not (program / "__main__.py").is_file():
        raise PlanError(f"--program {program}: not a Pulumi program directory (no __main__.py)")
    return program


def make_plans(specs: list[str | Path], program: Path | None = None, aws_endpoint: str | None = None,
               progress=_progress) -> list[Plan]:
    """Plan several sites in one process, one after the other. Every spec and the program are checked
    before anything starts (a bad one is the run's error). The sites share one moto worker (moto
    starts once), each site in a moto account of its own, so no site sees another's resources."""
    factories = [load_spec(spec) for spec in specs]
    program = program_dir(program)
    if aws_endpoint:
        return [make_plan(spec, program, aws_endpoint, progress) for spec in specs]
    with MotoWorker(factories[0].sovereignty.region) as worker:
        return [make_plan(spec, program, progress=progress,
                          worker=worker.site(f.sovereignty.region, ACCOUNT_ID if i == 0 else new_account_id()))
                for i, (spec, f) in enumerate(zip(specs, factories))]


def make_plan(spec: str | Path, program: Path | None = None, aws_endpoint: str | None = None, progress=_progress,
              worker: WorkerSite | None = None) -> Plan:
    """Plan the factory described by `spec` with `program` (default: the project's infra/), against a
    new moto worker, a site of a shared one (`make_plans`), or the moto_server at `aws_endpoint`."""
    factory = load_spec(spec)
    program = program_dir(program)
    region = factory.sovereignty.region
    spec_file = Path(spec).resolve()
    placeholders = XKS_PLACEHOLDERS if factory.sovereignty.keys == "external-key-store" else {}
    config = {"aifactory:spec": str(spec_file), "aws:region": region, **placeholders}
    if aws_endpoint:  # a plan of its own in the shared moto_server: a new account
        account = new_account_id()
        server = Backend(client_factory(aws_endpoint, account), region, account)
        try:
            server.check_server(aws_endpoint)
        except StandInFailed as err:
            raise StandInUnavailable(str(err)) from None
        aws, label = contextlib.nullcontext(server), f"moto_server at {aws_endpoint}"
    elif worker:
        aws, label = contextlib.nullcontext(worker), worker.label
    else:  # a new worker starts now: moto sets up while the program loads
        aws, label = MotoWorker(region), MotoWorker.label
    with aws as backend:
        mocks = PlanMocks(backend, region, progress)
        run = run_program(program, config, mocks, stack=factory.name)
    if mocks.stand_in_failure:
        raise StandInUnavailable(f"the plan stopped without a verdict: AWS's stand-in ({label}) failed: {mocks.stand_in_failure}")
    errors = list(run.errors)
    if not run.resources:  # controls that pass over nothing are no verdict
        errors.append("the program declared no AWS resource: no control was checked")
        controls = []
    else:
        controls = evaluate(run.resources, control_config(factory), run.components)
    return Plan(factory, program, label, run.resources, run.components, controls, errors, sorted(placeholders), mocks.account,
                run.outputs)
