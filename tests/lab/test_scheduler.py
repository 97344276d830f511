"""The rehearsal's scheduler step, the parts that need no lab: reading sinfo, and which nodes an injected
fault must drain (only the faults the light health check sees), and how a job spans NVLink domains."""

from __future__ import annotations

import subprocess

from aifactory.lab.scheduler import expected_drains, job_segment, node_states
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


def test_a_job_across_nvl72_racks_asks_for_segments_within_one_rack():
    f = load_spec(site_dir("lab-gb200"))
    r1, r2 = ([n.name for n in f.nodes if n.rack == r] for r in (1, 2))
    assert job_segment(f, r1[:2] + r2[:2]) == " --segment=2"
    assert job_segment(f, r1[:2] + r2[:1]) == " --segment=1"  # a drained tray leaves rack 2 one
    assert job_segment(f, r1[:3]) == ""  # one rack: the job fits one block


def test_a_tree_topology_needs_no_segments():
    f = load_spec(site_dir("ohio-trn3"))  # two racks under one spine
    assert job_segment(f, [n.name for n in f.nodes]) == ""
