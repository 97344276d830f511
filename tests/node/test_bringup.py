"""`aifactory bringup` driving ansible-runner for real, against the lab site's BMC hosts (local connection).

The playbooks here only assert, print and check-mode a copy on the controller: nothing is changed.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from aifactory.bringup import (MASK, BringupOptions, Progress, Redactor, entry_playbook, fact_cache, forget_facts,
                               secret_values, select_playbooks)
from tests.conftest import REPO

PASSWORD = 'fake-bmc-pw-"quoted"\\7c1e'
PROBE = """
- name: Probe the BMCs
  hosts: bmcs
  gather_facts: false
  tasks:
    - name: The BMC password reached the play
      ansible.builtin.assert:
        that: aifactory_bmc_password | length > 0
      no_log: true
    - name: A careless task that prints the password
      ansible.builtin.debug:
        msg: "password is {{ aifactory_bmc_password }}"
    - name: Write a marker file
      ansible.builtin.copy:
        dest: "{{ marker_dir }}/{{ inventory_hostname }}"
        content: marker
        mode: "0600"
    - name: Fail on one host
      ansible.builtin.fail:
        msg: broken on purpose
      when: inventory_hostname == fail_on
"""


def bringup(tmp_path: Path, *args: str, password: str = PASSWORD) -> subprocess.CompletedProcess:
    playbook = tmp_path / "probe.yml"
    playbook.write_text(PROBE)
    env = {**os.environ, "AIFACTORY_BMC_PASSWORD": password}
    return subprocess.run(
        [sys.executable, "-m", "aifactory.cli", "bringup", "inventories/lab-b200", "--playbook", str(playbook),
         "--artifacts-dir", str(tmp_path / "artifacts"), "-e", json.dumps({"marker_dir": str(tmp_path)}), *args],
        cwd=REPO, capture_output=True, text=True, env=env)


def test_check_mode_run_closing_table_and_artifacts(tmp_path):
    result = bringup(tmp_path, "--check", "-e", '{"fail_on": "none"}')
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if line.startswith("lab-b200-")}
    # ok, changed, failed, unreachable, skipped, rescued, ignored: 3 ok (one of them the would-be copy), 1 changed, 1 skipped
    assert rows == {f"lab-b200-r001-n0{i}-bmc": ["3", "1", "0", "0", "1", "0", "0"] for i in (1, 2, 3)}
    assert not list(tmp_path.glob("lab-b200-*")), "check mode wrote the marker files"
    assert "PLAY Probe the BMCs [bmcs]" in result.stderr and "TASK Write a marker file" in result.stderr
    run_dir = Path(result.stdout.split("artifacts: ")[1].strip())
    assert run_dir.parent == tmp_path / "artifacts" / "lab-b200"
    assert list((run_dir / "artifacts" / "run" / "job_events").glob("*.json"))


def test_secrets_never_reach_output_or_artifacts(tmp_path):
    result = bringup(tmp_path, "--check", "-e", '{"fail_on": "none"}')
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = Path(result.stdout.split("artifacts: ")[1].strip())
    forms = [PASSWORD, json.dumps(PASSWORD)[1:-1], "fake-bmc-pw"]
    for text in (result.stdout, result.stderr):
        assert not any(form in text for form in forms)
    leaked = [p for p in run_dir.rglob("*") if p.is_file() and any(f.encode() in p.read_bytes() for f in forms)]
    assert leaked == []
    # The play did see the password (the assert passed) and the careless task's output was masked.
    stdout = (run_dir / "artifacts" / "run" / "stdout").read_text()
    assert f"password is {MASK}" in stdout
    # ansible-runner records the environment it ran with; the secret is masked there too.
    command = json.loads((run_dir / "artifacts" / "run" / "command").read_text())
    assert command["env"]["AIFACTORY_BMC_PASSWORD"] == MASK
    assert command["env"]["ANSIBLE_CONFIG"] == str(REPO / "ansible.cfg")


def test_a_failed_host_exits_1_and_json_summary(tmp_path):
    result = bringup(tmp_path, "--check", "--limit", "node_bmcs", "--format", "json",
                     "-e", '{"fail_on": "lab-b200-r001-n02-bmc"}')
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["exit_code"], summary["check"]) == ("failed", 1, True)
    assert summary["hosts"]["lab-b200-r001-n02-bmc"]["failed"] == 1
    assert summary["hosts"]["lab-b200-r001-n01-bmc"]["failed"] == 0
    assert summary["totals"]["failed"] == 1 and len(summary["hosts"]) == 3
    assert "FAILED: lab-b200-r001-n02-bmc: Fail on one host: broken on purpose" in result.stderr


def test_bad_inputs_exit_2_before_anything_runs(tmp_path):
    bad_spec = tmp_path / "factory.yaml"
    bad_spec.write_text("name: [unclosed\n")
    runs = {
        "spec": [str(bad_spec)],
        "stage": ["inventories/lab-b200", "--stages", "os,firmware"],
        "overrides": ["inventories/lab-b200", "--host-overrides", str(tmp_path / "missing.json")],
        "extra vars": ["inventories/lab-b200", "-e", "[1]"],
    }
    for case, args in runs.items():
        result = subprocess.run([sys.executable, "-m", "aifactory.cli", "bringup", *args,
                                 "--artifacts-dir", str(tmp_path / "artifacts")],
                                cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 2, (case, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "artifacts").exists()


def test_stages_run_in_stage_order():
    books = select_playbooks(BringupOptions(stages=["acceptance", "racks"]))
    assert [b.name for b in books] == ["racks.yml", "acceptance.yml"]
    assert select_playbooks(BringupOptions())[0] == REPO / "playbooks" / "site.yml"


def test_secret_values_and_scrubbing(tmp_path):
    values, short = secret_values({"AIFACTORY_BMC_PASSWORD": "hunter2!", "AIFACTORY_SSM_ACTIVATION_CODE": "abc",
                                   "AIFACTORY_BMC_USERNAME": "admin", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI"})
    assert set(values) == {"hunter2!", "wJalrXUtnFEMI"} and short == ["AIFACTORY_SSM_ACTIVATION_CODE"]
    (tmp_path / "a.json").write_text(json.dumps({"msg": 'pw "x\\y" here'}))
    (tmp_path / "b.txt").write_text("nothing")
    assert Redactor(['pw "x\\y"']).scrub_tree(tmp_path) == 1
    assert json.loads((tmp_path / "a.json").read_text()) == {"msg": f"{MASK} here"}


def test_tty_progress_is_one_status_line_with_failures_spelled_out():
    stream = io.StringIO()
    progress = Progress(stream, Redactor(["hunter2!"]), tty=True)
    events = [
        {"event": "playbook_on_play_start", "event_data": {"play": "Racks", "play_pattern": "bmcs"}},
        {"event": "playbook_on_task_start", "event_data": {"task": "Power on"}},
        {"event": "runner_on_ok", "event_data": {"host": "a", "res": {"changed": True}}},
        {"event": "runner_on_failed", "event_data": {"host": "b", "res": {"msg": "login hunter2! refused"}}},
        {"event": "playbook_on_stats", "event_data": {"ok": {"a": 1}, "failures": {"b": 1}}},
    ]
    assert all(progress(event) for event in events)  # every event is kept for runner's job_events
    lines = stream.getvalue().split("\n")
    assert "PLAY Racks [bmcs]" in lines[0] and "TASK" not in stream.getvalue()
    assert f"FAILED: b: Power on: login {MASK} refused" in stream.getvalue()
    assert lines[-2].endswith("[Racks] Power on | ok 0 changed 1 failed 1 unreachable 0 skipped 0")
    assert progress.stats == events[-1]["event_data"]


def test_several_stages_run_from_one_generated_playbook(tmp_path):
    """ansible-runner passes one playbook: several stages are imported in order, and the result is a
    playbook ansible-playbook accepts with the site's real inventory."""
    books = select_playbooks(BringupOptions(stages=["storage", "os"]))
    entry = entry_playbook(books, tmp_path)
    plays = yaml.safe_load(entry.read_text())
    assert [p["ansible.builtin.import_playbook"] for p in plays] == [str(REPO / "playbooks" / "os.yml"),
                                                                     str(REPO / "playbooks" / "storage.yml")]
    check = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--syntax-check",
                            "-i", str(REPO / "inventories" / "lab-b200" / "aifactory.yml"), str(entry)],
                           cwd=REPO, capture_output=True, text=True, env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    assert check.returncode == 0, check.stderr
    assert entry_playbook(books[:1], tmp_path) == books[0]


def test_fact_cache_is_shared_by_runs_unless_the_environment_says_otherwise(tmp_path):
    """ansible-runner would point each run at a new cache in its run directory; bringup keeps the one
    ansible.cfg names, so `gathering = smart` can skip hosts whose facts a previous run cached."""
    assert fact_cache({}) == {"fact_cache_type": "jsonfile", "fact_cache": str(REPO / ".ansible" / "facts")}
    assert fact_cache({"ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path)})["fact_cache"] == str(tmp_path)
    assert fact_cache({"ANSIBLE_CACHE_PLUGIN": "memory"}) == {"fact_cache_type": "memory"}


def test_forget_facts_drops_only_the_named_hosts(tmp_path):
    for host in ("r01-n01", "r01-n02", "r01-n10"):
        (tmp_path / f"ansible_facts{host}").write_text("{}")
    forget_facts(["r01-n01", "r01-n1"], {"ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ansible_factsr01-n02", "ansible_factsr01-n10"]
