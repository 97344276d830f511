"""Per-stage results of a bring-up, tallied from runner events (aifactory.node.stage_tally)."""

from __future__ import annotations

import io
from collections import Counter

import yaml

from aifactory.node.bringup import PLAYBOOKS, STAGES, Progress, Redactor
from aifactory.node.stage_tally import play_stages


def test_every_play_of_every_stage_maps_to_its_stage_and_no_name_is_shared():
    names = [play["name"] for stage in ("validate", *STAGES)
             for play in yaml.safe_load((PLAYBOOKS / f"{stage}.yml").read_text())]
    assert [n for n, c in Counter(names).items() if c > 1] == []  # a shared name would be ambiguous
    plays = play_stages(PLAYBOOKS, STAGES)
    assert plays["Install the NVIDIA driver stack"] == "drivers"
    assert plays["Bring up the NVLink switch trays through their BMCs"] == "racks"
    assert set(plays.values()) == {"validate", *STAGES}


def test_progress_tallies_each_stage_and_the_steps_roles_report_not_run():
    progress = Progress(io.StringIO(), Redactor([]), tty=False)
    events = [
        {"event": "playbook_on_play_start", "event_data": {"play": "Install the NVIDIA driver stack"}},
        {"event": "playbook_on_task_start", "event_data": {"task": "Install"}},
        {"event": "runner_on_ok", "event_data": {"host": "a", "res": {"changed": True}}},
        {"event": "runner_on_skipped", "event_data": {"host": "b", "res": {"false_condition": "x"}}},
        {"event": "runner_on_ok", "event_data": {"host": "a", "res": {"msg": "skipped: sysctl,\n  lab stand-in"}}},
        {"event": "runner_on_ok", "event_data": {"host": "b", "res": {"msg": "skipped: sysctl, lab stand-in"}}},
        {"event": "playbook_on_play_start", "event_data": {"play": "Bring up the compute nodes through their BMCs"}},
        {"event": "runner_on_failed", "event_data": {"host": "a-bmc", "res": {"msg": "refused"}}},
        {"event": "runner_on_failed", "event_data": {"host": "b-bmc", "res": {"msg": "x"}, "ignore_errors": True}},
        # A no_log result, censored by ansible-runner: the printed line says it changed the host.
        {"event": "runner_on_ok", "stdout": "\x1b[0;33mchanged: [c-bmc]\x1b[0m",
         "event_data": {"host": "c-bmc", "res": {"censored": "hidden: no_log"}}},
    ]
    for event in events:
        progress(event)
    assert progress.tally.as_dict() == {
        "drivers": {"tasks": 4, "changed": 1, "failed": 0, "unreachable": 0, "skipped": 1, "seconds": 0.0,
                    "not_run": [{"step": "sysctl, lab stand-in", "hosts": ["a", "b"]}]},
        "racks": {"tasks": 3, "changed": 1, "failed": 1, "unreachable": 0, "skipped": 0, "seconds": 0.0,
                  "not_run": []},
    }
    assert progress.changed_tasks == {"a": ["Install"], "c-bmc": ["Install"]}


def test_each_stage_gets_the_wall_seconds_from_its_plays_start_to_the_next_plays():
    progress = Progress(io.StringIO(), Redactor([]), tty=False)
    at = lambda s: f"2026-12-01T20:{s // 60:02d}:{s % 60:02d}.500000+00:00"  # noqa: E731
    events = [
        ("playbook_on_start", {}, 0),  # before the first play: no stage's time
        ("playbook_on_play_start", {"play": "Install the NVIDIA driver stack"}, 4),
        ("playbook_on_task_start", {"task": "Install"}, 5),
        ("runner_on_ok", {"host": "a", "res": {"changed": True}}, 65),
        ("playbook_on_play_start", {"play": "Bring up the compute nodes through their BMCs"}, 70),
        ("runner_on_ok", {"host": "a-bmc", "res": {}}, 72),
        ("playbook_on_play_start", {"play": "Install the NVIDIA driver stack"}, 80),  # a stage's second play
        ("runner_on_ok", {"host": "a", "res": {}}, 81),
        ("playbook_on_stats", {}, 90),  # the run's end: the last play's time runs up to it
    ]
    for name, data, second in events:
        progress({"event": name, "event_data": data, "created": at(second)})
    stages = progress.tally.as_dict()
    assert {stage: r["seconds"] for stage, r in stages.items()} == {"drivers": 76.0, "racks": 10.0}
    assert stages["drivers"]["tasks"] == 2 and stages["racks"]["tasks"] == 1


def test_an_event_without_a_time_gives_no_stage_time():
    progress = Progress(io.StringIO(), Redactor([]), tty=False)
    progress({"event": "playbook_on_play_start", "event_data": {"play": "Install the NVIDIA driver stack"},
              "created": "2026-12-01T20:00:00+00:00"})
    progress({"event": "runner_on_ok", "event_data": {"host": "a", "res": {}}})  # no `created`
    progress({"event": "playbook_on_stats", "event_data": {}, "created": "2026-12-01T20:00:30+00:00"})
    assert progress.tally.as_dict()["drivers"]["seconds"] == 30.0
