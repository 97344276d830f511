"""`--strategy {linear,mitogen}` on bringup and rehearse: what it sets for ansible-playbook, the error
when Mitogen is missing, and a real run both ways (BMC hosts, local connection, check mode) whose
per-task results are the same."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aifactory.node.bringup import MITOGEN_STRATEGY, BringupError, BringupOptions, mitogen_strategy_dir, runner_env
from aifactory.cli import main
from aifactory.node.task_results import differences, read_job_events
from tests.conftest import REPO

THIRD_PARTY_STRATEGY = "Use of strategy plugins not included in ansible.builtin are deprecated"
PROBE = """
- name: Probe the BMCs
  hosts: bmcs
  gather_facts: false
  tasks:
    - name: Run a module on the controller
      ansible.builtin.command: /bin/true
      changed_when: false
    - name: Write a marker file
      ansible.builtin.copy:
        dest: "{{ marker_dir }}/{{ inventory_hostname }}"
        content: marker
        mode: "0600"
    - name: Skip on one host
      ansible.builtin.debug:
        msg: not here
      when: inventory_hostname != 'lab-b200-r001-n02-bmc'
"""


def test_mitogen_sets_its_strategy_folder_and_linear_is_ansibles_own():
    env = runner_env(BringupOptions(strategy="mitogen"))
    assert env["ANSIBLE_STRATEGY"] == MITOGEN_STRATEGY == "mitogen_linear"
    assert (Path(env["ANSIBLE_STRATEGY_PLUGINS"]) / "mitogen_linear.py").is_file()
    assert Path(env["ANSIBLE_STRATEGY_PLUGINS"]).parts[-3:] == ("ansible_mitogen", "plugins", "strategy")
    linear = runner_env(BringupOptions(strategy="linear"))
    assert linear["ANSIBLE_STRATEGY"] == "ansible.builtin.linear" and "ANSIBLE_STRATEGY_PLUGINS" not in linear
    default = runner_env(BringupOptions())
    assert "ANSIBLE_STRATEGY" not in default and "ANSIBLE_STRATEGY_PLUGINS" not in default  # ansible.cfg's
    with pytest.raises(BringupError, match="the strategies are linear, mitogen"):
        runner_env(BringupOptions(strategy="free"))


def without_mitogen(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ansible_mitogen" else find_spec(name, *a))


def test_mitogen_missing_exits_2_naming_it_before_anything_runs(tmp_path, monkeypatch, capsys):
    without_mitogen(monkeypatch)
    with pytest.raises(BringupError, match="Mitogen for Ansible, which is not installed"):
        mitogen_strategy_dir()
    monkeypatch.setattr("aifactory.commands.rehearse.preflight.missing",
                        lambda: pytest.fail("rehearse went on without Mitogen"))
    for command in (["bringup", "inventories/lab-b200", "--check", "--artifacts-dir", str(tmp_path / "a")],
                    ["rehearse", "inventories/lab-b200"]):
        assert main([*command, "--strategy", "mitogen"]) == 2
        err = capsys.readouterr().err
        assert "--strategy mitogen needs Mitogen for Ansible" in err and "Traceback" not in err
    assert not (tmp_path / "a").exists()


def test_an_unknown_strategy_exits_2(capsys):
    for command in ("bringup", "rehearse"):
        with pytest.raises(SystemExit) as exit_:
            main([command, "inventories/lab-b200", "--strategy", "free"])
        assert exit_.value.code == 2
        assert "invalid choice: 'free'" in capsys.readouterr().err


def test_rehearse_hands_the_strategy_to_its_bringups(monkeypatch, capsys):
    seen = {}

    def rehearse(f, spec, **kwargs):
        seen.update(kwargs)
        raise SystemExit(0)

    monkeypatch.setattr("aifactory.commands.rehearse.preflight.missing", lambda: [])
    monkeypatch.setattr("aifactory.commands.rehearse.rehearse", rehearse)
    with pytest.raises(SystemExit):
        main(["rehearse", "inventories/lab-b200", "--strategy", "mitogen"])
    assert seen["strategy"] == "mitogen"


def probe_run(tmp_path: Path, strategy: str) -> tuple[dict, str]:
    """The probe play in check mode on lab-b200's BMC hosts with this strategy: (JSON summary, runner stdout)."""
    playbook = tmp_path / "probe.yml"
    playbook.write_text(PROBE)
    env = {**os.environ, "AIFACTORY_STATE_DIR": str(tmp_path / "state")}
    result = subprocess.run(
        [sys.executable, "-m", "aifactory.cli", "bringup", "inventories/lab-b200", "--playbook", str(playbook),
         "--check", "--strategy", strategy, "--format", "json", "--artifacts-dir", str(tmp_path / strategy),
         "-e", json.dumps({"marker_dir": str(tmp_path)})], cwd=REPO, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    return summary, (Path(summary["artifacts"]) / "artifacts" / "run" / "stdout").read_text()


def test_a_run_with_mitogen_gives_each_host_the_same_task_results_as_linear(tmp_path):
    linear, linear_out = probe_run(tmp_path, "linear")
    mitogen, mitogen_out = probe_run(tmp_path, "mitogen")
    assert THIRD_PARTY_STRATEGY in mitogen_out and THIRD_PARTY_STRATEGY not in linear_out  # Mitogen's plugin ran
    assert linear["totals"] == mitogen["totals"] and linear["totals"]["changed"] == 3  # the copy, in check mode
    assert differences(read_job_events(Path(linear["artifacts"])), read_job_events(Path(mitogen["artifacts"])),
                       names=("linear", "mitogen")) == []
    assert not list(tmp_path.glob("lab-b200-*")), "check mode wrote the marker files"


def test_the_ansible_cfg_lines_the_readme_documents_run_mitogen(tmp_path):
    """ansible.cfg's commented strategy lines, uncommented with this Mitogen's folder, make plain
    ansible-playbook use Mitogen (as a user's own ansible.cfg would)."""
    lines = (REPO / "ansible.cfg").read_text().splitlines()
    documented = [line[1:] for line in lines if line.startswith("#strategy")]
    assert [line.split(" = ")[0] for line in documented] == ["strategy_plugins", "strategy"]
    config = tmp_path / "ansible.cfg"
    config.write_text(f"[defaults]\nstrategy_plugins = {mitogen_strategy_dir()}\n{documented[1]}\n")
    playbook = tmp_path / "probe.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                        "    - ansible.builtin.command: /bin/true\n")
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                             "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)],
                            env={**os.environ, "ANSIBLE_CONFIG": str(config)}, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:]
    assert THIRD_PARTY_STRATEGY in result.stdout + result.stderr
