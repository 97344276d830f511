"""The rehearsal's scheduler step, the parts that need no lab: reading sinfo, and which nodes an injected
fault must drain (only the faults the light health check sees)."""

from __future__ import annotations

import subprocess

from aifactory.scheduler.lab import expected_drains, node_states
from aifactory.spec import load_spec
from tests.conftest import site_dir


def test_sinfo_states_and_reasons():
    out = "lab-b200-r001-n01|idle|none\nlab-b200-r001-n03|drain|aifactory health: accelerator_count\n"
    states = node_states(lambda command: subprocess.CompletedProcess(command, 0, out, ""))
    assert states == {"lab-b200-r001-n01": ("idle", "none"),
                      "lab-b200-r001-n03": ("drain", "aifactory health: accelerator_count")}


def test_faults_drain_with_the_light_checks_they_fail():
    f = load_spec(site_dir("lab-b200"))
    drains = expected_drains(f, {"lab-b200-r001-n01": ["gpu-missing"], "lab-b200-r001-n02": ["ecc-uncorrectable"],
                                 "lab-b200-r001-n03": ["ib-port-down"]})
    # ECC: the pending row remapping fails memory_health; the DCGM diagnostic is not in the light subset.
    assert drains == {"lab-b200-r001-n01": {"accelerator_count"}, "lab-b200-r001-n02": {"memory_health"},
                      "lab-b200-r001-n03": {"ib_ports"}}
