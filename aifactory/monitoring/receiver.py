"""The alert receiver: Alertmanager's webhook (payload version 4) on the head nodes, acting on the severity table
(aifactory.monitoring.actions) through Slurm and the BMCs (aifactory.monitoring.actuators).

It accepts calls only over mutual TLS (a client certificate of the factory's CA), refuses a malformed payload
(HTTP 400 and a log line naming the field), acts at most once per alert (fingerprint and start, kept in a state
file, so a restart does not act again), stops acting when more than the spec's share of a rack or of the factory
is already out (the circuit breaker: `monitoring.actions`), and appends every action, proposal and refusal to an
audit log (JSON lines). It logs alert names, nodes and fingerprints, never labels' or annotations' free text.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import time
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from aifactory.monitoring import actions as a
from aifactory.monitoring.alerts import alert_node
from aifactory.monitoring.actuators import ActuatorError, Power, Slurm, is_idle_out, is_out
from aifactory.spec import Factory

log = logging.getLogger(__name__)
STATE_FILE = "state.json"
AUDIT_FILE = "audit.jsonl"
# Audit events: those that end the handling of a firing alert, those that report a problem (logged as warnings),
# and those that repeat one already handled (a resolution, a second call); every other event is an action.
DECISIONS = ("acted", "observed")
PROBLEMS = ("refused", "failed")
REPEATS = ("resolved", "duplicate")
DRAINED = "drained"  # one per node the receiver drained in Slurm, with its reason
REPLACEMENTS_FILE = "replacement-requests.json"
MAX_BODY = 1 << 20
MAX_ALERTS = 10_000
KEPT_KEYS = 100_000  # the alerts remembered as acted on, newest kept
TICK_SECONDS = 30.0  # how often pending power cycles are looked at

Text = Annotated[str, StringConstraints(max_length=1024)]


class _Payload(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class WebhookAlert(_Payload):
    status: Literal["firing", "resolved"]
    labels: Annotated[dict[Text, Text], Field(max_length=64)]
    annotations: Annotated[dict[Text, Text], Field(max_length=64)] = {}
    startsAt: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    fingerprint: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")]

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def node(self) -> str:
        return alert_node(self.labels)

    @property
    def key(self) -> str:
        return f"{self.fingerprint}@{self.startsAt}"


class Webhook(_Payload):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    alerts: Annotated[list[WebhookAlert], Field(min_length=1, max_length=MAX_ALERTS)]


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_whole(path: Path, data: object) -> None:
    """Write JSON whole or not at all (a rename), root-only."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(data, indent=1) + "\n")
    partial.chmod(0o600)
    partial.replace(path)


def allowed(share: float, nodes: int) -> int:
    """How many of `nodes` may be out under `share`: never less than one, so a small rack can still lose a node."""
    return max(1, int(share * nodes))


def parse(body: bytes) -> Webhook:
    """The payload, or a ValueError naming each field that is wrong (never the payload's content)."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"not JSON ({type(err).__name__} at byte {getattr(err, 'pos', 0)})") from None
    try:
        webhook = Webhook.model_validate(data)
    except ValidationError as err:
        raise ValueError("; ".join(f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}"
                                   for e in err.errors()[:5])) from None
    unnamed = [str(i) for i, alert in enumerate(webhook.alerts) if not alert.name]
    if unnamed:
        raise ValueError(f"alerts.{unnamed[0]}.labels: no alertname")
    return webhook


class Receiver:
    """The receiver's decisions and records; the HTTP server (`serve`) hands it each request's body."""

    def __init__(self, f: Factory, slurm: Slurm, power: Power | None, state_dir: Path,
                 clock: Callable[[], str] = now):
        self.f, self.slurm, self.power, self.dir, self.clock = f, slurm, power, state_dir, clock
        self.policy = f.monitoring.actions
        self.nodes = {n.name: n for n in f.nodes}
        self.racks: dict[int, set[str]] = {}
        for n in f.nodes:
            self.racks.setdefault(n.rack, set()).add(n.name)
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        saved = json.loads((state_dir / STATE_FILE).read_text()) if (state_dir / STATE_FILE).exists() else {}
        self.acted: dict[str, str] = saved.get("acted", {})
        self.pending: dict[str, dict] = saved.get("pending_power_cycles", {})
        self.proposals: dict[str, dict] = saved.get("proposed_power_cycles", {})

    # --- records -------------------------------------------------------------------------------------
    def _save(self) -> None:
        keep = dict(list(self.acted.items())[-KEPT_KEYS:])
        self.acted = keep
        _write_whole(self.dir / STATE_FILE, {"site": self.f.name, "acted": keep, "pending_power_cycles": self.pending,
                                             "proposed_power_cycles": self.proposals})

    def audit(self, event: str, detail: str, alert: WebhookAlert | None = None, node: str | None = None,
              action: str | None = None, peer: str | None = None) -> None:
        """One line of the audit log, and of the log (refusals and failures as warnings)."""
        entry = {"time": self.clock(), "event": event, "alert": alert.name if alert else None,
                 "node": node or (alert.node if alert else None) or None, "action": action,
                 "fingerprint": alert.fingerprint if alert else None, "starts_at": alert.startsAt if alert else None,
                 "peer": peer, "detail": detail}
        with (self.dir / AUDIT_FILE).open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")
        level = logging.WARNING if event in PROBLEMS else logging.INFO
        log.log(level, "%s %s%s: %s", event, entry["alert"] or "payload", f" on {entry['node']}" if entry["node"] else "",
                detail)

    # --- a request -------------------------------------------------------------------------------------
    def handle(self, body: bytes, peer: str) -> tuple[int, str]:
        """(HTTP status, text) for one webhook call."""
        try:
            webhook = parse(body)
        except ValueError as err:
            self.audit("refused", f"a malformed payload from {peer}: {err}", peer=peer)
            return 400, f"malformed payload: {err}\n"
        try:
            out = {n for n, s in self.slurm.states().items() if is_out(s) and n in self.nodes}
        except ActuatorError as err:  # no breaker without Slurm's states: nothing is done, Alertmanager retries
            self.audit("failed", f"Slurm's node states cannot be read ({err}): nothing done", peer=peer)
            return 503, "Slurm's node states cannot be read\n"
        for alert in webhook.alerts:
            self._alert(alert, out, peer)
        self._save()
        return 200, "ok\n"

    def _alert(self, alert: WebhookAlert, out: set[str], peer: str) -> None:
        if alert.status == "resolved":
            self.audit("resolved", "no action: resuming stays with the health check or the operator", alert, peer=peer)
            return
        if alert.key in self.acted:
            self.audit("duplicate", f"already handled at {self.acted[alert.key]}: not acted on again", alert, peer=peer)
            return
        severity = a.severity(alert.name, alert.labels)
        if severity is None:
            self.audit("refused", "an alert the severity table does not know: nothing done", alert, peer=peer)
            return
        if severity.action == a.OBSERVE:
            self._done(alert, "observed", severity, severity.reason, peer)
            return
        node = alert.node
        if node not in self.nodes:
            self.audit("refused", f"{severity.action} wants a compute node of {self.f.name} in label node", alert,
                       action=severity.action, peer=peer)
            return
        rack = self.nodes[node].rack
        whole_rack = severity.action == a.ISOLATE_BLOCK and a.isolates_rack(self.f)
        targets = self.racks[rack] if whole_rack else {node}
        tripped = self._breaker(out, targets, rack, whole_rack)
        if tripped:
            self.audit("refused", f"circuit breaker: {tripped}", alert, action=severity.action, peer=peer)
            return
        reason = a.drain_reason(alert.name)
        already = sorted(targets & out)
        try:
            for target in sorted(targets - out):
                self.slurm.drain(target, reason)
                out.add(target)
                self.audit(DRAINED, f"Slurm reason {reason!r}: {severity.reason}", alert, node=target,
                           action=severity.action, peer=peer)
        except ActuatorError as err:
            self.audit("failed", f"drain: {err}", alert, action=severity.action, peer=peer)
            return
        if severity.action == a.POWER_CYCLE:
            self._power_cycle(alert, node, peer)
        elif severity.action == a.REPLACE:
            self._replacement(alert, node, severity, peer)
        self._done(alert, "acted", severity, f"{severity.action} of {node}" + (f" (block rack {rack})" if whole_rack else "")
                   + (f"; already out in Slurm, not drained again: {', '.join(already)}" if already else ""), peer)

    def _done(self, alert: WebhookAlert, event: str, severity: a.Severity, detail: str, peer: str) -> None:
        self.acted[alert.key] = self.clock()
        self.audit(event, detail, alert, action=severity.action, peer=peer)

    def _breaker(self, out: set[str], targets: set[str], rack: int, whole_rack: bool) -> str | None:
        """Why acting on `targets` would take out more than the spec allows, or None. A node's action may not take
        its rack or the factory past its share; a rack's block is isolated only while the factory is within its
        share (a block is most often more than the factory's share on its own)."""
        after = out | targets
        members = self.racks[rack]
        if not whole_rack and len(after & members) > allowed(self.policy.max_rack_out, len(members)):
            return (f"{len(out & members)} of rack {rack}'s {len(members)} nodes are out; acting would pass "
                    f"monitoring.actions.max_rack_out {self.policy.max_rack_out}")
        if len(out if whole_rack else after) > allowed(self.policy.max_factory_out, len(self.nodes)):
            return (f"{len(out)} of the factory's {len(self.nodes)} nodes are out; acting would pass "
                    f"monitoring.actions.max_factory_out {self.policy.max_factory_out}")
        return None

    def _power_cycle(self, alert: WebhookAlert, node: str, peer: str) -> None:
        entry = {"alert": alert.name, "fingerprint": alert.fingerprint, "since": self.clock()}
        if self.policy.power_cycle == "automatic" and self.power is not None:
            self.pending[node] = entry
            self.audit("power-cycle pending", "power-cycled through the BMC once the node is idle", alert, node=node,
                       action=a.POWER_CYCLE, peer=peer)
        else:
            self.proposals[node] = entry
            self.audit("proposed", "power cycle proposed for an operator's approval (monitoring.actions.power_cycle "
                       "is propose): once the node is drained, power-cycle it through its BMC", alert, node=node,
                       action=a.POWER_CYCLE, peer=peer)

    def _replacement(self, alert: WebhookAlert, node: str, severity: a.Severity, peer: str) -> None:
        """A request in the shape of `aifactory replace`'s record entries, for the operator to finish."""
        path = self.dir / REPLACEMENTS_FILE
        record = json.loads(path.read_text()) if path.exists() else {"site": self.f.name, "requests": []}
        record["requests"].append({"node": node, "address": self.nodes[node].address, "opened": self.clock(),
                                   "outcome": "requested", "steps": {"requested": f"{alert.name}: {severity.reason}"},
                                   "finish": f"aifactory replace SITE {node}"})
        _write_whole(path, record)
        self.audit("replacement requested", f"recorded in {REPLACEMENTS_FILE}: `aifactory replace` finishes it", alert,
                   node=node, action=a.REPLACE, peer=peer)

    # --- pending power cycles --------------------------------------------------------------------------
    def tick(self) -> None:
        """Power-cycle each pending node that is idle (drained with no job left, or down)."""
        if not self.pending:
            return
        try:
            states = self.slurm.states()
        except ActuatorError as err:
            self.audit("failed", f"Slurm's node states cannot be read ({err}): power cycles wait")
            return
        for node in [n for n in self.pending if is_idle_out(states.get(n, ""))]:
            entry = self.pending.pop(node)
            try:
                self.power.cycle(node)
                self.audit("power-cycled", f"through the BMC, for {entry['alert']}", node=node, action=a.POWER_CYCLE)
            except (ActuatorError, KeyError) as err:
                self.audit("failed", f"power cycle: {err}: the operator power-cycles it", node=node, action=a.POWER_CYCLE)
        self._save()


# --- the HTTPS server ------------------------------------------------------------------------------------
def server_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """TLS 1.2 or later, requiring a client certificate signed by the factory's CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    context.load_verify_locations(cafile=str(ca))
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class _Handler(BaseHTTPRequestHandler):
    server: ReceiverServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > MAX_BODY:
            self.server.receiver.audit("refused", f"a request from {self.client_address[0]} without a Content-Length "
                                                  f"of at most {MAX_BODY} bytes", peer=self.client_address[0])
            self._reply(400 if not length.isdigit() else 413, "a Content-Length of at most 1 MiB is required\n")
            return
        self._reply(*self.server.receiver.handle(self.rfile.read(int(length)), self.client_address[0]))

    def _reply(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's name
        log.debug(format, *args)


class ReceiverServer(HTTPServer):
    """One request at a time (the receiver's decisions are serial), the TLS handshake per connection so a client
    without the right certificate is refused and logged; pending power cycles are looked at every TICK_SECONDS."""

    def __init__(self, address: tuple[str, int], receiver: Receiver, context: ssl.SSLContext,
                 clock: Callable[[], float] | None = None):
        super().__init__(address, _Handler)
        self.receiver, self.context = receiver, context
        self._clock = clock or time.monotonic
        self._last_tick = self._clock()

    def get_request(self):
        sock, peer = self.socket.accept()
        sock.settimeout(30)
        try:
            return self.context.wrap_socket(sock, server_side=True), peer
        except (ssl.SSLError, OSError) as err:  # audited before the client sees the connection closed
            self.receiver.audit("refused", f"a TLS connection from {peer[0]}: {getattr(err, 'reason', None) or err}",
                                peer=peer[0])
            sock.close()
            raise OSError("TLS handshake refused") from None

    def service_actions(self) -> None:
        if self._clock() - self._last_tick >= TICK_SECONDS:
            self._last_tick = self._clock()
            self.receiver.tick()
