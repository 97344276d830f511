"""Check mode on a host that lacks a unit the role writes: `--check` does not write it, and systemd_service fails
on a unit it cannot find, in check mode too (ansible.module_utils.service.fail_if_missing). So every
systemd_service task or handler acting on a unit its role writes to /etc/systemd/system is left out in check mode
when that write would change the unit (a new unit, or one deleted behind Ansible's back): the write reports it.
Below, two of these task files run in check mode on this machine against a stand-in systemctl that knows no unit."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "playbooks" / "roles"
UNIT_DIR = "/etc/systemd/system/"
WRITES = ("ansible.builtin.template", "ansible.builtin.copy")
FILES = "aifactory_files"  # the project's module keeping a role's files, several in one task


def tasks_in(items: list | None):
    """Every task of a task list, blocks opened."""
    for item in items or []:
        for key in ("block", "rescue", "always"):
            yield from tasks_in(item.get(key))
        if not any(key in item for key in ("block", "rescue", "always")):
            yield item


def unit_stem(name: str) -> str:
    """A unit's name without its type (`x.service`, `x.timer`, `x` -> `x`); a name built from a loop variable
    (`x.{{ __unit }}`) up to the variable."""
    name = name.split("{{ __", 1)[0] if not name.startswith("{{") else name
    return re.sub(r"\.(service|timer)?$", "", name)


def written(task: dict) -> list[str]:
    """The paths a task writes, as its arguments give them: a copy or template's dest, or each aifactory_files
    entry's path (under the module's directory)."""
    write = next((task[m] for m in WRITES if m in task), None)
    if isinstance(write, dict):
        return [str(write.get("dest", ""))]
    files = task.get(FILES)
    if isinstance(files, dict) and isinstance(files.get("files"), list):
        return [os.path.join(str(files.get("directory", "")), str(e.get("path", "")))
                for e in files["files"] if isinstance(e, dict)]
    return []


def role_units(role: Path) -> dict[str, str]:
    """{unit stem: the register of the task writing it} of a role's tasks."""
    out = {}
    for path in sorted((role / "tasks").glob("*.yml")):
        for task in tasks_in(yaml.safe_load(path.read_text())):
            for dest in written(task):
                if dest.startswith(UNIT_DIR):
                    out[unit_stem(dest[len(UNIT_DIR):])] = task.get("register", "")
    return out


def unguarded(role: Path) -> list[str]:
    """`role/file: task` of each systemd_service task or handler on a unit the role writes, run in check mode
    whatever that write would change."""
    units = role_units(role)
    out = []
    for path in sorted([*(role / "tasks").glob("*.yml"), *(role / "handlers").glob("*.yml")]):
        for task in tasks_in(yaml.safe_load(path.read_text())):
            service = task.get("ansible.builtin.systemd_service")
            if not isinstance(service, dict) or unit_stem(str(service.get("name", ""))) not in units:
                continue
            register = units[unit_stem(str(service["name"]))]
            when = task.get("when", [])
            conditions = " ".join(when if isinstance(when, list) else [str(when)])
            if not register or f"not (ansible_check_mode and {register} is changed)" not in conditions:
                out.append(f"{role.name}/{path.parent.name}/{path.name}: {task.get('name')}")
    return out


def test_the_roles_write_units_and_act_on_them():
    """The test below has something to look at: roles that write units of their own and start them."""
    writing = {role.name for role in ROLES.iterdir() if (role / "tasks").is_dir() and role_units(role)}
    assert {"prometheus_server", "node_exporter", "nvidia_gpu", "neuron_monitor"} <= writing


def test_no_unit_a_role_writes_is_acted_on_in_check_mode_before_it_exists():
    assert [t for role in sorted(ROLES.iterdir()) if (role / "tasks").is_dir() for t in unguarded(role)] == []


def test_a_service_task_without_the_guard_is_found(tmp_path):
    role = tmp_path / "demo"
    (role / "tasks").mkdir(parents=True)
    (role / "handlers").mkdir()
    (role / "tasks" / "main.yml").write_text(yaml.safe_dump([
        {"name": "Write the unit", "register": "__demo_unit",
         "ansible.builtin.template": {"src": "demo.service.j2", "dest": "/etc/systemd/system/demo.service"}},
        {"name": "Keep it running", "ansible.builtin.systemd_service": {"name": "demo", "state": "started"}},
        {"name": "Keep it running (guarded)", "when": "not (ansible_check_mode and __demo_unit is changed)",
         "ansible.builtin.systemd_service": {"name": "demo.service", "state": "started"}},
        {"name": "Another unit", "ansible.builtin.systemd_service": {"name": "ssh", "state": "started"}},
        {"name": "Write a timer", "register": "__demo_timer",
         "aifactory_files": {"directory": "/etc/systemd/system", "files": [{"path": "tick.timer", "content": ""}]}},
        {"name": "Start the timer", "ansible.builtin.systemd_service": {"name": "tick.timer", "state": "started"}}]))
    (role / "handlers" / "main.yml").write_text(yaml.safe_dump([
        {"name": "Restart it", "ansible.builtin.systemd_service": {"name": "demo", "state": "restarted"}}]))
    assert unguarded(role) == ["demo/handlers/main.yml: Restart it", "demo/tasks/main.yml: Keep it running",
                               "demo/tasks/main.yml: Start the timer"]


# A stand-in for systemctl (this machine runs no systemd): every unit is one systemd does not know, as on a head node
# where the role has not written it yet.
SYSTEMCTL = """#!/bin/sh
case "$1" in
  show) printf 'Id=%s\\nLoadState=not-found\\nActiveState=inactive\\n' "$2" ;;
  *) echo "stand-in systemctl: $*" >&2; exit 1 ;;
esac
"""
# The task files that write a unit and act on it, each run alone in check mode: the variables it needs, the task
# writing the unit, and the tasks and handlers acting on it.
UNIT_TASKS = {
    "node_exporter/slurm_collector": ({"node_exporter_slurm_collector_source": "{{ playbook_dir }}/collector.pyz"},
                                      "Write the Slurm collector's service and timer",
                                      ["Run the Slurm collector on its timer"]),
    "prometheus_server/aws_session": ({"prometheus_server_aws_session_profile": "aifactory-node",
                                       "prometheus_server_aws_credentials_file": "{{ playbook_dir }}/aws/credentials"},
                                      "Install the session fetcher's service and timer",
                                      ["Keep the session fetcher's timer running", "Fetch Prometheus's AWS session"]),
}


def check_run(tmp_path: Path, roles: Path, role_tasks: str) -> subprocess.CompletedProcess:
    """`role_tasks` (ROLE/FILE) of the roles under `roles` in check mode on this machine, as JSON."""
    role, tasks = role_tasks.split("/")
    variables, _, _ = UNIT_TASKS[role_tasks]
    (tmp_path / "collector.pyz").write_text("# a stand-in collector\n")
    (tmp_path / "bin").mkdir(exist_ok=True)
    (tmp_path / "bin" / "systemctl").write_text(SYSTEMCTL)
    (tmp_path / "bin" / "systemctl").chmod(0o755)
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "vars": variables, "tasks": [
        {"name": "Run the role's unit tasks",
         "ansible.builtin.include_role": {"name": role, "tasks_from": tasks}}]}]))
    return subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local", "--check",
         str(playbook)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ANSIBLE_ROLES_PATH": str(roles), "ANSIBLE_LIBRARY": str(ROLES.parent / "library"),
             "ANSIBLE_STDOUT_CALLBACK": "json",
             "ANSIBLE_NOCOLOR": "1", "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
             "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"})


def task_results(done: subprocess.CompletedProcess) -> dict[str, dict]:
    """{task name without its role's: its result} of a run's JSON output."""
    return {task["task"]["name"].split(" : ", 1)[-1]: result for play in json.loads(done.stdout)["plays"] for task in play["tasks"]
            for result in task["hosts"].values()}


@pytest.mark.parametrize("role_tasks", UNIT_TASKS)
def test_check_mode_reports_a_unit_not_written_yet_and_does_not_fail_on_it(tmp_path, role_tasks):
    _, write, acting = UNIT_TASKS[role_tasks]
    done = check_run(tmp_path, ROLES, role_tasks)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    results = task_results(done)
    assert results[write]["changed"] and all(results[name].get("skipped") for name in acting), results
    assert not [name for name, r in results.items() if r.get("failed")]


def test_without_the_guard_check_mode_fails_on_the_unit_it_would_write(tmp_path):
    """The run above with the guard taken out of the role: systemd_service fails in check mode (the behaviour the
    guard is there for, so the test above could fail)."""
    roles = tmp_path / "roles"
    shutil.copytree(ROLES / "node_exporter", roles / "node_exporter")
    tasks = roles / "node_exporter" / "tasks" / "slurm_collector.yml"
    guard = "  when: not (ansible_check_mode and __node_exporter_units is changed)\n"
    assert guard in tasks.read_text()
    tasks.write_text(tasks.read_text().replace(guard, ""))
    done = check_run(tmp_path, roles, "node_exporter/slurm_collector")
    assert done.returncode != 0
    failed = task_results(done)["Run the Slurm collector on its timer"]
    assert failed.get("failed") and "Could not find the requested service" in failed["msg"], failed
