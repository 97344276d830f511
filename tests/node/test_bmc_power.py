"""The bmc role's power action against the lab's BMC stand-in (sushy-emulator with its fake driver, on
127.0.0.1 only, no node booted): check mode names the command it would send and sends nothing, the first run
powers the system on and waits, a second run sends nothing and waits for nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from aifactory.lab.rehearsal import LAB_BMC_CREDENTIALS
from tests.bmc_stand_in import one_system, read_system
from tests.conftest import REPO

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
NODE = "f-r001-n01"
POWER_TASKS = ("Send the power command", "Report the power command that would be sent (check mode)",
               "Wait until the power state really changed")


@pytest.fixture
def bmc(tmp_path):
    """(base URL, system id) of a BMC stand-in serving one powered-off system; stopped afterwards."""
    with one_system(tmp_path / "lab", "bmc-power", NODE, "nvidia-b200") as served:
        yield served


def power_state(url: str, system_id: str) -> str:
    return read_system(url, system_id)["PowerState"]


def run_role(tmp_path, url: str, system_id: str, *check: str) -> dict[str, dict]:
    """Run the bmc role with bmc_power_action=on; {task: its result} for every task the run went through."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {f"{NODE}-bmc": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "bmc_endpoint": url,
        "bmc_system_id": system_id, "bmc_power_action": "on", "bmc_power_poll_delay": 1,
        "bmc_username": "{{ lookup('env', 'AIFACTORY_BMC_USERNAME') }}",
        "bmc_password": "{{ lookup('env', 'AIFACTORY_BMC_PASSWORD') }}"}}}}))
    book = tmp_path / "power.yml"
    book.write_text(yaml.safe_dump([{"name": "Power", "hosts": "all", "gather_facts": False,
                                     "roles": [{"role": "bmc"}]}]))
    done = subprocess.run([PLAYBOOK, "-i", str(inventory), str(book), *check], cwd=REPO, capture_output=True,
                          text=True, timeout=600,
                          env={**os.environ, **LAB_BMC_CREDENTIALS, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                               "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return {t["task"]["name"].removeprefix("bmc : "): t["hosts"][f"{NODE}-bmc"]
            for play in json.loads(done.stdout)["plays"] for t in play["tasks"]}


def power_on(tmp_path, url: str, system_id: str, *check: str) -> dict[str, dict]:
    """{power task: its result} for the power tasks that ran with bmc_power_action=on."""
    tasks = run_role(tmp_path, url, system_id, *check)
    return {name: tasks[name] for name in POWER_TASKS if name in tasks and not tasks[name].get("skipped")}


def test_a_system_already_on_gets_no_power_command_and_no_wait(tmp_path, bmc):
    url, system_id = bmc
    assert power_state(url, system_id) == "Off"

    checked = power_on(tmp_path, url, system_id, "--check")
    assert list(checked) == ["Report the power command that would be sent (check mode)"]
    assert checked["Report the power command that would be sent (check mode)"]["changed"]
    assert "PowerOn" in checked["Report the power command that would be sent (check mode)"]["msg"]
    assert power_state(url, system_id) == "Off"

    first = power_on(tmp_path, url, system_id)
    assert list(first) == ["Send the power command", "Wait until the power state really changed"]
    assert first["Send the power command"]["changed"]
    assert power_state(url, system_id) == "On"

    assert power_on(tmp_path, url, system_id, "--check") == {}
    # Nothing to send: the power tasks are not even gone through (one skipped include instead of three skips per
    # host), nor the firmware comparison's without a baseline.
    again = run_role(tmp_path, url, system_id)
    assert again["Apply the power action"].get("skipped") and not set(POWER_TASKS) & set(again)
    assert again["Compare firmware with the baseline"].get("skipped") and "Compute firmware mismatches" not in again
