"""Injection into generated files (issue 27, class 2): a value that would add a setting to the file it lands in.

slurm.conf, APT sources and /etc/fstab are whitespace-separated; lsblk, wipefs, mdadm and mkfs read a leading
`-` as an option. Each value is refused by name, with the file's grammar in the message.
"""

from __future__ import annotations

import pytest

from aifactory.scheduler import slurm_conf
from aifactory.spec import load_spec
from aifactory.spec.validators import validate
from tests.conftest import put, site_dir
from tests.hostile.conftest import assert_refused, run_inprocess


def state_dir(value: str):
    return lambda data: data.setdefault("scheduler", {}).update(state_dir=value)


CASES = [
    # (case, mutation, field named, words of the file's grammar)
    ("a Slurm state directory adding PrologSlurmctld", state_dir("/var/spool/slurmctld PrologSlurmctld=/tmp/x.sh"),
     "scheduler.state_dir", "slurm.conf"),
    ("a Slurm state directory opening a comment", state_dir("/var/spool/slurm#ctld"), "scheduler.state_dir", "slurm.conf"),
    ("a quoted Slurm state directory", state_dir('"/var/spool/slurmctld"'), "scheduler.state_dir", "slurm.conf"),
    ("a DOCA release adding an APT URI", put("software.nvidia.doca_ofed", "3.1.0 http://203.0.113.9/doca"),
     "software.nvidia.doca_ofed", "APT source"),
    ("a DOCA release leaving its path segment", put("software.nvidia.doca_ofed", "../../../evil/3.1.0"),
     "software.nvidia.doca_ofed", "APT source"),
    ("a mirror URL with a quote", put("software.mirrors.apt", 'http://mirror.par1.factory.internal/u"x'),
     "software.mirrors.apt", "APT source"),
    ("an fstab escape turning into a space", put("storage.shared.1.source", r"10.40.16.20:/export\040/etc"),
     "storage.shared.1.source", "/etc/fstab"),
    ("an fstab escape in a mount point", put("storage.shared.0.mount", r"/datasets\011x"), "storage.shared.0.mount",
     "/etc/fstab"),
    ("mount options with an escaped newline", put("storage.shared.0.options", r"ro\012/dev/sda"),
     "storage.shared.0.options", "/etc/fstab"),
    ("a scratch device that is an option", put("storage.scratch.devices", ["--force"]), "storage.scratch.devices.0",
     "block device path"),
    ("two scratch devices in one", put("storage.scratch.devices", ["/dev/nvme1n1 /dev/sda"]),
     "storage.scratch.devices.0", "block device path"),
    ("a scratch device outside /dev", put("storage.scratch.devices", ["/dev/../etc/passwd"]),
     "storage.scratch.devices.0", "block device path"),
]


@pytest.mark.parametrize("mutate,named,grammar", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_value_breaking_its_file_is_refused(site, capsys, mutate, named, grammar):
    code, _, err = run_inprocess(capsys, "validate", site("paris-gb200", mutate))
    assert_refused(code, err, named, grammar)


def test_accepted_values_keep_slurm_conf_one_setting_per_word(site):
    """The state directory of an accepted spec is one `StateSaveLocation=` word of slurm.conf."""
    factory = load_spec(site("paris-gb200", state_dir("/srv/slurm/state")))
    (line,) = [line for line in slurm_conf(factory).splitlines() if "/srv/slurm/state" in line]
    assert line == "StateSaveLocation=/srv/slurm/state"


def test_listed_scratch_devices_are_accepted():
    factory = load_spec(site_dir("paris-gb200"))
    devices = factory.storage.scratch.model_copy(update={"devices": ["/dev/nvme1n1", "/dev/disk/by-id/nvme-x_1"]})
    storage = factory.storage.model_copy(update={"scratch": devices})
    assert not [p for p in validate(factory.model_copy(update={"storage": storage})) if p.level == "error"]
