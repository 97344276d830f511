"""Resources moto cannot hold, checked against the AWS API's model instead.

`API_CALLS` maps each Pulumi type the program may leave out of moto to the API call that creates it,
and its inputs to that call's members. `check(resource_type, inputs)` builds the request the way
pulumi-aws would and holds it against botocore's model and the sourced table of limits
(`aifactory.catalog.aws_api`): the refusals name the Pulumi input. A resource whose every input went
into the request is "api-model" checked; one with an input the mapping cannot place stays "mock only".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aifactory.aws.moto_standin.backend import physical_name
from aifactory.catalog import aws_api

# Inputs of every type that reach no create call: the provider's own settings.
PROVIDER_INPUTS = frozenset({"region", "tagsAll"})


@dataclass(frozen=True)
class ApiCall:
    """The API call that creates a Pulumi type: input -> member path ("a.b" for a nested member), the
    inputs that go to a follow-up call or only to the provider, members the provider fills in, and the
    input Pulumi autonames when the program gives none (with the prefix of the name it makes)."""

    service: str
    operation: str
    members: dict[str, str] = field(default_factory=dict)  # inputs whose member has another name
    provider_only: frozenset[str] = frozenset()
    fixed: dict[str, object] = field(default_factory=dict)
    autoname: str | None = None
    autoname_prefix: str = ""


API_CALLS: dict[str, ApiCall] = {
    "aws:accessanalyzer/analyzer:Analyzer": ApiCall("accessanalyzer", "CreateAnalyzer"),
    "aws:directconnect/gateway:Gateway": ApiCall("directconnect", "CreateDirectConnectGateway", {"name": "directConnectGatewayName"},
                                                 autoname="name"),
    "aws:directconnect/transitVirtualInterface:TransitVirtualInterface": ApiCall(
        "directconnect", "CreateTransitVirtualInterface",
        {"name": "newTransitVirtualInterface.virtualInterfaceName", "vlan": "newTransitVirtualInterface.vlan",
         "bgpAsn": "newTransitVirtualInterface.asn", "mtu": "newTransitVirtualInterface.mtu",
         "bgpAuthKey": "newTransitVirtualInterface.authKey", "amazonAddress": "newTransitVirtualInterface.amazonAddress",
         "customerAddress": "newTransitVirtualInterface.customerAddress",
         "addressFamily": "newTransitVirtualInterface.addressFamily",
         "dxGatewayId": "newTransitVirtualInterface.directConnectGatewayId",
         "sitelinkEnabled": "newTransitVirtualInterface.enableSiteLink", "tags": "newTransitVirtualInterface.tags"},
        autoname="name"),
    "aws:directconnect/gatewayAssociation:GatewayAssociation": ApiCall(
        "directconnect", "CreateDirectConnectGatewayAssociation",
        {"dxGatewayId": "directConnectGatewayId", "associatedGatewayId": "gatewayId",
         "allowedPrefixes": "addAllowedPrefixesToDirectConnectGateway"},
        provider_only=frozenset({"proposalId", "associatedGatewayOwnerAccountId"})),
    "aws:bedrock/guardrail:Guardrail": ApiCall("bedrock", "CreateGuardrail", {"kmsKeyArn": "kmsKeyId"}, autoname="name"),
    "aws:bedrock/guardrailVersion:GuardrailVersion": ApiCall(
        "bedrock", "CreateGuardrailVersion", {"guardrailArn": "guardrailIdentifier"}, provider_only=frozenset({"skipDestroy"})),
    "aws:rolesanywhere/trustAnchor:TrustAnchor": ApiCall("rolesanywhere", "CreateTrustAnchor", autoname="name"),
    "aws:rolesanywhere/profile:Profile": ApiCall("rolesanywhere", "CreateProfile", autoname="name"),
    "aws:ssm/activation:Activation": ApiCall("ssm", "CreateActivation", {"name": "DefaultInstanceName"}),
    "aws:kms/customKeyStore:CustomKeyStore": ApiCall("kms", "CreateCustomKeyStore"),
    # moto holds these, but a plan leaves them out of moto when they name a resource moto never saw
    # (the Direct Connect gateway's attachment, an external key store's keys).
    "aws:ec2transitgateway/routeTableAssociation:RouteTableAssociation": ApiCall(
        "ec2", "AssociateTransitGatewayRouteTable", provider_only=frozenset({"replaceExistingAssociation"})),
    "aws:ec2transitgateway/routeTablePropagation:RouteTablePropagation": ApiCall(
        "ec2", "EnableTransitGatewayRouteTablePropagation"),
    "aws:kms/key:Key": ApiCall(
        "kms", "CreateKey", {"customerMasterKeySpec": "KeySpec"},
        provider_only=frozenset({"enableKeyRotation", "rotationPeriodInDays", "deletionWindowInDays", "isEnabled"})),
    "aws:kms/alias:Alias": ApiCall("kms", "CreateAlias", {"name": "AliasName"}, provider_only=frozenset({"namePrefix"}),
                                   autoname="name", autoname_prefix="alias/"),
    "aws:kms/keyPolicy:KeyPolicy": ApiCall("kms", "PutKeyPolicy", fixed={"PolicyName": "default"}),
}


@dataclass
class ModelCheck:
    """What the model said of one resource: refusals (`input: message`), and inputs the mapping could not place."""

    refusals: list[str]
    unplaced: list[str]


def check(resource_type: str, logical: str, inputs: dict,
          secret: Callable[[str], bool] = lambda path: False) -> ModelCheck | None:
    """The API model's verdict on a resource's inputs (`logical`: its Pulumi name, for autonaming); None when
    no API call is mapped for its type. A refused value is shown unless `secret(input path)` says it is one
    (or the model marks it sensitive)."""
    call = API_CALLS.get(resource_type)
    if call is None:
        return None
    if call.autoname and not inputs.get(call.autoname):
        inputs = {**inputs, call.autoname: physical_name(inputs, call.autoname_prefix + logical, call.autoname)}
    request, origin, unplaced = build_request(call, inputs)
    refusals = []
    for r in aws_api.check_input(call.service, call.operation, request):
        path = _input_path(r.path, origin)
        given = "" if r.value is None or secret(path) else f" (given {r.value!r})"
        refusals.append(f"{path} {r.message}{given}")
    return ModelCheck(refusals, unplaced)


def build_request(call: ApiCall, inputs: dict) -> tuple[dict, dict[str, str], list[str]]:
    """(the request pulumi-aws would send, member path -> the input it came from, inputs not placed)."""
    top = aws_api.service_model(call.service).operation_model(call.operation).input_shape
    request: dict = dict(call.fixed)
    origin: dict[str, str] = {}
    unplaced: list[str] = []
    for key, value in inputs.items():
        if key in PROVIDER_INPUTS or key in call.provider_only or value is None:
            continue
        target = call.members.get(key) or _member_name(top, key)
        if target is None:
            unplaced.append(key)
            continue
        shape, parent = top, request
        parts = target.split(".")
        for part in parts[:-1]:
            shape = shape.members[part]
            parent = parent.setdefault(part, {})
        shape = shape.members[parts[-1]]
        parent[parts[-1]] = _to_api(value, shape, key, unplaced)
        origin[target] = key
    return request, origin, unplaced


def _member_name(shape, key: str) -> str | None:
    """The member of a structure an input names: the same name in any case, or the singular of a plural
    (pulumi-aws's `filtersConfigs` is the API's `filtersConfig`)."""
    by_lower = {name.lower(): name for name in shape.members}
    for candidate in (key.lower(), key.lower()[:-1] if key.endswith("s") else None):
        if candidate and candidate in by_lower:
            return by_lower[candidate]
    return None


def _to_api(value, shape, path: str, unplaced: list[str]):
    """An input value in the form the API member takes (as pulumi-aws converts it)."""
    kind = shape.type_name
    if kind == "structure":
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
            value = value[0]  # a nested block of at most one
        if not isinstance(value, dict):
            if len(shape.members) == 1:  # a bare value for a one-member structure (a prefix's cidr)
                return {next(iter(shape.members)): _to_api(value, next(iter(shape.members.values())), path, unplaced)}
            return value
        out = {}
        for key, item in value.items():
            name = _member_name(shape, key)
            if name is None:
                unplaced.append(f"{path}.{key}")
            elif item is not None:
                out[name] = _to_api(item, shape.members[name], f"{path}.{key}", unplaced)
        return out
    if kind == "list":
        if isinstance(value, dict) and _tag_members(shape.member):  # tags as a map -> [{Key, Value}]
            key_member, value_member = _tag_members(shape.member)
            return [{key_member: k, value_member: v} for k, v in value.items()]
        if isinstance(value, list):
            return [_to_api(item, shape.member, f"{path}[{i}]", unplaced) for i, item in enumerate(value)]
        return value
    if kind in ("integer", "long") and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)  # pulumi-aws takes some numbers (ASNs) as strings
    return value


def _tag_members(shape) -> tuple[str, str] | None:
    if shape.type_name != "structure" or len(shape.members) != 2:
        return None
    names = list(shape.members)
    key = next((n for n in names if n.lower().endswith("key")), None)
    value = next((n for n in names if n.lower().endswith("value")), None)
    return (key, value) if key and value else None


def _input_path(member_path: str, origin: dict[str, str]) -> str:
    """A refused member's path said in the program's terms: the input it came from, then the rest."""
    for target in sorted(origin, key=len, reverse=True):
        if member_path == target or member_path.startswith((target + ".", target + "[")):
            return origin[target] + member_path[len(target):]
    return member_path
