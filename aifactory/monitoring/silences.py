"""Alertmanager silences for the nodes `aifactory rollout` and `aifactory replace` hold drained.

While a command holds nodes out of service it creates one silence (Alertmanager's API v2) matching their `node`
label, ending at most a bound later (so the silence of a command that was killed expires by itself), and expires it
when it resumes them or stops. Alertmanager listens on every head node's management address (the inventory's, after
host overrides) at `prometheus_config.ALERTMANAGER_PORT`, serving TLS that requires a client certificate of the
factory's CA and basic auth for `prometheus_config.ALERTMANAGER_USER`, as the prometheus_server role configures it.
The controller's certificate, key and that password come from its environment (ENV_CERT, ENV_KEY, ENV_PASSWORD), the
CA from the spec's trust anchor (or ENV_CA). The first head node's Alertmanager that answers takes the call; the
cluster shares silences. Nothing is contacted unless the spec's monitoring.enabled is true. A failure is a warning
line in the command's output, never a stop; the password is never printed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from aifactory.monitoring import prometheus_config as pc
from aifactory.spec import Factory

ENV_CERT = "AIFACTORY_ALERTMANAGER_CERT"
ENV_KEY = "AIFACTORY_ALERTMANAGER_KEY"
ENV_PASSWORD = "AIFACTORY_ALERTMANAGER_PASSWORD"
ENV_CA = "AIFACTORY_ALERTMANAGER_CA"
TIMEOUT_SECONDS = 10.0


class SilenceError(Exception):
    """No Alertmanager took the call; the message names each one tried and why."""


def node_matcher(nodes: Iterable[str]) -> dict:
    """Alertmanager's matcher of the `node` label: equal to one node, or a regular expression of exactly these."""
    names = sorted(set(nodes))
    if len(names) == 1:
        return {"name": "node", "value": names[0], "isRegex": False, "isEqual": True}
    return {"name": "node", "value": "|".join(re.sub(r"(\W)", r"\\\1", n) for n in names), "isRegex": True,
            "isEqual": True}


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass(frozen=True)
class Alertmanager:
    """Alertmanager's API v2 on the head nodes, over mutual TLS with basic auth; tried in order."""

    urls: tuple[str, ...]
    context: ssl.SSLContext = field(repr=False)
    authorization: str = field(repr=False)  # the Basic header: a secret
    timeout: float = TIMEOUT_SECONDS

    def _call(self, method: str, path: str, body: object = None) -> object:
        # No proxy: Alertmanager is on the management network, and a proxy would see the password.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=self.context))
        tried = []
        for base in self.urls:
            request = urllib.request.Request(f"{base}{path}", method=method,
                                             data=None if body is None else json.dumps(body).encode(),
                                             headers={"Authorization": self.authorization,
                                                      "Content-Type": "application/json"})
            try:
                with opener.open(request, timeout=self.timeout) as response:
                    text = response.read()
                return json.loads(text) if text.strip() else None
            except urllib.error.HTTPError as err:
                tried.append(f"{base}: HTTP {err.code} {err.reason}")
            except urllib.error.URLError as err:
                tried.append(f"{base}: {err.reason}")
            except (OSError, ValueError) as err:
                tried.append(f"{base}: {type(err).__name__}: {err}")
        raise SilenceError("; ".join(tried) or "no Alertmanager to call")

    def create(self, nodes: Iterable[str], created_by: str, comment: str, seconds: int,
               start: datetime | None = None) -> str:
        """Silence every alert of `nodes` from now for `seconds`; returns the silence's id."""
        start = start or datetime.now(timezone.utc)
        answer = self._call("POST", "/api/v2/silences", {
            "matchers": [node_matcher(nodes)], "startsAt": _iso(start), "endsAt": _iso(start + timedelta(seconds=seconds)),
            "createdBy": created_by, "comment": comment})
        silence_id = answer.get("silenceID") if isinstance(answer, dict) else None
        if not isinstance(silence_id, str) or not silence_id:
            raise SilenceError("Alertmanager answered without a silenceID")
        return silence_id

    def expire(self, silence_id: str) -> None:
        self._call("DELETE", f"/api/v2/silence/{urllib.parse.quote(silence_id, safe='')}")


class Silencer:
    """The silences one command holds: each failure is a warning line through `say`, never an exception."""

    def __init__(self, created_by: str, alertmanager: Alertmanager | None = None, unavailable: str | None = None):
        self.created_by, self.alertmanager, self.unavailable = created_by, alertmanager, unavailable

    def hold(self, nodes: list[str], comment: str, seconds: int, say: Callable[[str], None]) -> str | None:
        """Silence `nodes`' alerts for at most `seconds`; the silence's id, or None (said so unless monitoring is
        off)."""
        if self.alertmanager is None:
            if self.unavailable:
                say(f"warning: alerts of {', '.join(nodes)} are not silenced: {self.unavailable}")
            return None
        try:
            silence_id = self.alertmanager.create(nodes, self.created_by, comment, seconds)
        except SilenceError as err:
            say(f"warning: alerts of {', '.join(nodes)} are not silenced: Alertmanager: {err}")
            return None
        say(f"  alerts of {', '.join(nodes)} silenced in Alertmanager for at most {seconds} s (silence {silence_id})")
        return silence_id

    def release(self, silence_id: str | None, say: Callable[[str], None]) -> None:
        """Expire the silence `hold` created (nothing when it created none)."""
        if silence_id is None or self.alertmanager is None:
            return
        try:
            self.alertmanager.expire(silence_id)
        except SilenceError as err:
            say(f"warning: silence {silence_id} was not expired (it ends by itself): Alertmanager: {err}")
            return
        say(f"  silence {silence_id} expired")


def client_context(ca: str, cert: str, key: str) -> ssl.SSLContext:
    """TLS 1.2 or later, Alertmanager's certificate checked against the factory's CA and its address, ours shown."""
    context = ssl.create_default_context(cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def alertmanager_urls(f: Factory, host_overrides: Mapping | None) -> tuple[str, ...]:
    """Every head node's Alertmanager, at its management address (a host override's ansible_host wins)."""
    overrides = host_overrides or {}
    addresses = [str((overrides.get(h.name) or {}).get("ansible_host") or h.address) for h in f.head_nodes]
    return tuple(f"https://{a}:{pc.ALERTMANAGER_PORT}" for a in addresses)


def for_site(f: Factory, host_overrides: Mapping | None, created_by: str,
             environ: Mapping[str, str] = os.environ) -> Silencer:
    """The silencer of a command on `f`: inert unless monitoring is enabled; unavailable (and said so at each
    hold) when the client's certificate, key or password is missing or unreadable."""
    if not f.monitoring.enabled:
        return Silencer(created_by)
    missing = [name for name in (ENV_CERT, ENV_KEY, ENV_PASSWORD) if not environ.get(name)]
    if missing:
        return Silencer(created_by, unavailable=f"{', '.join(missing)} not set (the client certificate and key of "
                                                f"the factory's CA, and the password of Alertmanager's "
                                                f"{pc.ALERTMANAGER_USER!r} user)")
    ca = environ.get(ENV_CA) or str(f.trust_anchor_path)
    try:
        context = client_context(ca, environ[ENV_CERT], environ[ENV_KEY])
    except (OSError, ssl.SSLError) as err:
        return Silencer(created_by, unavailable=f"the CA {ca}, {ENV_CERT} or {ENV_KEY} cannot be used "
                                                f"({getattr(err, 'strerror', None) or type(err).__name__})")
    token = base64.b64encode(f"{pc.ALERTMANAGER_USER}:{environ[ENV_PASSWORD]}".encode()).decode()
    return Silencer(created_by, Alertmanager(alertmanager_urls(f, host_overrides), context, f"Basic {token}"))
