"""The AWS API's own model as the reference for values AWS would refuse.

botocore's service definitions say, per operation, which input members are required and each
member's type, enum, range, length and pattern. `check_input(service, operation, params)` holds a
request against them and against `aws_limits.yaml`, the one sourced table of limits the model lacks
(EC2's BGP ASN range, ...); it also holds S3's bucket-name rules and the VPC blocks AWS reserves,
which the spec's validators read. Models load lazily, once per service.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

LIMITS_FILE = Path(__file__).parent / "aws_limits.yaml"


@dataclass(frozen=True)
class Refusal:
    """One value AWS would refuse: where in the request (dotted member path), why, and the value (None for
    a missing member and for members the model marks sensitive: never echoed)."""

    path: str
    message: str
    value: Any = None


def botocore_version() -> str:
    """The botocore release whose service definitions are the reference."""
    import botocore

    return botocore.__version__


@functools.cache
def _loader():
    import botocore.loaders

    return botocore.loaders.create_loader()


@functools.cache
def service_model(service: str):
    """botocore's model of `service` (e.g. "ec2", "bedrock"), loaded once."""
    import botocore.model

    return botocore.model.ServiceModel(_loader().load_service_model(service, "service-2"), service)


@functools.cache
def limits() -> dict:
    """The sourced table of limits the API model lacks (aws_limits.yaml)."""
    return yaml.safe_load(LIMITS_FILE.read_text())


def _member_limits(service: str, operation: str) -> dict[str, dict]:
    return {row["member"]: row for row in limits()["members"]
            if row["service"] == service and row["operation"] == operation}


def member_shape(service: str, operation: str, member: str):
    """The shape of an input member (dotted path through structures) of `operation`."""
    shape = service_model(service).operation_model(operation).input_shape
    for part in member.split("."):
        shape = shape.members[part]
    return shape


def check_input(service: str, operation: str, params: dict) -> list[Refusal]:
    """Everything in `params` that `service`'s `operation` would refuse by its model or the sourced table."""
    shape = service_model(service).operation_model(operation).input_shape
    extra = _member_limits(service, operation)
    return list(_check(shape, params, "", extra, f"{service} {operation}"))


def check_member(service: str, operation: str, member: str, value: Any) -> list[Refusal]:
    """What the model and the sourced table say of one input member's value (e.g. IAM CreateRole's RoleName)."""
    extra = {k[len(member) + 1:] if k != member else "": row
             for k, row in _member_limits(service, operation).items() if k == member or k.startswith(member + ".")}
    return list(_check(member_shape(service, operation, member), value, "", extra, f"{service} {operation}"))


def _check(shape, value, path: str, extra: dict[str, dict], where: str) -> Iterator[Refusal]:
    here = path or "(request)"
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            yield Refusal(here, f"must be an object (a {shape.name} of {where})")
            return
        for name in shape.required_members:
            if value.get(name) is None:
                yield Refusal(_join(path, name), f"required by {where}")
        for name, member_value in value.items():
            if name not in shape.members:
                yield Refusal(_join(path, name), f"not an input of {where}")
            elif member_value is not None:
                yield from _check(shape.members[name], member_value, _join(path, name), extra, where)
        return
    found = [*_check_scalar(shape, value, here, where), *_check_row(extra.get(_bare(path)), value, here)]
    shown = None if shape.metadata.get("sensitive") or kind in ("list", "map") else value
    for refusal in found:
        yield Refusal(refusal.path, refusal.message, shown)
    if kind == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            yield from _check(shape.member, item, f"{path}[{i}]", extra, where)
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            yield from _check(shape.key, key, f"{path}.{key}(key)", extra, where)
            yield from _check(shape.value, item, f"{path}.{key}", extra, where)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _bare(path: str) -> str:
    """A member path without list indexes: `a[0].b` -> `a.b` (how the sourced table names members)."""
    return re.sub(r"\[\d+\]", "", path)


_TYPES = {"string": (str,), "integer": (int,), "long": (int,), "boolean": (bool,), "double": (int, float),
          "float": (int, float), "blob": (str, bytes), "list": (list,), "map": (dict,),
          "timestamp": (str, datetime.datetime)}


def _check_scalar(shape, value, path: str, where: str) -> Iterator[Refusal]:
    kind, meta = shape.type_name, shape.metadata
    allowed = _TYPES.get(kind, (object,))
    if not isinstance(value, allowed) or (kind in ("integer", "long", "double", "float") and isinstance(value, bool)):
        article = "an" if kind[0] in "aeiou" else "a"
        yield Refusal(path, f"must be {article} {kind} for {where}, not {type(value).__name__}")
        return
    if kind == "string" and shape.enum and value not in shape.enum:
        yield Refusal(path, f"is not one of {where}'s values: {', '.join(shape.enum)}")
    if kind in ("string", "blob", "list", "map"):
        size, what = len(value), "items" if kind in ("list", "map") else "characters"
        if "min" in meta and size < meta["min"]:
            yield Refusal(path, f"has {size} {what}; {where} takes at least {meta['min']}")
        if "max" in meta and size > meta["max"]:
            yield Refusal(path, f"has {size} {what}; {where} takes at most {meta['max']}")
    elif kind in ("integer", "long", "double", "float"):
        if "min" in meta and value < meta["min"]:
            yield Refusal(path, f"is below {where}'s minimum {meta['min']}")
        if "max" in meta and value > meta["max"]:
            yield Refusal(path, f"is above {where}'s maximum {meta['max']}")
    elif kind == "timestamp" and isinstance(value, str):
        try:
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            yield Refusal(path, f"is not an ISO 8601 timestamp ({where})")
    if kind == "string" and "pattern" in meta:
        pattern = _pattern(meta["pattern"])
        if pattern is not None and not pattern.fullmatch(value):
            yield Refusal(path, f"does not match {where}'s pattern {meta['pattern']}")


@functools.cache
def _pattern(text: str) -> re.Pattern | None:
    """An AWS pattern as Python reads it, matched against the whole value (as AWS's Java validation does);
    None for the few written in a syntax Python's `re` lacks (\\p{...} classes)."""
    try:
        return re.compile(text)
    except re.error:
        return None


def _check_row(row: dict | None, value, path: str) -> Iterator[Refusal]:
    """A numeric member against its row of the sourced table."""
    if row is None or not isinstance(value, int) or isinstance(value, bool):
        return
    source = row["source"].split(" ", 1)[0]
    if "min" in row and value < row["min"]:
        yield Refusal(path, f"is below the minimum {row['min']} ({source})")
    if "max" in row and value > row["max"]:
        yield Refusal(path, f"is above the maximum {row['max']} ({source})")
    if "ranges" in row and not any(low <= value <= high for low, high in row["ranges"]):
        ranges = " or ".join(f"{low}-{high}" for low, high in row["ranges"])
        yield Refusal(path, f"is outside {ranges} ({source})")
    if "choices" in row and value not in row["choices"]:
        yield Refusal(path, f"is not one of {', '.join(map(str, row['choices']))} ({source})")


# --- limits the spec's validators read ---------------------------------------------------------------
def member_range(service: str, operation: str, member: str) -> tuple[int, int]:
    """(min, max) of a numeric input member: the sourced table's row, else the model's."""
    row = _member_limits(service, operation).get(member)
    if row and "min" in row and "max" in row:
        return row["min"], row["max"]
    meta = member_shape(service, operation, member).metadata
    return meta["min"], meta["max"]


def bucket_name_problem(name: str) -> str | None:
    """Why S3 refuses `name` as a general purpose bucket's name, or None (S3's bucket naming rules)."""
    rules = limits()["s3_bucket_name"]
    if not rules["min_length"] <= len(name) <= rules["max_length"]:
        return f"a bucket name has {rules['min_length']}-{rules['max_length']} characters, this one {len(name)}"
    if not re.fullmatch(rules["pattern"], name):
        return "a bucket name has only lowercase letters, digits, dots and hyphens, and starts and ends with a letter or digit"
    if ".." in name:
        return "a bucket name has no two adjacent dots"
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        return "a bucket name is not an IP address"
    for prefix in rules["forbidden_prefixes"]:
        if name.startswith(prefix):
            return f"a bucket name does not start with {prefix!r} (reserved by S3)"
    for suffix in rules["forbidden_suffixes"]:
        if name.endswith(suffix):
            return f"a bucket name does not end with {suffix!r} (reserved by S3)"
    return None


def vpc_reserved_overlap(cidr: str) -> str | None:
    """The block AWS reserves (or says not to use) that `cidr`, a VPC's IPv4 range, overlaps, and why; or None."""
    rules = limits()["vpc_reserved_blocks"]
    network = ipaddress.ip_network(cidr, strict=False)
    for block, reason in rules["blocks"].items():
        if network.overlaps(ipaddress.ip_network(block)):
            return f"overlaps {block}: {reason}"
    return None


@functools.cache
def _partitions() -> list[dict]:
    return _loader().load_data("partitions")["partitions"]


def partition_of(region: str) -> str | None:
    """The AWS partition ("aws", "aws-cn", "aws-us-gov", ...) a region belongs to (botocore's partitions.json)."""
    for p in _partitions():
        if region in p.get("regions", {}):
            return p["id"]
    for p in _partitions():
        if re.fullmatch(p["regionRegex"], region):
            return p["id"]
    return None
