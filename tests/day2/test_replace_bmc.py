"""replace.yml's BMC play for real against the lab's BMC stand-in (sushy-emulator with its fake driver,
on 127.0.0.1 only, no nodes booted): the system and firmware inventories are handed back with
set_stats and become the hardware record, the system is set to boot once from the network and
power-cycled on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from aifactory.lab import redfish
from aifactory.lab.rehearsal import LAB_BMC_CREDENTIALS
from aifactory.day2.replace import HARDWARE_STATS_KEY, hardware_record
from tests.bmc_stand_in import one_system, read_system
from tests.conftest import REPO

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
NODE = "f-r001-n01"


@pytest.fixture
def bmc(tmp_path):
    """(base URL, system id) of a BMC stand-in serving one powered-off system; stopped afterwards."""
    with one_system(tmp_path / "lab", "day2-bmc", NODE, "nvidia-gb200-nvl72") as served:
        yield served


def replace_bmc_play(tmp_path, bmc, *flags: str) -> dict:
    """Run replace.yml's BMC play against the stand-in; returns {task name: {host: result}}."""
    url, system_id = bmc
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {
        "node_bmcs": {"hosts": {f"{NODE}-bmc": {**local, "bmc_endpoint": url, "bmc_system_id": system_id,
                                                 "bmc_username": "{{ lookup('env', 'AIFACTORY_BMC_USERNAME') }}",
                                                 "bmc_password": "{{ lookup('env', 'AIFACTORY_BMC_PASSWORD') }}",
                                                 "bmc_power_poll_delay": 1}}},
        "nodes": {"hosts": {NODE: local}}}}}))
    extra = {"aifactory_replace_bmc_node": {f"{NODE}-bmc": NODE}, "aifactory_replace_slurm": False,
             "aifactory_replace_reason": "aifactory replace", "aifactory_replace_boot_timeout": 5}
    done = subprocess.run([PLAYBOOK, "-i", str(inventory), "playbooks/replace.yml", "--limit", f"{NODE}-bmc",
                           "--skip-tags", "always", "-e", json.dumps(extra), *flags],
                          cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **LAB_BMC_CREDENTIALS, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                               "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert LAB_BMC_CREDENTIALS["AIFACTORY_BMC_PASSWORD"] not in done.stdout
    return {t["task"]["name"]: t["hosts"] for play in json.loads(done.stdout)["plays"] for t in play["tasks"]}


def test_the_new_hardware_is_read_then_booted_once_from_the_network_and_powered_on(tmp_path, bmc):
    url, system_id = bmc
    tasks = replace_bmc_play(tmp_path, bmc)
    handed = tasks["Hand the hardware read to aifactory replace"][f"{NODE}-bmc"]["ansible_stats"]
    stats = handed["data"][HARDWARE_STATS_KEY]
    record = hardware_record(stats[NODE])
    assert record["firmware"] and all(record["firmware"].values())  # the stand-in's firmware fixture
    assert record["manufacturer"] == "Sushy Emulator"  # the stand-in's system
    assert record["serial"] == redfish.serial_number(system_id)
    after = read_system(url, system_id)
    assert after["PowerState"] == "On"
    assert after["Boot"]["BootSourceOverrideTarget"] == "Pxe"


def test_check_mode_reads_the_hardware_and_sends_no_boot_or_power_command(tmp_path, bmc):
    """`aifactory replace --check` runs replace.yml with --check: the BMC is read, nothing is sent to it."""
    url, system_id = bmc
    before = read_system(url, system_id)
    tasks = replace_bmc_play(tmp_path, bmc, "--check")
    assert hardware_record(tasks["Hand the hardware read to aifactory replace"][f"{NODE}-bmc"]["ansible_stats"]["data"]
                           [HARDWARE_STATS_KEY][NODE])["serial"] == redfish.serial_number(system_id)
    assert tasks["bmc : Set a one-time PXE boot"][f"{NODE}-bmc"].get("skipped") is True
    assert tasks["bmc : Report the power command that would be sent (check mode)"][f"{NODE}-bmc"]["changed"]
    after = read_system(url, system_id)
    assert (after["PowerState"], after["Boot"]) == (before["PowerState"], before["Boot"]) and before["PowerState"] == "Off"
