"""The spec's scheduler section: each rule broken by one mutation, and the field it names."""

from __future__ import annotations

import pytest

from aifactory.spec import SpecError, load_spec
from tests.conftest import both, put


def set_scheduler(**fields):
    def mutate(data):
        data.setdefault("scheduler", {}).update(fields)
    return mutate


CASES = [
    ("no partition", "paris-gb200", set_scheduler(partitions=[]), {"scheduler.partitions"}),
    ("no default partition", "paris-gb200", set_scheduler(partitions=[{"name": "batch"}]), {"scheduler.partitions"}),
    ("two default partitions", "paris-gb200",
     set_scheduler(partitions=[{"name": "a", "default": True}, {"name": "b", "default": True}]), {"scheduler.partitions"}),
    ("partition name twice", "paris-gb200",
     set_scheduler(partitions=[{"name": "a", "default": True}, {"name": "a"}]), {"scheduler.partitions.1.name"}),
    ("partition name not slurm-safe", "paris-gb200", set_scheduler(partitions=[{"name": "Batch Q", "default": True}]),
     {"scheduler.partitions.0.name"}),
    ("partition rack the factory lacks", "paris-gb200",
     set_scheduler(partitions=[{"name": "a", "default": True, "racks": [1, 5]}]), {"scheduler.partitions.0.racks.1"}),
    ("partition rack twice", "paris-gb200",
     set_scheduler(partitions=[{"name": "a", "default": True, "racks": [1, 1]}]), {"scheduler.partitions.0.racks"}),
    ("backup controller without shared state", "paris-gb200", set_scheduler(backup_controller=True),
     {"scheduler.state_dir"}),
    ("state dir relative", "paris-gb200", set_scheduler(state_dir="spool"), {"scheduler.state_dir"}),
    ("NVL72 on an OS whose Slurm lacks topology/block", "paris-gb200", put("compute.node_os", "debian-12"),
     {"compute.node_os"}),
    ("an OS whose Slurm lacks cgroup/v2", "lab-b200", put("compute.node_os", "ubuntu-22.04"), {"compute.node_os"}),
    ("unknown scheduler kind", "paris-gb200", set_scheduler(kind="pbs"), {"scheduler.kind"}),
]


@pytest.mark.parametrize("site,mutate,paths", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_reports_exactly_its_field(write_site, site, mutate, paths):
    with pytest.raises(SpecError) as caught:
        load_spec(write_site(site, mutate))
    assert {p.path for p in caught.value.problems} == paths, [str(p) for p in caught.value.problems]


def test_backup_controller_with_state_on_a_shared_mount(write_site):
    f = load_spec(write_site("paris-gb200", set_scheduler(backup_controller=True,
                                                          state_dir="/home/shared/slurm/state")))
    assert [h.services for h in f.head_nodes] == [("slurmctld", "slurmdbd"), ("slurmctld-backup",)]


def test_without_a_scheduler_there_is_no_head_node_and_old_oses_pass(write_site):
    f = load_spec(write_site("lab-b200", both(set_scheduler(kind="none"), put("compute.node_os", "ubuntu-22.04"),
                                                      put("monitoring.enabled", False))))
    assert f.head_nodes == ()


def test_max_nodes_above_the_partition_is_a_warning(write_site):
    warnings = []
    load_spec(write_site("paris-gb200", set_scheduler(partitions=[{"name": "a", "default": True, "racks": [1],
                                                                   "max_nodes": 19}])), warnings=warnings)
    assert [w.path for w in warnings if w.validator == "scheduler_partition_limits"] == ["scheduler.partitions.0.max_nodes"]
