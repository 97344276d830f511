"""What each stage of a bring-up did, tallied from ansible-runner's events: host-task results run,
changed, failed and skipped, the steps the roles reported as not run, with their reasons, and the
stage's wall seconds.

A play belongs to the stage whose playbook (`playbooks/<stage>.yml`) declares it; the validation
play is the `validate` stage. Roles report a step they cannot take with a debug message that starts
with `skipped: ` and ends with the reason (`skipped: NVIDIA driver packages, lab stand-in`); those
messages are the `not_run` entries, with the hosts they were reported on. Ansible's own conditional
skips (a task whose `when` is false) are only counted: they are the playbooks' logic, not a step
left out.

A stage's wall seconds are the time from each event to the next (runner's `created` timestamps),
given to the stage of the play running between them: from its play's start to the next play's start
(or the run's end), summed over its plays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

NOT_RUN_PREFIX = "skipped: "
VALIDATE = "validate"


def play_stages(playbooks: Path, stages: tuple[str, ...]) -> dict[str, str]:
    """{play name: stage} from each stage's playbook and validate.yml."""
    out: dict[str, str] = {}
    for stage in (VALIDATE, *stages):
        path = playbooks / f"{stage}.yml"
        if not path.is_file():
            continue
        for play in yaml.safe_load(path.read_text()) or []:
            if isinstance(play, dict) and play.get("name"):
                out[play["name"]] = stage
    return out


@dataclass
class StageCounts:
    """One stage's host-task results, the steps its roles reported as not run ({message: [hosts]}) and its
    wall seconds."""

    tasks: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    seconds: float = 0.0
    not_run: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"tasks": self.tasks, "changed": self.changed, "failed": self.failed, "unreachable": self.unreachable,
                "skipped": self.skipped, "seconds": round(self.seconds, 1),
                "not_run": [{"step": step, "hosts": sorted(hosts)} for step, hosts in self.not_run.items()]}


class StageTally:
    """Feed it every event's time (`tick`) and every result event (`add`), each with the play running;
    read `stages` at the end."""

    def __init__(self, plays: dict[str, str]):
        self.plays = plays
        self.stages: dict[str, StageCounts] = {}
        self.last: datetime | None = None

    def _stage(self, play: str) -> StageCounts:
        return self.stages.setdefault(self.plays.get(play, play or "(no play)"), StageCounts())

    def tick(self, play: str, created: str | None) -> None:
        """An event at `created` (ISO 8601): the time since the previous event goes to `play`'s stage
        (none before the first play)."""
        try:
            now = datetime.fromisoformat(created or "")
        except ValueError:
            return
        if self.last is not None and play:
            self._stage(play).seconds += max((now - self.last).total_seconds(), 0.0)
        self.last = now

    def add(self, play: str, outcome: str, host: str, res: dict) -> None:
        """One host's result of one task: outcome is ok, changed, failed, ignored, unreachable or skipped."""
        counts = self._stage(play)
        counts.tasks += 1
        if outcome in ("changed", "failed", "unreachable", "skipped"):
            setattr(counts, outcome, getattr(counts, outcome) + 1)
        message = res.get("msg")
        if outcome == "ok" and isinstance(message, str) and message.startswith(NOT_RUN_PREFIX):
            counts.not_run.setdefault(" ".join(message[len(NOT_RUN_PREFIX):].split()), []).append(host)

    def as_dict(self) -> dict[str, dict]:
        return {stage: counts.as_dict() for stage, counts in self.stages.items()}
