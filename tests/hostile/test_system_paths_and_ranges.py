"""Paths and ranges that break the machine (issue 27, class 3).

A Slurm state directory is given to the slurm user with mode 0700, a mount hides what it covers: neither may be
a system directory, a parent of one, or a key directory. On-prem ranges in blocks no host can use are refused.
Each refusal names the field and says what to use instead.
"""

from __future__ import annotations

import pytest

from aifactory.spec.validators.storage import SYSTEM_DIRS, system_directory
from tests.conftest import put
from tests.hostile.conftest import assert_refused, run_inprocess


def state_dir(value: str):
    return lambda data: data.setdefault("scheduler", {}).update(state_dir=value)


@pytest.mark.parametrize("path", ["/etc", "/", "/var/lib", "/var/log", "/var", "/root/.ssh", "/etc/slurm-state",
                                  "/var/spool", "/home/alice/.ssh/slurm", "/var/spool/../../etc", "/usr/local"])
def test_system_state_directory_is_refused(site, capsys, path):
    code, _, err = run_inprocess(capsys, "validate", site("paris-gb200", state_dir(path)))
    assert_refused(code, err, "scheduler.state_dir", "use a directory of its own such as /var/spool/slurmctld")


def test_state_directory_not_in_plain_form_is_refused(site, capsys):
    code, _, err = run_inprocess(capsys, "validate", site("paris-gb200", state_dir("/var/spool//slurmctld")))
    assert_refused(code, err, "scheduler.state_dir", "write it as /var/spool/slurmctld")


@pytest.mark.parametrize("field", ["storage.scratch.mount", "storage.shared.0.mount"])
@pytest.mark.parametrize("path", ["/var/lib", "/var/log", "/root/.ssh", "/var/lib/dpkg", "/root/data",
                                  "/home/alice/.ssh", "/data/.gnupg"])
def test_system_mount_point_is_refused(site, capsys, field, path):
    code, _, err = run_inprocess(capsys, "validate", site("paris-gb200", put(field, path)))
    assert_refused(code, err, field, "mounting there would break the node")


def test_every_parent_of_a_system_directory_is_refused_too():
    for directory in SYSTEM_DIRS:
        parents = [directory.rsplit("/", depth)[0] or "/" for depth in range(1, directory.count("/") + 1)]
        for parent in parents:
            assert system_directory(parent), (directory, parent)


# lab-b200's ranges (10.77.0.0/16 and its /24s) moved into each block no host can use, all of them consistent.
UNUSABLE = {"this network": "0.77", "loopback": "127.77", "link-local": "169.254", "multicast": "224.77",
            "reserved": "240.77"}


@pytest.mark.parametrize("prefix", UNUSABLE.values(), ids=UNUSABLE.keys())
def test_onprem_range_no_host_can_use_is_refused(site, capsys, prefix):
    def move(data):
        for field in ("onprem_cidr", "bmc_cidr", "host_cidr", "storage_cidr"):
            data["network"][field] = data["network"][field].replace("10.77", prefix, 1)

    code, _, err = run_inprocess(capsys, "validate", site("lab-b200", move))
    assert_refused(code, err, "network.onprem_cidr", "network.host_cidr", "choose a private range")


def test_usable_state_directories_and_mounts_are_accepted(site, capsys):
    def edit(data):
        data["scheduler"] = {"state_dir": "/var/lib/slurm/state"}
        data["storage"]["scratch"]["mount"] = "/var/scratch"

    code, _, err = run_inprocess(capsys, "validate", site("paris-gb200", edit))
    assert code == 0, err
