"""No accidental real run (issue 13, item 6): a bring-up without --check on an inventory that is not a lab
shows what it will touch and asks on a terminal; without a terminal it needs --yes. Lab inventories (the
lab's host overrides say every node is a container) run without asking, as the rehearsal and bench do."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import ansible_runner

from aifactory.commands.runner_options import is_lab
from aifactory.lab.lifecycle import CONTAINER_CAPABILITIES
from aifactory.spec import load_spec
from tests.hostile.conftest import AIFACTORY, REPO, assert_refused, run_inprocess, run_subprocess

LAB = REPO / "inventories" / "lab-b200"
HELLO = """
- name: Say hello
  hosts: all
  gather_facts: false
  tasks:
    - name: Hello
      ansible.builtin.debug:
        msg: hello
"""


def test_without_a_terminal_a_real_run_needs_yes(tmp_path):
    result = run_subprocess("bringup", LAB, "--stages", "racks,os", "-e", '{"bmc_power_action": "ForceRestart"}',
                            "--artifacts-dir", tmp_path / "artifacts")
    assert_refused(result.returncode, result.stderr, "WITHOUT --check", "3 nodes and 3 BMCs", "stages: racks, os",
                   "power action 'ForceRestart'", "pass --yes")
    assert not (tmp_path / "artifacts").exists()


def test_a_lab_inventory_runs_without_asking(tmp_path, monkeypatch, capsys):
    overrides = tmp_path / "host-overrides.json"
    overrides.write_text(json.dumps({n.name: CONTAINER_CAPABILITIES for n in load_spec(LAB).nodes}))
    calls = []

    def init_runner(**kwargs):
        calls.append(kwargs)
        return SimpleNamespace(status="successful", rc=0, run=lambda: None,
                               config=SimpleNamespace(env={}, command=["ansible-playbook"]))

    monkeypatch.setattr(ansible_runner.interface, "init_runner", init_runner)
    code, _, err = run_inprocess(capsys, "bringup", LAB, "--host-overrides", overrides,
                                 "--artifacts-dir", tmp_path / "artifacts")
    assert calls and "WITHOUT --check" not in err
    # One node not marked: no longer a lab, so it asks (and, without a terminal, refuses).
    data = json.loads(overrides.read_text())
    data.popitem()
    overrides.write_text(json.dumps(data))
    code, _, err = run_inprocess(capsys, "bringup", LAB, "--host-overrides", overrides,
                                 "--artifacts-dir", tmp_path / "artifacts")
    assert_refused(code, err, "WITHOUT --check")
    # The confirmed run ran the Slurm question and site.yml; the refused one ran nothing, not even the question.
    assert [Path(c["playbook"]).name for c in calls] == ["slurm_in_service.yml", "site.yml"]


def test_a_lab_that_boots_some_trays_is_a_lab_but_absent_nodes_alone_are_not():
    f = load_spec(REPO / "inventories" / "lab-gb200")
    some = {n.name: CONTAINER_CAPABILITIES if n.slot <= 2 else {"aifactory_absent": True} for n in f.nodes}
    assert is_lab(f, some)
    assert not is_lab(f, {n.name: {"aifactory_absent": True} for n in f.nodes})
    assert not is_lab(f, {**some, f.nodes[-1].name: {}})


def on_terminal(tmp_path, answer: str) -> tuple[int, str]:
    """bringup with a pseudo-terminal as stdin and stderr; type `answer` at the prompt."""
    playbook = tmp_path / "hello.yml"
    playbook.write_text(HELLO)
    primary, secondary = pty.openpty()
    env = {**os.environ, "AIFACTORY_STATE_DIR": str(tmp_path / "state")}
    proc = subprocess.Popen([str(AIFACTORY), "bringup", str(LAB), "--playbook", str(playbook), "--limit",
                             "lab-b200-r001-n01-bmc", "--artifacts-dir", str(tmp_path / "artifacts")],
                            cwd=REPO, env=env, stdin=secondary, stdout=secondary, stderr=secondary)
    os.close(secondary)
    output, answered = b"", False
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 1)
        if ready:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        if not answered and b"to go on: " in output:
            os.write(primary, answer.encode() + b"\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    os.close(primary)
    return proc.wait(timeout=60), output.decode(errors="replace")


def test_on_a_terminal_it_asks_for_the_factory_name(tmp_path):
    code, output = on_terminal(tmp_path, "yes")
    assert code == 2 and "not confirmed: nothing ran" in output, output
    assert not (tmp_path / "artifacts").exists()
    code, output = on_terminal(tmp_path, "lab-b200")
    assert code == 0, output
    assert "lab-b200: ok; " in output and "Traceback" not in output
