"""The form of strings: no control characters or template syntax anywhere, DNS-safe names, URLs that parse."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import SplitResult, urlsplit

from pydantic import BaseModel

from aifactory.spec.model import Factory
from aifactory.spec.partial import Unreadable, unreadable_raw
from aifactory.spec.validators.registry import Problem, unsafe_character, validator

DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")  # used with fullmatch: no trailing newline
HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


def parsed_url(value: str) -> SplitResult | None:
    """The URL split into its parts, or None when it does not parse (a bad port, a bad IPv6 literal)."""
    try:
        url = urlsplit(value)
        url.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return None
    return url


# --- strings ---------------------------------------------------------------------------------------
def _strings(value: object, path: str) -> Iterator[tuple[str, str]]:
    """Every string in a parsed section, with its dotted path; in a field the schema refused, every string
    the YAML gave it (so no string goes unchecked for a type error beside it)."""
    if isinstance(value, Unreadable):
        value = unreadable_raw(value)
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _strings(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}.{i}")


@validator()
def no_control_characters(f: Factory) -> Iterator[Problem]:
    """Strings end up in files (fstab, APT sources, the inventory) and names: no control characters,
    newlines, line separators or bidi overrides anywhere in the spec.

    Fix: Remove the control character the problem names (U+xxxx) from that string; write line breaks as separate
    list items or fields."""
    for path, text in _strings(f, ""):
        char = unsafe_character(text)
        if char is not None:
            yield Problem(path, f"holds the control character U+{ord(char):04X}; remove it", text)


# Jinja's delimiters: an expression, a statement, a comment. Every string of the spec reaches Ansible as data;
# none has a use for a template, and one there (`{{ lookup('pipe', ...) }}`) would run on the controller
# wherever the data is templated again.
TEMPLATE_MARKERS = ("{{", "{%", "{#")


@validator()
def no_template_syntax(f: Factory) -> Iterator[Problem]:
    """Spec values are data: refuse Jinja template syntax in every string of the spec.

    Fix: Remove `{{`, `{%` or `{#` from the value: give the literal value the roles should use; the playbooks
    template it themselves."""
    for path, text in _strings(f, ""):
        marker = next((m for m in TEMPLATE_MARKERS if m in text), None)
        if marker is not None:
            yield Problem(path, f"holds the template syntax '{marker}': spec values are data, not Jinja templates; "
                          "remove it", text)


# --- names -----------------------------------------------------------------------------------------
@validator()
def dns_safe_names(f: Factory) -> Iterator[Problem]:
    """The factory name, network.domain, shared-storage names, SageMaker model groups and guardrail topics are DNS
    labels (names): lowercase letters, digits and '-', as resource and host names need.

    Fix: Rename the value to lowercase letters, digits and '-' (the factory name at most 40 characters; a domain as
    dot-separated labels)."""
    if not DNS_LABEL.fullmatch(f.name) or len(f.name) > 40:
        yield Problem("name", "must be a DNS label: lowercase letters, digits and '-', at most 40 characters", f.name)
    labels = f.network.domain.split(".")
    if len(f.network.domain) > 200 or not all(DNS_LABEL.fullmatch(label) for label in labels):
        yield Problem("network.domain", "must be a DNS name of lowercase labels separated by dots", f.network.domain)
    for i, mount in enumerate(f.storage.shared):
        if not DNS_LABEL.fullmatch(mount.name):
            yield Problem(f"storage.shared.{i}.name", "must be a DNS label", mount.name)
    for i, group in enumerate(f.aws_services.sagemaker.model_groups):
        if not DNS_LABEL.fullmatch(group):
            yield Problem(f"aws_services.sagemaker.model_groups.{i}", "must be a DNS label (used in resource names)", group)
    for i, topic in enumerate(f.aws_services.bedrock.guardrail.blocked_topics):
        if not DNS_LABEL.fullmatch(topic):
            yield Problem(f"aws_services.bedrock.guardrail.blocked_topics.{i}", "must be a DNS label", topic)
