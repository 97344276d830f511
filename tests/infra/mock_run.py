"""Run the real Pulumi program (infra/__main__.py) under the Pulumi SDK's mock engine and record it.

Every run gets a fresh event loop, fresh runtime settings and a fresh root stack, so several sites run
one after another in one pytest process. Assertions are made on the RECORDED inputs (plain data) after
the program has finished, never inside `Output.apply`, so an output the mock did not resolve cannot make
a test pass silently.
"""

from __future__ import annotations

import asyncio
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from tests.conftest import REPO

ACCOUNT_ID = "123456789012"
PROGRAM = REPO / "infra" / "__main__.py"


@dataclass
class Resource:
    typ: str
    name: str
    inputs: dict[str, Any]
    provider: str
    parent: str = ""
    secret_outputs: tuple[str, ...] = ()


@dataclass
class Run:
    resources: list[Resource]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    calls: list[str] = field(default_factory=list)

    def of_type(self, typ: str) -> list[Resource]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str) -> Resource:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, found {[r.name for r in found]}"
        return found[0]

    def named(self, name: str, typ: str | None = None) -> Resource:
        found = [r for r in self.resources if r.name == name and typ in (None, r.typ)]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]


def _computed(typ: str, name: str, region: str) -> dict[str, Any]:
    """What AWS would compute for a resource: ids and ARNs the program wires into other inputs."""
    service, _, kind = typ.split(":")[1].partition("/")
    state: dict[str, Any] = {"arn": f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{kind.lower()}/{name}"}
    if typ == "aws:bedrock/guardrail:Guardrail":
        state.update(guardrailArn=f"arn:aws:bedrock:{region}:{ACCOUNT_ID}:guardrail/{name}", guardrailId=f"{name}-gid")
    elif typ == "aws:bedrock/guardrailVersion:GuardrailVersion":
        state["version"] = "1"
    elif typ == "aws:ssm/activation:Activation":
        state["activationCode"] = "mock-activation-code"
    elif typ in ("aws:ec2/vpnConnection:VpnConnection", "aws:directconnect/gatewayAssociation:GatewayAssociation"):
        state["transitGatewayAttachmentId"] = f"tgw-attach-{name}"
    elif typ == "aws:kms/key:Key":
        state.update(keyId=f"{name}-key-id", arn=f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{name}")
    elif typ == "aws:iam/role:Role":
        state.update(name=f"{name}-1a2b3c", arn=f"arn:aws:iam::{ACCOUNT_ID}:role/{name}-1a2b3c")
    elif typ == "aws:s3/bucket:Bucket":
        state.update(bucket=f"{name}-1a2b3c", arn=f"arn:aws:s3:::{name}-1a2b3c")
    return state


class RecordingMonitor(MockMonitor):
    """Also records what the mock engine drops: each resource's parent and additional secret outputs."""

    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self.options: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}

    def RegisterResource(self, request):
        self.options[(request.type, request.name)] = (request.parent, tuple(request.additionalSecretOutputs))
        return super().RegisterResource(request)


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, region: str):
        self.region = region
        self.resources: list[Resource] = []
        self.calls: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(Resource(args.typ, args.name, dict(args.inputs), args.provider))
        state = {**_computed(args.typ, args.name, self.region), **args.inputs}
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.calls.append(args.token)
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/deployer", "userId": "AIDA"}
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": [f"{self.region}{z}" for z in "abc"], "zoneIds": [f"z{z}" for z in "123"]}
        raise AssertionError(f"the program made an unexpected call: {args.token}")


async def _resolve(value: Any) -> tuple[Any, bool]:
    output = pulumi.Output.from_input(value)
    return await output.future(), await output.is_secret()


def run_program(spec: Path, region: str, stack: str, config: dict[str, str] | None = None) -> Run:
    """Run infra/__main__.py for `spec` (a site dir or factory.yaml) and return what it declared."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        settings.reset_options(project="aifactory", stack=stack, preview=False)
        mocks = RecordingMocks(region)
        monitor = RecordingMonitor(mocks)
        pulumi.runtime.set_mocks(mocks, project="aifactory", stack=stack, preview=False, monitor=monitor)
        pulumi.runtime.set_all_config({"aifactory:spec": str(spec), **(config or {})},
                                      [key for key in (config or {}) if "Psk" in key or "xks" in key])
        settings.SETTINGS.rpc_manager.clear()
        settings.SETTINGS.outputs.clear()
        _sync_await(run_pulumi_func(lambda: runpy.run_path(str(PROGRAM), run_name="__main__")))
        outputs, secret = {}, set()
        for name, value in settings.get_root_resource().outputs.items():
            outputs[name], is_secret = _sync_await(_resolve(value))
            if is_secret:
                secret.add(name)
        for resource in mocks.resources:
            resource.parent, resource.secret_outputs = monitor.options[(resource.typ, resource.name)]
        return Run(mocks.resources, outputs, secret, mocks.calls)
    finally:
        settings.reset_options()
        loop.close()
        asyncio.set_event_loop(None)
