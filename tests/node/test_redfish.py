"""aifactory.node.redfish, the one reading of a BMC's Redfish inventory (the bmc role, replace.yml and
aifactory replace use it): which system a host acts on, its firmware versions and their comparison with a
baseline, in Python and through the playbooks' aifactory_redfish_* filters."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from aifactory.node.redfish import (RedfishDataError, firmware_mismatches, firmware_versions, hardware_record,
                                    power_command, select_system)
from tests.conftest import REPO

SYSTEMS = [[{"system_uri": "/redfish/v1/Systems/aaaa"}, {"SerialNumber": "OLD-1", "PowerState": "Off"}],
           [{"system_uri": "/redfish/v1/Systems/bbbb"}, {"SerialNumber": "SN-NEW-42", "PowerState": "On"}]]
FIRMWARE = [{"Id": "BMC", "Name": "BMC firmware", "Version": "24.10"}, {"Name": "BIOS", "Version": "1.2"},
            {"Version": "no name"}]
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def test_the_system_is_the_named_one_or_the_bmcs_only_one_never_a_guess():
    assert select_system(SYSTEMS, "bbbb")["SerialNumber"] == "SN-NEW-42"
    assert select_system(SYSTEMS[:1])["SerialNumber"] == "OLD-1"
    assert select_system(SYSTEMS) == {}  # several and none named
    assert select_system(SYSTEMS, "bb") == {}  # the id is the URI's last segment, not a part of it
    with pytest.raises(RedfishDataError):
        select_system({"entries": SYSTEMS})


def test_firmware_is_read_by_id_or_name_and_compared_with_a_baseline():
    assert firmware_versions(FIRMWARE) == {"BMC": "24.10", "BIOS": "1.2"}
    baseline = {"BMC firmware": "24.10", "BIOS": "1.3", "CPLD": "7"}
    assert firmware_mismatches(FIRMWARE, baseline) == [
        {"component": "BIOS", "expected": "1.3", "found": "1.2"},
        {"component": "CPLD", "expected": "7", "found": "absent"}]
    assert firmware_mismatches(FIRMWARE, {"BMC": "24.10"}) == []
    assert hardware_record(SYSTEMS[1][1], firmware_versions(FIRMWARE))["serial"] == "SN-NEW-42"


def test_on_and_off_are_sent_only_to_a_system_in_the_other_state_restart_always():
    off, on = SYSTEMS[0][1], SYSTEMS[1][1]
    assert power_command(off, "on") == "PowerOn" and power_command(on, "on") == ""
    assert power_command(on, "off", "PowerGracefulShutdown") == "PowerGracefulShutdown"
    assert power_command(off, "off") == ""
    assert power_command(on, "restart") == power_command(off, "restart") == "PowerForceRestart"
    assert power_command(off, "none") == ""
    assert power_command({}, "on") == "PowerOn"  # a state the BMC does not give is not the wanted one
    with pytest.raises(RedfishDataError):
        power_command(on, "cycle")


def test_the_playbooks_filters_are_these_functions(tmp_path):
    book = tmp_path / "play.yml"
    book.write_text("""
- name: Filters
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Show
      ansible.builtin.debug:
        msg: >-
          {{ {'system': systems | aifactory_redfish_system('bbbb'), 'firmware': firmware | aifactory_redfish_firmware,
              'mismatches': firmware | aifactory_redfish_firmware_mismatches({'BIOS': '1.3'}),
              'power': systems | aifactory_redfish_system('aaaa') | aifactory_redfish_power_command('on', 'PowerForceOff')}
             | to_json }}
""")
    done = subprocess.run([PLAYBOOK, "-i", "localhost,", "-c", "local", str(book), "-e",
                           json.dumps({"systems": SYSTEMS, "firmware": FIRMWARE})],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                               "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    shown = json.loads(json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"])
    assert shown == {"system": select_system(SYSTEMS, "bbbb"), "firmware": firmware_versions(FIRMWARE),
                     "mismatches": firmware_mismatches(FIRMWARE, {"BIOS": "1.3"}), "power": "PowerOn"}
