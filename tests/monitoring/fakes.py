"""Recording stand-ins for what the alert receiver acts through (Slurm, the BMCs), and webhook payloads."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


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
