"""Monitoring: where Alertmanager sends alerts (email through a mail relay, webhooks of the customer's tools)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from aifactory.spec.model import Factory
from aifactory.spec.validators.registry import Problem, validator
from aifactory.spec.validators.software import host_is_public
from aifactory.spec.validators.text import HOST_NAME, parsed_url

# An email address as Alertmanager's `to` takes it: one '@', a host with a dot, no spaces or list separators.
EMAIL = re.compile(r"[^@\s,;<>]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
RECEIVER_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


@validator()
def alert_receivers(f: Factory) -> Iterator[Problem]:
    """Each receiver has a unique lower-case name and exactly one target: an email address, or an https:// webhook
    without credentials (an air-gapped site's on-prem); email needs the mail relay and the sender.

    Fix: Give each entry of monitoring.receivers a name such as noc and either `email: noc@example.com` or
    `webhook: https://tools.example.internal/alerts`; for email set monitoring.smtp_smarthost (host:port) and
    monitoring.smtp_from."""
    monitoring = f.monitoring
    seen: set[str] = set()
    for i, receiver in enumerate(monitoring.receivers):
        path = f"monitoring.receivers.{i}"
        if not RECEIVER_NAME.fullmatch(receiver.name):
            yield Problem(f"{path}.name", "must be lower-case letters, digits and '-' (such as noc)", receiver.name)
        elif receiver.name in seen:
            yield Problem(f"{path}.name", "names another receiver already: give each its own name", receiver.name)
        seen.add(receiver.name)
        if (receiver.email is None) == (receiver.webhook is None):
            yield Problem(path, "set exactly one of email and webhook (one receiver per target)", receiver.name)
        if receiver.email is not None and not EMAIL.fullmatch(receiver.email):
            yield Problem(f"{path}.email", "must be one email address such as noc@example.com", receiver.email)
        if receiver.webhook is not None:
            yield from _webhook_problems(f, f"{path}.webhook", receiver.webhook)
    if any(r.email is not None for r in monitoring.receivers):
        if monitoring.smtp_smarthost is None:
            yield Problem("monitoring.smtp_smarthost", "required when a receiver sends email: the mail relay's "
                          "host:port, such as mail.example.internal:587")
        if monitoring.smtp_from is None:
            yield Problem("monitoring.smtp_from", "required when a receiver sends email: the sender address, "
                          "such as aifactory@example.internal")
    if monitoring.smtp_smarthost is not None:
        host, _, port = monitoring.smtp_smarthost.rpartition(":")
        if not (HOST_NAME.fullmatch(host) and port.isdigit() and 0 < int(port) < 65536):
            yield Problem("monitoring.smtp_smarthost", "must be host:port, such as mail.example.internal:587",
                          monitoring.smtp_smarthost)
        elif f.air_gapped and host_is_public(host, f.network.domain):
            yield Problem("monitoring.smtp_smarthost", f"is a public host on an air-gapped site: use a relay under "
                          f"{f.network.domain} or a private address", monitoring.smtp_smarthost)
    if monitoring.smtp_from is not None and not EMAIL.fullmatch(monitoring.smtp_from):
        yield Problem("monitoring.smtp_from", "must be one email address such as aifactory@example.internal",
                      monitoring.smtp_from)


def _webhook_problems(f: Factory, path: str, value: str) -> Iterator[Problem]:
    url = parsed_url(value)
    if url is None or url.scheme != "https" or not url.hostname:
        yield Problem(path, "must be an https:// URL with a host (alerts name the factory's nodes: TLS only)", value)
    elif url.username is not None or url.password is not None:
        yield Problem(path, "must not hold credentials (user:password@): they would be written to "
                      "alertmanager.yml; give the tool's credential to Alertmanager as a file on the head node", value)
    elif f.air_gapped and host_is_public(url.hostname, f.network.domain):
        yield Problem(path, f"is a public host on an air-gapped site: use a host under {f.network.domain} or a "
                      "private address", value)


@validator("warning")
def receivers_need_head_nodes(f: Factory) -> Iterator[Problem]:
    """Prometheus and Alertmanager run on the scheduler's head nodes: without a scheduler (scheduler.kind: none)
    there is none, and the receivers would get nothing (a warning).

    Fix: Keep scheduler.kind: slurm to have head nodes, or leave monitoring.receivers out."""
    if f.monitoring.receivers and not f.head_nodes:
        yield Problem("monitoring.receivers", "no head node runs Alertmanager (scheduler.kind is none): these "
                      "receivers get no alert", [r.name for r in f.monitoring.receivers])


@validator("warning")
def amp_remote_write_needs_head_nodes(f: Factory) -> Iterator[Problem]:
    """Prometheus, which writes to Amazon Managed Service for Prometheus, runs on the scheduler's head nodes: without
    a scheduler (scheduler.kind: none) nothing is written, though the workspace is created (a warning).

    Fix: Keep scheduler.kind: slurm to have head nodes, or set monitoring.amp_remote_write: false."""
    if f.monitoring.amp_remote_write and not f.head_nodes:
        yield Problem("monitoring.amp_remote_write", "no head node runs Prometheus (scheduler.kind is none): the "
                      "workspace would get no metrics; set it to false", True)


@validator()
def monitoring_needs_head_nodes(f: Factory) -> Iterator[Problem]:
    """Prometheus, Alertmanager and the alert receiver run on the head nodes, which only a scheduler has.

    Fix: Set scheduler.kind to slurm, or leave monitoring.enabled false."""
    if f.monitoring.enabled and f.scheduler.kind != "slurm":
        yield Problem("monitoring.enabled", f"needs head nodes to run Prometheus on, and scheduler.kind is "
                      f"{f.scheduler.kind}: set scheduler.kind to slurm, or monitoring.enabled to false", True)
