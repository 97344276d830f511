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
from types import SimpleNamespace

import ansible_runner

from aifactory.node.acceptance_gate import EXIT_ACCEPTANCE_INCOMPLETE
from aifactory.node.bringup import (MASK, STAGES, BringupOptions, BringupResult, Progress, Redactor, fact_cache,
                                    forget_facts, run_bringup, secret_values)
from aifactory.spec import load_spec
from tests.conftest import REPO

PASSWORD = 'fake-bmc-pw-"quoted"\\7c1e'
PROBE = """
- name: Probe the BMCs
  hosts: bmcs
  gather_facts: false
  tasks:
    - name: The BMC password reached the play
      ansible.builtin.assert:
        that: bmc_password | length > 0
      no_log: true
    - name: A careless task that prints the password
      ansible.builtin.debug:
        msg: "password is {{ bmc_password }}"
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
    env = {**os.environ, "AIFACTORY_BMC_PASSWORD": password, "AIFACTORY_STATE_DIR": str(tmp_path / "state")}
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
    # ansible-runner records the environment it starts ansible-playbook with: the secret was never in it
    # (it went through the FIFO to aifactory.node.secret_exec, which is gone with the run).
    command = json.loads((run_dir / "artifacts" / "run" / "command").read_text())
    assert "AIFACTORY_BMC_PASSWORD" not in command["env"]
    assert command["command"][1:3] == ["-m", "aifactory.node.secret_exec"]
    assert command["env"]["ANSIBLE_CONFIG"] == str(REPO / "ansible.cfg")
    assert not (run_dir / "secrets.fifo").exists()


def test_a_failed_host_exits_1_and_json_summary(tmp_path):
    result = bringup(tmp_path, "--check", "--limit", "node_bmcs", "--format", "json",
                     "-e", '{"fail_on": "lab-b200-r001-n02-bmc"}')
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["exit_code"], summary["check"]) == ("failed", 1, True)
    assert summary["hosts"]["lab-b200-r001-n02-bmc"]["failed"] == 1
    assert summary["hosts"]["lab-b200-r001-n01-bmc"]["failed"] == 0
    assert summary["totals"]["failed"] == 1 and len(summary["hosts"]) == 3
    assert summary["changed_tasks"]["lab-b200-r001-n01-bmc"] == ["Write a marker file"]  # would change, in check mode
    assert "FAILED: lab-b200-r001-n02-bmc: Fail on one host: broken on purpose" in result.stderr


def test_bad_inputs_exit_2_before_anything_runs(tmp_path):
    bad_spec = tmp_path / "factory.yaml"
    bad_spec.write_text("name: [unclosed\n")
    runs = {
        "spec": [str(bad_spec)],
        "unknown stage": ["inventories/lab-b200", "--stages", "os,firmware"],
        "no stage": ["inventories/lab-b200", "--stages", ""],
        "empty stage": ["inventories/lab-b200", "--stages", "os,,drivers"],
        "overrides": ["inventories/lab-b200", "--host-overrides", str(tmp_path / "missing.json")],
        "extra vars": ["inventories/lab-b200", "-e", "[1]"],
    }
    for case, args in runs.items():
        result = subprocess.run([sys.executable, "-m", "aifactory.cli", "bringup", *args,
                                 "--artifacts-dir", str(tmp_path / "artifacts")],
                                cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 2, (case, result.stderr)
        assert "Traceback" not in result.stderr
        if "stage" in case:
            assert f"the stages are {', '.join(STAGES)}" in result.stderr, (case, result.stderr)
    assert not (tmp_path / "artifacts").exists()


def fake_runner(monkeypatch) -> list[dict]:
    """Replace ansible-runner's init_runner; return the list its calls' keyword arguments are appended to."""
    calls: list[dict] = []

    def init_runner(**kwargs):
        calls.append(kwargs)
        config = SimpleNamespace(env={}, command=["ansible-playbook"])
        return SimpleNamespace(status="successful", rc=0, config=config, run=lambda: None)

    monkeypatch.setattr(ansible_runner.interface, "init_runner", init_runner)
    return calls


def test_stages_are_site_yml_tags_in_stage_order(tmp_path, monkeypatch):
    monkeypatch.setenv("AIFACTORY_STATE_DIR", str(tmp_path / "state"))
    calls = fake_runner(monkeypatch)
    f = load_spec(REPO / "inventories" / "lab-b200")
    site = REPO / "playbooks" / "site.yml"
    result = run_bringup(f, BringupOptions(stages=["acceptance", "os", "racks"], artifacts_root=tmp_path),
                         progress_stream=io.StringIO())
    assert (calls[-1]["playbook"], calls[-1]["tags"]) == (str(site), "racks,os,acceptance")
    assert (result.playbook, result.stages) == ("playbooks/site.yml", ["racks", "os", "acceptance"])
    assert sorted(p.name for p in result.run_dir.iterdir() if p.suffix == ".yml") == []  # no generated playbook
    run_bringup(f, BringupOptions(artifacts_root=tmp_path), progress_stream=io.StringIO())
    assert (calls[-1]["playbook"], calls[-1]["tags"]) == (str(site), None)
    own = tmp_path / "own.yml"
    own.write_text("[]\n")
    run_bringup(f, BringupOptions(stages=["drivers"], playbook=own, artifacts_root=tmp_path),
                progress_stream=io.StringIO())
    assert (calls[-1]["playbook"], calls[-1]["tags"]) == (str(own), "drivers")


def test_runs_and_acceptance_results_default_to_the_sites_state_directory(tmp_path, monkeypatch):
    """No --artifacts-dir: the run directory and the acceptance results are the site's, in the user's
    state directory, whatever the working directory; ansible-runner runs in the project (ansible.cfg's)."""
    monkeypatch.setenv("AIFACTORY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    calls = fake_runner(monkeypatch)
    result = run_bringup(load_spec(REPO / "inventories" / "lab-b200"), BringupOptions(), progress_stream=io.StringIO())
    site = tmp_path / "state" / "sites" / "lab-b200"
    assert result.run_dir.parent == site / "bringup" and result.run_dir.is_dir()
    assert calls[-1]["extravars"]["acceptance_results_dir"] == str(site / "acceptance")
    assert calls[-1]["project_dir"] == str(REPO) and (REPO / "ansible.cfg").is_file()


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
    assert progress.changed_tasks == {"a": ["Power on"]}  # what a re-run that should change nothing names


def test_a_changed_task_that_says_which_files_it_changed_is_named_with_them():
    progress = Progress(io.StringIO(), Redactor(["hunter2!"]), tty=False)
    events = [
        {"event": "playbook_on_play_start", "event_data": {"play": "OS", "play_pattern": "nodes"}},
        {"event": "playbook_on_task_start", "event_data": {"task": "Write the chrony configuration"}},
        {"event": "runner_on_ok", "event_data": {"host": "a", "res": {
            "changed": True, "changed_paths": ["/etc/chrony/chrony.conf", "/etc/hunter2!"]}}},
        {"event": "runner_on_ok", "event_data": {"host": "b", "res": {"changed": True, "changed_paths": []}}},
        {"event": "playbook_on_task_start", "event_data": {"task": "Name the links"}},
        {"event": "runner_on_ok", "event_data": {"host": "a", "res": {"changed": True, "results": [
            {"changed": True, "changed_paths": ["/etc/systemd/network/ib0.link"]}, {"changed": False},
            {"changed": True, "changed_paths": "not a list"}]}}},
    ]
    assert all(progress(event) for event in events)
    assert progress.changed_tasks == {
        "a": [f"Write the chrony configuration (/etc/chrony/chrony.conf, /etc/{MASK})",
              "Name the links (/etc/systemd/network/ib0.link)"],
        "b": ["Write the chrony configuration"]}


def listed_tasks(*args: str) -> list[tuple[str, str, set[str]]]:
    """`ansible-playbook --list-tasks` of site.yml with the lab site's inventory: (play, task, tags) in order."""
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--list-tasks", *args,
                           "-i", str(REPO / "inventories" / "lab-b200" / "aifactory.yml"), "playbooks/site.yml"],
                          cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"})
    assert done.returncode == 0, done.stderr
    play, tasks = "", []
    for line in done.stdout.splitlines():
        text, _, tags = line.strip().partition("\tTAGS: ")
        if text.startswith("play #"):
            play = text.split(": ", 1)[1]
        elif tags and text != "tasks:":
            tasks.append((play, text, set(tags.strip("[]").split(", "))))
    return tasks


def test_tags_run_the_validation_and_the_chosen_stages_in_site_order():
    """What `bringup --stages drivers,os` asks of ansible-playbook: the validation first, then the os
    tasks, then the drivers tasks; of the other stages only what Ansible itself tags `always` (each
    role's argument check, which reads variables and changes nothing)."""
    tasks = listed_tasks("--tags", "drivers,os")
    validation = [task for play, task, tags in tasks if play == "Validate the inventory before touching anything"]
    assert validation and tasks[:len(validation)] == [(tasks[0][0], t, {"always"}) for t in validation]
    work = [tags - {"always"} for _, _, tags in tasks if "always" not in tags]
    assert work and list(dict.fromkeys(tag for tags in work for tag in tags)) == ["os", "drivers"]
    checks = [task for _, task, tags in tasks[len(validation):] if "always" in tags]
    assert checks and all(" : Validating arguments against arg spec " in task for task in checks)
    # Without tags every stage's tasks are listed, in site.yml's order.
    every = [tags - {"always"} for _, _, tags in listed_tasks()[len(validation):]]
    assert list(dict.fromkeys(tag for tags in every for tag in tags)) == list(STAGES)


def test_fact_cache_is_shared_by_runs_unless_the_environment_says_otherwise(tmp_path, monkeypatch):
    """ansible-runner would point each run at a new cache in its run directory; bringup keeps one in the
    user's state directory, so `gathering = smart` can skip hosts whose facts a previous run cached."""
    monkeypatch.setenv("AIFACTORY_STATE_DIR", str(tmp_path / "state"))
    assert fact_cache({}) == {"fact_cache_type": "jsonfile", "fact_cache": str(tmp_path / "state" / "ansible-facts")}
    assert fact_cache({"ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path)})["fact_cache"] == str(tmp_path)
    assert fact_cache({"ANSIBLE_CACHE_PLUGIN": "memory"}) == {"fact_cache_type": "memory"}


def test_forget_facts_drops_only_the_named_hosts(tmp_path):
    for host in ("r01-n01", "r01-n02", "r01-n10"):
        (tmp_path / f"ansible_facts{host}").write_text("{}")
    forget_facts(["r01-n01", "r01-n1"], {"ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ansible_factsr01-n02", "ansible_factsr01-n10"]


def test_incomplete_acceptance_exits_3_except_in_check_mode(tmp_path):
    """Check mode runs no tool, so acceptance can never be complete there: it does not make the exit code."""
    stats = {"ok": 5, "changed": 0, "failed": 0, "unreachable": 0, "skipped": 2, "rescued": 0, "ignored": 0}

    def result(check: bool) -> BringupResult:
        return BringupResult(site="lab-b200", playbook="playbooks/site.yml", stages=None, check=check,
                             status="successful", rc=0, hosts={"n1": stats}, run_dir=tmp_path, unscrubbable=[],
                             acceptance={"n1": {"result": "incomplete", "skipped": {"ib_ports": "no ibstat"}}})

    assert (result(check=False).exit_code, result(check=True).exit_code) == (EXIT_ACCEPTANCE_INCOMPLETE, 0)
