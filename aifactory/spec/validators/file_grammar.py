"""Values that land in generated files fit that file's grammar: one validator per grammar.

A space, a quote or a `#` where a file is whitespace-separated turns one value into several settings
(a `PrologSlurmctld=` in slurm.conf, a second APT source, a seventh /etc/fstab field). Each validator
names the spec values that reach its file; the characters a value may hold are the file's own rules.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from aifactory.spec.model import Factory
from aifactory.spec.validators.registry import Problem, validator

# slurm.conf(5) and slurmdbd.conf(5): an ASCII file of `Name=value` settings separated by whitespace, `#`
# starts a comment, a value holding whitespace is double-quoted. A value is one word of printable ASCII
# without those, `=` or a backslash.
SLURM_CONF_WORD = re.compile(r"(?:(?![#\"'=\\])[!-~])+")
# sources.list(5), deb822 style: URIs is a whitespace-separated list, a new line starts a new field.
# A URI holds the characters RFC 3986 (section 2) allows, nothing else.
URI = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
# The DOCA-OFED release is one path segment of the repository's URI (`<mirror>/doca/<release>/<os>/<arch>/`).
DOCA_RELEASE = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+~_-]{0,63}")
# fstab(5): six fields separated by spaces or tabs, a space inside one written as the octal escape \040,
# `#` at the start of a line a comment. systemd-fstab-generator(8) makes the mount units from these lines.
FSTAB_FIELD = re.compile(r"[^\s\\#][^\s\\]*")
# A block device the scratch role hands to lsblk, wipefs, mdadm and mkfs as an argument: a path under
# /dev (never an option such as `--force`), in normal form.
DEVICE_PATH = re.compile(r"/dev/[A-Za-z0-9_.:+-]+(/[A-Za-z0-9_.:+-]+)*")


def outside(grammar: re.Pattern, values: list[tuple[str, str]], message: str) -> Iterator[Problem]:
    """A problem, with `message`, for each (path, value) that is not one whole match of `grammar`."""
    for path, value in values:
        if not grammar.fullmatch(value):
            yield Problem(path, message, value)


@validator()
def slurm_conf_values(f: Factory) -> Iterator[Problem]:
    """The cluster name, state directory and partition names are single words of slurm.conf.

    Fix: Use one word of printable ASCII for each: no whitespace, quote, '#', '=' or backslash."""
    if f.scheduler.kind == "none":
        return
    values = [("name", f.name), ("scheduler.state_dir", f.scheduler.state_dir)]
    values += [(f"scheduler.partitions.{i}.name", p.name) for i, p in enumerate(f.scheduler.partitions)]
    yield from outside(SLURM_CONF_WORD, values, "is written into slurm.conf, an ASCII file, where it must be one "
                       "word of printable ASCII: no whitespace, quote, '#', '=' or backslash")


@validator()
def apt_source_values(f: Factory) -> Iterator[Problem]:
    """Mirror URLs and the DOCA-OFED release are written into APT sources (deb822).

    Fix: Percent-encode spaces and characters outside RFC 3986 in mirror URLs; give the DOCA-OFED release as
    letters, digits, '.', '+', '~', '_', '-' only."""
    mirrors = [(f"software.mirrors.{field}", getattr(f.software.mirrors, field))
               for field in ("apt", "nvidia", "neuron") if getattr(f.software.mirrors, field) is not None]
    yield from outside(URI, mirrors, "is written into an APT source, where it must be one URI: no whitespace or "
                       "characters outside RFC 3986 (percent-encode them)")
    doca = f.software.nvidia.doca_ofed if f.software.nvidia else None
    if doca is not None and not DOCA_RELEASE.fullmatch(doca):
        yield Problem("software.nvidia.doca_ofed", "is a path segment of the DOCA repository's APT source: a "
                      "release such as 3.1.0 (letters, digits, '.', '+', '~', '_', '-'; no '/' or whitespace)", doca)


@validator()
def fstab_fields(f: Factory) -> Iterator[Problem]:
    """Mount points, sources and options are fields of /etc/fstab lines (and of the systemd mount units
    made from them).

    Fix: Write mount points, sources and options without whitespace or backslash, none starting with '#'."""
    values = [("storage.scratch.mount", f.storage.scratch.mount)]
    for i, m in enumerate(f.storage.shared):
        values += [(f"storage.shared.{i}.mount", m.mount), (f"storage.shared.{i}.source", m.source)]
        if m.options is not None:
            values.append((f"storage.shared.{i}.options", m.options))
    yield from outside(FSTAB_FIELD, values, "is a field of /etc/fstab: one non-empty word without whitespace or "
                       "backslash (fstab reads \\040 as a space), not starting with '#'")


@validator()
def command_arguments(f: Factory) -> Iterator[Problem]:
    """Scratch devices are arguments of lsblk, wipefs, mdadm and mkfs: device paths, never options.

    Fix: List scratch devices as /dev paths such as /dev/nvme1n1, or write `auto`."""
    devices = f.storage.scratch.devices
    if devices == "auto":
        return
    for i, device in enumerate(devices):
        if not DEVICE_PATH.fullmatch(device) or posixpath.normpath(device) != device:
            yield Problem(f"storage.scratch.devices.{i}", "must be a block device path under /dev such as "
                          "/dev/nvme1n1 (letters, digits, '_', '.', ':', '+', '-'; no '..' or whitespace)", device)
