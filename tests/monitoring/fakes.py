"""Recording stand-ins for what the alert receiver acts through (Slurm, the BMCs), webhook payloads, and
Alertmanager's silences API (for rollout and replace)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from aifactory.monitoring.silences import SilenceError


@dataclass
class FakeSlurm:
    """Slurm's node states; a drained node with jobs is `draining` until `finish_jobs`."""

    states_now: dict[str, str] = field(default_factory=dict)
    busy: set[str] = field(default_factory=set)
    drains: list[tuple[str, str]] = field(default_factory=list)

    def drain(self, node: str, reason: str) -> None:
        self.drains.append((node, reason))
        self.states_now[node] = "draining" if node in self.busy else "drained"

    def states(self) -> dict[str, str]:
        return dict(self.states_now)

    def finish_jobs(self, node: str) -> None:
        self.busy.discard(node)
        if self.states_now.get(node) == "draining":
            self.states_now[node] = "drained"


@dataclass
class FakePower:
    cycled: list[str] = field(default_factory=list)

    def cycle(self, node: str) -> None:
        self.cycled.append(node)


def alert(name: str, node: str, fingerprint: str = "a1", starts_at: str = "2026-12-06T02:00:00Z",
          status: str = "firing", **labels: str) -> dict:
    return {"status": status, "labels": {"alertname": name, "node": node, **labels},
            "annotations": {"summary": "stand-in alert"}, "startsAt": starts_at, "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://head01:9090/graph", "fingerprint": fingerprint}


def payload(*alerts: dict) -> bytes:
    """Alertmanager's webhook body (version 4) holding `alerts`."""
    return json.dumps({"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing",
                       "receiver": "aifactory", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                       "externalURL": "https://head01:9093", "alerts": list(alerts)}).encode()


@dataclass
class FakeAlertmanager:
    """Stands in for aifactory.monitoring.silences.Alertmanager: records each silence, and `events` (shared with a
    recording runner's) orders them among the runs; `down` answers every call with the error a real one gives."""

    events: list = field(default_factory=list)
    silences: dict[str, dict] = field(default_factory=dict)
    down: bool = False

    def create(self, nodes, created_by: str, comment: str, seconds: int) -> str:
        if self.down:
            raise SilenceError("https://10.0.0.1:9093: [Errno 111] Connection refused (stand-in)")
        silence_id = f"stand-in-{len(self.silences) + 1}"
        self.silences[silence_id] = {"nodes": sorted(nodes), "created_by": created_by, "comment": comment,
                                     "seconds": seconds, "state": "active"}
        self.events.append(("silence", sorted(nodes)))
        return silence_id

    def expire(self, silence_id: str) -> None:
        self.silences[silence_id]["state"] = "expired"
        self.events.append(("expire", self.silences[silence_id]["nodes"]))
