"""Values Slurm refuses or reads as another (issue 27, class 6, the Slurm side): a partition named for Slurm's
defaults line, a MaxTime or MaxNodes past what Slurm's parser reads, a state directory that is not printable
ASCII or too long for the files slurmctld writes in it. Each passed validate before; each is refused by name,
and a value at the limit is still accepted and written as given."""

from __future__ import annotations

import pytest

from aifactory.scheduler import slurm_conf
from aifactory.spec import load_spec
from aifactory.spec.validators.scheduler import PATH_MAX, SLURM_MAX_NODES, SLURM_MAX_TIME_MINUTES, SLURM_STATE_FILE
from tests.hostile.conftest import assert_refused, run_inprocess

LONGEST_STATE_DIR = PATH_MAX - 1 - len(SLURM_STATE_FILE)


def scheduler(**fields):
    return lambda data: data.setdefault("scheduler", {}).update(fields)


def partition(**fields):
    return scheduler(partitions=[{"name": "batch", "default": True, **fields}])


def state_dir_of(length: int) -> str:
    """An absolute path of `length` characters, each name 200 characters or fewer."""
    names, left = [], length
    while left > 0:
        take = min(200, left - 1)
        names.append("d" * take)
        left -= take + 1
    return "/" + "/".join(names)


CASES = [
    # (case, mutation, field named, words of the refusal)
    ("a partition named for Slurm's defaults line", partition(name="default"), "scheduler.partitions.0.name",
     "PartitionName=DEFAULT"),
    ("a MaxTime past a C int of seconds", partition(max_time_minutes=SLURM_MAX_TIME_MINUTES + 1),
     "scheduler.partitions.0.max_time_minutes", f"at most {SLURM_MAX_TIME_MINUTES} minutes"),
    ("a MaxTime of 10**30 minutes", partition(max_time_minutes=10**30), "scheduler.partitions.0.max_time_minutes",
     "Slurm reads at most"),
    ("a MaxNodes that Slurm reads as UNLIMITED", partition(max_nodes=2**32 - 1), "scheduler.partitions.0.max_nodes",
     f"at most {SLURM_MAX_NODES}"),
    ("a MaxNodes past 32 bits", partition(max_nodes=10**20), "scheduler.partitions.0.max_nodes", "32-bit"),
    ("a state directory outside ASCII", scheduler(state_dir="/srv/slürm"), "scheduler.state_dir", "printable ASCII"),
    ("a state directory with a name past NAME_MAX", scheduler(state_dir="/srv/" + "s" * 256), "scheduler.state_dir",
     "each name at most 255"),
    ("a state directory too long for slurmctld's files", scheduler(state_dir=state_dir_of(LONGEST_STATE_DIR + 1)),
     "scheduler.state_dir", f"at most {LONGEST_STATE_DIR} characters"),
]


@pytest.mark.parametrize("mutate,named,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_value_slurm_would_not_read_is_refused(site, capsys, mutate, named, words):
    code, _, err = run_inprocess(capsys, "validate", site("lab-b200", mutate))
    assert_refused(code, err, named, words)


def test_values_at_slurms_limits_are_accepted_and_written_as_given(site):
    state = state_dir_of(LONGEST_STATE_DIR)
    factory = load_spec(site("lab-b200", lambda data: (
        partition(max_time_minutes=SLURM_MAX_TIME_MINUTES, max_nodes=SLURM_MAX_NODES)(data),
        data["scheduler"].update(state_dir=state))))
    conf = slurm_conf(factory).splitlines()
    assert f"StateSaveLocation={state}" in conf
    (line,) = [line for line in conf if line.startswith("PartitionName=batch ")]
    assert f"MaxTime={SLURM_MAX_TIME_MINUTES} MaxNodes={SLURM_MAX_NODES}" in line
    assert (SLURM_MAX_TIME_MINUTES + 1) * 60 > 2**31 - 1 >= SLURM_MAX_TIME_MINUTES * 60  # seconds in a C int
