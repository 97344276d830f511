"""Run a Pulumi program under the SDK's mock runtime, with moto standing in for AWS.

`run_program` points the SDK at `PlanMocks`: every resource the program registers goes through
`PlanMocks.new_resource` (called from the SDK's worker threads, several at once). Types moto can create
are created there in moto (`aifactory.aws.moto_standin`) with the program's real inputs, so ids and ARNs are moto's and an
AWS refusal becomes a plan error naming the resource; other types get mock outputs, and their inputs are held
against the AWS API's model (`api_model`: "api-model", or rejected naming the input); a type no API call is
mapped for stays "mock only". The result is a list of `PlannedResource`, in registration order.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import importlib
import json
import re
import runpy
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pulumi
import pulumi.runtime
from google.protobuf import struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs
from pulumi.runtime.settings import get_root_resource
from pulumi.runtime.stack import run_pulumi_func

from aifactory.core.batch_gc import fewer_collections
from aifactory.aws.moto_standin.backend import ACCOUNT_ID, NOT_HELD, AwsRejected, Backend, StandInFailed
from aifactory.aws.plan import api_model
from aifactory.catalog.aws_api import botocore_version

MOTO = "moto"
API_MODEL = "api-model"  # not in moto; every input held against the AWS API's model (botocore's service definitions)
MOCK_ONLY = "mock only"
REJECTED = "rejected"

PROJECT = "aifactory"


@dataclass
class PlannedResource:
    """One resource of the plan: what the program asked for and what it got."""

    urn: str
    type: str
    name: str
    component: str
    inputs: dict  # camelCase, as the engine sends them; secrets unwrapped
    outputs: dict  # inputs plus the ids and ARNs it got
    id: str | None
    checked_by: str  # MOTO, API_MODEL, MOCK_ONLY or REJECTED
    secret_paths: set[str] = field(default_factory=set)
    error: str | None = None
    custom: bool = True
    source: tuple[str, int] | None = None  # (file URI, line) the SDK recorded for the declaration
    ignore_changes: list[str] = field(default_factory=list)  # properties the program told Pulumi to ignore
    provider: str = ""  # the provider reference the resource was registered with ("" for the default one)
    not_in_moto: list[str] = field(default_factory=list)  # inputs moto took but does not hold (checked by the handler)


@dataclass
class StackOutput:
    """One `pulumi.export` of the program, resolved as `pulumi stack output` would show it."""

    name: str
    value: Any
    secret: bool


@dataclass
class ProgramRun:
    resources: list[PlannedResource]
    errors: list[str]  # program-level errors (exceptions, unanswered invokes)
    components: list[PlannedResource]
    outputs: list[StackOutput] = field(default_factory=list)  # the stack's exports, in export order
    providers: list[PlannedResource] = field(default_factory=list)  # explicit providers, with their inputs


def unwrap_secrets(value: Any, path: str = "", found: set[str] | None = None) -> tuple[Any, set[str]]:
    """The value as AWS wants it (secret wrappers removed, whole numbers as ints), and the secret paths."""
    found = set() if found is None else found
    if rpc.is_rpc_secret(value):
        found.add(path)
        return unwrap_secrets(rpc.unwrap_rpc_secret(value), path, found)[0], found
    if isinstance(value, dict):
        return {k: unwrap_secrets(v, f"{path}.{k}" if path else k, found)[0] for k, v in value.items()}, found
    if isinstance(value, list):
        return [unwrap_secrets(v, f"{path}[{i}]", found)[0] for i, v in enumerate(value)], found
    if isinstance(value, float) and value.is_integer():  # the wire has only doubles; AWS wants ints
        return int(value), found
    return value, found


def component_label(urn: str) -> str:
    """The top-level component a resource belongs to, read from its URN's type chain."""
    qualified = urn.split("::")[2] if urn.count("::") >= 3 else ""
    chain = [t for t in qualified.split("$") if t != "pulumi:pulumi:Stack"]
    if len(chain) < 2:
        return "(stack)"
    return chain[0].rsplit(":", 1)[-1]


class PlanMonitor(MockMonitor):
    """The SDK's mock monitor, also telling the mocks each registration's URN, secret outputs, the
    program line that declared it (the SDK's source position) and its `ignore_changes`."""

    def __init__(self, mocks: "PlanMocks"):
        super().__init__(mocks)
        self.plan_mocks = mocks

    def RegisterResource(self, request):
        if request.type != "pulumi:pulumi:Stack":
            self.plan_mocks.current.urn = self.make_urn(request.parent, request.type, request.name)
            self.plan_mocks.current.secret_outputs = set(request.additionalSecretOutputs)
            self.plan_mocks.current.has_unknown_inputs = _holds_unknown(request.object)
            position = request.sourcePosition
            self.plan_mocks.current.source = (position.uri, position.line) if position.uri else None
            self.plan_mocks.current.ignore_changes = list(request.ignoreChanges)
        return super().RegisterResource(request)


def _holds_unknown(value) -> bool:
    """Whether a registration's inputs (a protobuf Struct) hold a value known only after apply."""
    if isinstance(value, struct_pb2.Struct):
        return any(_holds_unknown(v) for v in value.fields.values())
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value == rpc.UNKNOWN
    if kind == "struct_value":
        return _holds_unknown(value.struct_value)
    if kind == "list_value":
        return any(_holds_unknown(v) for v in value.list_value.values)
    return False


class PlanMocks(pulumi.runtime.Mocks):
    def __init__(self, backend: Backend, region: str, progress: Callable[[str], None]):
        self.backend = backend
        self.region = region
        self.progress = progress
        self.current = threading.local()
        self.lock = threading.Lock()
        self.resources: list[PlannedResource] = []
        self.components: list[PlannedResource] = []
        self.providers: list[PlannedResource] = []
        self.errors: list[str] = []
        self.default_tags: dict[str, dict] = {}  # provider reference -> its default tags
        self.account = getattr(backend, "account_id", ACCOUNT_ID)
        self.stand_in_failure: StandInFailed | None = None  # the first; the plan then has no verdict

    # --- resources -------------------------------------------------------------------------------
    def new_resource(self, args: MockResourceArgs):
        urn = getattr(self.current, "urn", f"urn:pulumi:plan::{PROJECT}::{args.typ}::{args.name}")
        inputs, secret_paths = unwrap_secrets(dict(args.inputs))
        secret_paths |= getattr(self.current, "secret_outputs", set())
        if not args.custom:
            self.progress(f"planning {args.typ.rsplit(':', 1)[-1]} {args.name}")
            with self.lock:
                self.components.append(PlannedResource(urn, args.typ, args.name, component_label(urn), inputs, inputs, None, MOCK_ONLY,
                                                       source=getattr(self.current, "source", None)))
            return None, dict(args.inputs)
        if args.typ.startswith("pulumi:providers:"):
            provider_id = f"{args.name}-provider-id"
            with self.lock:
                self.default_tags[f"{urn}::{provider_id}"] = provider_default_tags(inputs)
                self.providers.append(PlannedResource(urn, args.typ, args.name, component_label(urn), inputs, inputs,
                                                      provider_id, MOCK_ONLY, secret_paths))
            return provider_id, dict(args.inputs)
        aws_inputs = self._with_default_tags(args, inputs)
        # Not under the lock: the SDK's threads wait on the backend side by side (the moto worker
        # queues their requests, an in-process Backend takes them one at a time).
        resource_id, computed, checked_by, error = self._create(args, aws_inputs, secret_paths)
        if "tagsAll" in aws_inputs:
            computed = {"tagsAll": aws_inputs["tagsAll"], **computed}
        outputs = {**inputs, **computed, "id": resource_id}
        with self.lock:
            self.resources.append(PlannedResource(urn, args.typ, args.name, component_label(urn), inputs, outputs,
                                                  resource_id, checked_by, secret_paths, error,
                                                  source=getattr(self.current, "source", None),
                                                  ignore_changes=getattr(self.current, "ignore_changes", []),
                                                  provider=args.provider or "",
                                                  not_in_moto=not_held(args.typ, inputs) if checked_by == MOTO else []))
        return resource_id, {**dict(args.inputs), **computed}

    def _with_default_tags(self, args: MockResourceArgs, inputs: dict) -> dict:
        """The inputs AWS gets: as in pulumi-aws, the provider's default tags join the resource's own
        (which win) on every taggable resource, and show in its `tagsAll`."""
        defaults = self.default_tags.get(args.provider or "", {})
        if not defaults or "tags" not in resource_properties(args.typ)[0]:
            return inputs
        tags = {**defaults, **(inputs.get("tags") or {})}
        return {**inputs, "tags": tags, "tagsAll": tags}

    def _create(self, args: MockResourceArgs, inputs: dict, secret_paths: set[str]):
        if args.resource_id:  # a `.get()` of an existing resource: nothing to create
            return args.resource_id, mock_outputs(args.typ, args.name, self.region, inputs, self.account), MOCK_ONLY, None
        if getattr(self.current, "has_unknown_inputs", False):
            # an input is known only after apply (as in `pulumi preview`): nothing to hold against AWS
            computed = mock_outputs(args.typ, args.name, inputs.get("region") or self.region, inputs, self.account)
            return computed["id"], computed, MOCK_ONLY, None
        if not self.backend.can_create(args.typ) or self._refers_to_unchecked(inputs):
            # moto cannot create it, or it points at something moto never saw (no cascade of errors)
            return self._model_checked(args, inputs, secret_paths)
        try:
            resource_id, computed = self.backend.create(args.typ, args.name, inputs)
            return resource_id, computed, MOTO, None
        except StandInFailed as err:
            raise self._stand_in_failed(err)
        except AwsRejected as err:
            computed = mock_outputs(args.typ, args.name, inputs.get("region") or self.region, inputs, self.account)
            return computed["id"], computed, REJECTED, str(err)
        except (KeyError, TypeError, ValueError) as err:  # an input AWS requires is missing or malformed
            computed = mock_outputs(args.typ, args.name, inputs.get("region") or self.region, inputs, self.account)
            return computed["id"], computed, REJECTED, f"missing or malformed input: {err!r}"

    def _model_checked(self, args: MockResourceArgs, inputs: dict, secret_paths: set[str]):
        """Mock outputs for a resource moto does not create, its inputs held against the AWS API's model."""
        computed = mock_outputs(args.typ, args.name, inputs.get("region") or self.region, inputs, self.account)
        verdict = api_model.check(args.typ, args.name, inputs, lambda path: is_secret(path, secret_paths))
        if verdict is None or verdict.unplaced:
            return computed["id"], computed, MOCK_ONLY, None
        if verdict.refusals:
            return computed["id"], computed, REJECTED, (f"the AWS API's model (botocore {botocore_version()}) refuses: "
                                                        + "; ".join(verdict.refusals))
        return computed["id"], computed, API_MODEL, None

    def _refers_to_unchecked(self, value) -> bool:
        """Whether an input holds an id moto never issued (of a mock-only or rejected resource)."""
        if isinstance(value, str):
            return MOCK_ID_MARK in value
        if isinstance(value, dict):
            return any(self._refers_to_unchecked(v) for v in value.values())
        if isinstance(value, list):
            return any(self._refers_to_unchecked(v) for v in value)
        return False

    # --- invokes ---------------------------------------------------------------------------------
    def call(self, args: MockCallArgs):
        answer = INVOKES.get(args.token)
        if answer is None:
            with self.lock:
                self.errors.append(f"the offline plan has no answer for the invoke {args.token}")
            return {}
        try:
            return answer(self, dict(args.args))
        except StandInFailed as err:
            raise self._stand_in_failed(err)

    def _stand_in_failed(self, err: StandInFailed) -> StandInFailed:
        """Keep the first failure of AWS's stand-in (the plan ends without a verdict) and pass it on."""
        with self.lock:
            self.stand_in_failure = self.stand_in_failure or err
        return err


# Property names that hold secrets whatever the program marked (pre-shared keys, activation codes,
# BGP auth keys, XKS credentials, passwords, secrets, key material, CGW configurations with PSKs inside).
SECRET_NAME = re.compile(r"(presharedkey|activationcode|bgpauthkey|authkey|rawsecretaccesskey|secretaccesskey|"
                         r"password|secret|secretstring|secretbinary|customergatewayconfiguration|privatekey|"
                         r"keymaterial|keymaterialbase64)$", re.I)


def not_held(resource_type: str, inputs: dict) -> list[str]:
    """The inputs of a resource created in moto that moto does not hold (`NOT_HELD`)."""
    pattern = NOT_HELD.get(resource_type)
    return sorted(k for k in inputs if pattern.fullmatch(k)) if pattern else []


def is_secret(path: str, secret_paths: set[str]) -> bool:
    """Whether an input path (`a.b[0].c`) is, lies inside one the program marked secret, or is secret by name."""
    names = re.sub(r"\[\d+\]", "", path).split(".")
    return (any(path == s or path.startswith((s + ".", s + "[")) for s in secret_paths)
            or any(SECRET_NAME.search(name) for name in names))


MOCK_ID_MARK = "mock-"  # in every id the mock makes up, never in one moto issues

# Id prefixes AWS gives the computed ids other resources read (the rest get a bare mock id).
MOCK_ID_PREFIXES = {"transitGatewayAttachmentId": "tgw-attach-", "dxGatewayAssociationId": "dx-assoc-"}
# Types whose ARN ends in a UUID (the AWS API's model holds a KMS key's ARN to it).
UUID_IDS = {"aws:kms/key:Key"}
# AWS activation codes are 20 characters (SSM CreateActivation's ActivationCode).
ACTIVATION_CODE_LENGTH = 20


def provider_default_tags(inputs: dict) -> dict:
    """An AWS provider's `defaultTags.tags` (the engine sends a provider's nested inputs as JSON text)."""
    value = inputs.get("defaultTags") or {}
    if isinstance(value, str):
        value = json.loads(value or "{}")
    return dict(value.get("tags") or {})


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


@functools.lru_cache(maxsize=None)
def resource_properties(resource_type: str) -> tuple[frozenset[str], frozenset[str]]:
    """(every property, the output-only ones) of a pulumi-aws resource type, read from its SDK class."""
    try:
        module_path, class_name = resource_type.split(":")[1].split("/")[0], resource_type.rsplit(":", 1)[-1]
        module = importlib.import_module(f"pulumi_aws.{module_path}")
        cls, args = getattr(module, class_name), getattr(module, f"{class_name}Args", None)
    except (IndexError, ImportError, AttributeError):
        return frozenset(), frozenset()

    def names(c) -> frozenset[str]:
        return frozenset(getattr(v.fget, "_pulumi_name", k) for k, v in vars(c).items() if isinstance(v, property))

    every = names(cls)
    return every, every - (names(args) if args else frozenset())


def mock_outputs(resource_type: str, name: str, region: str, inputs: dict | None = None, account: str = ACCOUNT_ID) -> dict:
    """Outputs for a resource moto does not create: every output-only property of the type that holds
    an id, ARN, account, region, version or code gets a value of the shape AWS gives it, so nothing a
    dependent resource reads (a guardrail's ARN in a policy) is left null."""
    inputs = inputs or {}
    module, _, kind = resource_type.split(":")[1].partition("/")
    digest = hashlib.sha1(f"{resource_type}/{name}".encode()).hexdigest()
    resource_id = f"{MOCK_ID_MARK}{digest[:12]}"
    # ARNs end in a bare id, as AWS's do (a guardrail's is 12 lowercase characters, a KMS key's a UUID): a
    # policy that names the resource stays creatable in moto, since only ids with the mark make a dependent mock only.
    arn_id = str(uuid.UUID(digest[:32])) if resource_type in UUID_IDS else digest[:12]
    arn = f"arn:aws:{module}:{region}:{account}:{_kebab(kind)}/{arn_id}"
    outputs = {"id": resource_id, "arn": arn}
    for prop in sorted(resource_properties(resource_type)[1] - set(inputs)):
        if prop.endswith("Arn"):
            outputs[prop] = arn
        elif prop == f"{kind}Id":  # marked: a resource that names it (a KMS alias its key) is not sent to moto
            outputs[prop] = f"{MOCK_ID_MARK}{digest[:12]}"
        elif prop in ("ownerId", "ownerAccountId") or prop.endswith(("AccountId", "OwnerId")):
            outputs[prop] = account
        elif prop.endswith("Id"):
            outputs[prop] = f"{MOCK_ID_PREFIXES.get(prop, '')}{MOCK_ID_MARK}{digest[12:24]}"
        elif prop == "homeRegion":
            outputs[prop] = region
        elif prop == "version":
            outputs[prop] = "1"
        elif prop == "activationCode":
            outputs[prop] = digest[:ACTIVATION_CODE_LENGTH]
    return outputs


# --- invoke answers (data sources) ---------------------------------------------------------------
def _get_region(mocks: PlanMocks, args: dict) -> dict:
    region = args.get("region") or args.get("name") or mocks.region
    return {"region": region, "name": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com"}


def _get_caller_identity(mocks: PlanMocks, args: dict) -> dict:
    ident = mocks.backend.caller_identity()
    return {"accountId": ident["Account"], "arn": ident["Arn"], "userId": ident["UserId"], "id": ident["Account"]}


def _get_partition(mocks: PlanMocks, args: dict) -> dict:
    return {"partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws", "id": "aws"}


def _get_availability_zones(mocks: PlanMocks, args: dict) -> dict:
    zones = mocks.backend.availability_zones()
    return {"names": [z["ZoneName"] for z in zones], "zoneIds": [z["ZoneId"] for z in zones], "id": mocks.region,
            "groupNames": [z.get("GroupName", mocks.region) for z in zones]}


def _get_policy_document(mocks: PlanMocks, args: dict) -> dict:
    """aws.iam.get_policy_document rendered the way the provider renders it."""
    statements = []
    for s in args.get("statements") or []:
        st = {"Sid": s.get("sid"), "Effect": s.get("effect", "Allow")}
        for key, out in (("actions", "Action"), ("notActions", "NotAction"), ("resources", "Resource"), ("notResources", "NotResource")):
            if s.get(key):
                st[out] = s[key] if len(s[key]) > 1 else s[key][0]
        for key, out in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
            if s.get(key):
                st[out] = {p["type"]: (p["identifiers"] if len(p["identifiers"]) > 1 else p["identifiers"][0]) for p in s[key]}
        for c in s.get("conditions") or []:
            st.setdefault("Condition", {}).setdefault(c["test"], {})[c["variable"]] = c["values"] if len(c["values"]) > 1 else c["values"][0]
        statements.append({k: v for k, v in st.items() if v is not None})
    doc = json.dumps({"Version": args.get("version", "2012-10-17"), "Statement": statements})
    return {"json": doc, "minifiedJson": doc, "id": hashlib.sha1(doc.encode()).hexdigest()[:10]}


INVOKES: dict[str, Callable[[PlanMocks, dict], dict]] = {
    "aws:index/getRegion:getRegion": _get_region,
    "aws:index/getCallerIdentity:getCallerIdentity": _get_caller_identity,
    "aws:index/getPartition:getPartition": _get_partition,
    "aws:index/getAvailabilityZones:getAvailabilityZones": _get_availability_zones,
    "aws:iam/getPolicyDocument:getPolicyDocument": _get_policy_document,
}


class MockOnlyBackend:
    """No AWS stand-in at all: it creates nothing, so every resource gets mock outputs ("mock only"); the
    account and zone invokes get fixed answers (moto's default account, zones a-c). The bench's bare
    mode and the program's tests run the engine with it."""

    account_id = ACCOUNT_ID
    caller_arn = f"arn:aws:iam::{ACCOUNT_ID}:user/mock-only-deployer"

    def __init__(self, region: str):
        self.region = region

    def can_create(self, resource_type: str) -> bool:
        return False

    def caller_identity(self) -> dict:
        return {"Account": self.account_id, "Arn": self.caller_arn, "UserId": "MOCKONLY"}

    def availability_zones(self) -> list[dict]:
        return [{"ZoneName": f"{self.region}{z}", "ZoneId": f"mock-az{i}", "GroupName": self.region}
                for i, z in enumerate("abc", start=1)]


# --- running a program ---------------------------------------------------------------------------
def run_program(program_dir: Path, config: dict[str, str], mocks: PlanMocks, stack: str) -> ProgramRun:
    """Run `program_dir/__main__.py` once under the mocks; every exception becomes a plan error."""
    main = program_dir / "__main__.py"
    loop = asyncio.new_event_loop()  # one loop per run: the SDK's tasks must not outlive it
    asyncio.set_event_loop(loop)
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_all_config(config)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=PlanMonitor(mocks))
    sys.path.insert(0, str(program_dir))
    errors: list[str] = []
    outputs: list[StackOutput] = []
    try:
        with contextlib.redirect_stdout(sys.stderr), fewer_collections():  # prints must not mix with the plan's output
            loop.run_until_complete(run_pulumi_func(lambda: runpy.run_path(str(main), run_name="__main__")))
            outputs = loop.run_until_complete(stack_outputs())
    except Exception as err:  # the program's own failure, reported with its message
        errors.append(f"the program failed: {type(err).__name__}: {err}")
    except BaseException:  # Ctrl-C or SIGTERM: the SDK's unfinished registrations are dropped silently
        loop.set_exception_handler(lambda loop, context: None)
        raise
    finally:
        sys.path.remove(str(program_dir))
        loop.close()
        asyncio.set_event_loop(None)
    return ProgramRun(mocks.resources, mocks.errors + errors, mocks.components, outputs, mocks.providers)


async def stack_outputs() -> list[StackOutput]:
    """The values the program exported on its stack (the mock engine never registers them: read back
    from the root stack resource), with whether each is secret."""
    root = get_root_resource()
    out = []
    for name, value in (getattr(root, "outputs", None) or {}).items():
        output = pulumi.Output.from_input(value)
        resolved, _ = unwrap_secrets(await output.future(with_unknowns=True))
        out.append(StackOutput(name, resolved, bool(await output.is_secret())))
    return out
