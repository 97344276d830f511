"""Per-stage results of a bring-up, tallied from runner events (aifactory.stage_tally)."""

from __future__ import annotations

import io
from collections import Counter

import yaml

from aifactory.bringup import PLAYBOOKS, STAGES, Progress, Redactor
from aifactory.stage_tally import play_stages


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
    ]
    for event in events:
        progress(event)
    assert progress.tally.as_dict() == {
        "drivers": {"tasks": 4, "changed": 1, "failed": 0, "unreachable": 0, "skipped": 1,
                    "not_run": [{"step": "sysctl, lab stand-in", "hosts": ["a", "b"]}]},
        "racks": {"tasks": 2, "changed": 0, "failed": 1, "unreachable": 0, "skipped": 0, "not_run": []},
    }
