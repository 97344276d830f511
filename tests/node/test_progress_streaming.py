"""A bring-up streams runner's events and ansible-playbook's output: what the aifactory process holds does not
grow with the events it has handled (a 100-rack first bring-up is about 258,000 host-task results), only with
what it reports."""

from __future__ import annotations

import os
import sys
import tracemalloc

import ansible_runner
import pexpect

from aifactory.node.bringup import RELEASE_READ_OUTPUT, BringupOptions, Progress, Redactor, run_bringup
from aifactory.spec import load_spec
from tests.node.test_bringup import REPO, fake_runner

PLAY = "Apply the OS baseline"


def _held_after(progress: Progress, results: int) -> int:
    """Bytes still allocated after the handler has seen `results` unchanged host-task results (and their
    task starts and runner_on_start events), with secrets masked in each as in a real run."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(results):
            host = f"paris-r{n % 100:03d}-n{n % 18:02d}"
            progress({"event": "runner_on_start", "created": "2026-12-06T01:00:00.000001",
                      "event_data": {"host": host, "task": f"task {n // 1800}"}})
            progress({"event": "runner_on_ok", "created": "2026-12-06T01:00:00.000002",
                      "event_data": {"host": host, "play": PLAY, "task": f"task {n // 1800}",
                                     "res": {"changed": False, "msg": f"checked {n}", "stdout": "x" * 200}}})
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_memory_held_does_not_grow_with_the_events_handled():
    with open(os.devnull, "w") as log:
        progress = Progress(log, Redactor(["stand-in-secret-value"]), tty=False)
        progress({"event": "playbook_on_play_start", "event_data": {"play": PLAY}})
        _held_after(progress, 300)  # warm: the stage's counters, the interned strings
        small, large = _held_after(progress, 300), _held_after(progress, 3_000)
    # 2,700 more results would hold a megabyte and more if each one were kept (an event is over 300 bytes)
    assert large - small < 50_000, (small, large)
    assert progress.tally.as_dict()["os"]["tasks"] == 3_600


def _unread_peak(tmp_path, monkeypatch, passwords: dict | None) -> int:
    """The most output pexpect held unread inside ansible-runner's loop (the `before` of any expect) while a
    child printed 3,000 lines of 300 characters, with these `passwords` (pattern: reply) given to runner."""
    peak = [0]

    class Watched(pexpect.spawn):
        def expect(self, *args, **kwargs):
            index = super().expect(*args, **kwargs)
            peak[0] = max(peak[0], len(self.before or ""))
            return index

    monkeypatch.setattr(pexpect, "spawn", Watched)
    tmp_path.mkdir()
    runner = ansible_runner.interface.init_runner(
        private_data_dir=str(tmp_path), playbook="none.yml", quiet=True, suppress_env_files=True,
        settings={"pexpect_timeout": 1}, passwords=passwords)
    runner.config.command = [sys.executable, "-c", "for n in range(3000): print('x' * 300)"]
    runner.run()
    assert runner.rc == 0 and (tmp_path / "artifacts").is_dir()
    return peak[0]


def test_runner_drops_ansible_playbooks_output_once_read(tmp_path, monkeypatch):
    # at most the few reads a line end was found in (pexpect searches the newest characters of its buffer), not
    # the whole output (under a twentieth of it here)
    assert _unread_peak(tmp_path / "release", monkeypatch, dict(RELEASE_READ_OUTPUT)) < 3000 * 300 // 20
    # ansible-runner's own patterns alone (timeout, end): the whole output, 900 kB, held until the end
    assert _unread_peak(tmp_path / "plain", monkeypatch, None) >= 3000 * 300


def test_bringup_gives_runner_the_line_pattern_and_no_reply(tmp_path, monkeypatch):
    monkeypatch.setenv("AIFACTORY_STATE_DIR", str(tmp_path / "state"))
    calls = fake_runner(monkeypatch)
    run_bringup(load_spec(REPO / "inventories" / "lab-b200"), BringupOptions(artifacts_root=tmp_path / "runs"),
                progress_stream=sys.stderr)
    assert calls[0]["passwords"] == {r"\n": None}
