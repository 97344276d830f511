"""The hostile spec corpus: one spec per class of defect the spec must refuse (issue 13, item 1).

Every case exits 2 with the offending field named in the message and no traceback. Most run the CLI
in-process (cheap); `test_representative_cases_as_a_subprocess` runs a subset through the console script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from aifactory.spec import SpecError, load_spec
from tests.conftest import put
from tests.hostile.conftest import REPO, assert_refused, run_inprocess, run_subprocess


def replace(old: str, new: str):
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)
    return edit


XKS = {"proxy_uri_endpoint": "http://xks.par1.factory.internal", "connectivity": "public-endpoint"}

# (case, site, mutate or None, raw-text edit or None, the field the refusal names)
CORPUS = [
    # mount points: normalised first, then the node's system directories refused
    ("mount //etc", "paris-gb200", put("storage.scratch.mount", "//etc"), None, "storage.scratch.mount"),
    ("mount /scratch/../etc", "paris-gb200", put("storage.scratch.mount", "/scratch/../etc"), None, "storage.scratch.mount"),
    ("mount /", "lab-b200", put("storage.scratch.mount", "/"), None, "storage.scratch.mount"),
    ("mount /lib64", "ohio-trn3", put("storage.shared.0.mount", "/lib64"), None, "storage.shared.0.mount"),
    ("mount /home", "paris-gb200", put("storage.shared.1.mount", "/home"), None, "storage.shared.1.mount"),
    ("mount /tmp/", "paris-gb200", put("storage.scratch.mount", "/tmp/"), None, "storage.scratch.mount"),
    ("mount under /proc", "paris-gb200", put("storage.scratch.mount", "/proc/scratch"), None, "storage.scratch.mount"),
    ("mount under /dev", "paris-gb200", put("storage.scratch.mount", "/dev/shm"), None, "storage.scratch.mount"),
    ("mount under /sys", "paris-gb200", put("storage.scratch.mount", "/sys/fs/x"), None, "storage.scratch.mount"),
    ("mount with a space", "paris-gb200", put("storage.scratch.mount", "/scratch /etc"), None, "storage.scratch.mount"),
    # control characters and newlines in strings that become files or names
    ("newline in name", "paris-gb200", put("name", "paris-gb200\n"), None, "name"),
    ("carriage return in domain", "paris-gb200", put("network.domain", "par1.factory.internal\r"), None, "network.domain"),
    ("escape in topic", "paris-gb200", put("aws_services.bedrock.guardrail.blocked_topics.0", "\x1b[31madvice"), None,
     "aws_services.bedrock.guardrail.blocked_topics.0"),
    ("bidi override in model group", "paris-gb200", put("aws_services.sagemaker.model_groups.0", "fraud\u202edetection"),
     None, "aws_services.sagemaker.model_groups.0"),
    ("newline in mirror URL", "paris-gb200", put("software.mirrors.apt", "http://mirror.par1.factory.internal/u\nX"),
     None, "software.mirrors.apt"),
    ("fstab line in mount options", "paris-gb200", put("storage.shared.0.options", "rw\n/dev/sda /etc xfs defaults 0 0"),
     None, "storage.shared.0.options"),
    ("field splitting in a shared source", "paris-gb200", put("storage.shared.1.source", "10.40.16.20:/x /etc"),
     None, "storage.shared.1.source"),
    ("bell in description", "lab-b200", put("description", "lab\x07"), None, "description"),
    # mirror URLs
    ("mirror not http(s)", "paris-gb200", put("software.mirrors.apt", "ftp://mirror.par1.factory.internal/ubuntu"),
     None, "software.mirrors.apt"),
    ("mirror with credentials", "paris-gb200",
     put("software.mirrors.nvidia", "https://u:secret@mirror.par1.factory.internal/nvidia"), None, "software.mirrors.nvidia"),
    ("public mirror host on an air-gapped site", "paris-gb200", put("software.mirrors.apt", "http://archive.ubuntu.com/ubuntu"),
     None, "software.mirrors.apt"),
    ("public mirror address on an air-gapped site", "ohio-trn3", put("software.mirrors.neuron", "http://8.8.8.8/neuron"),
     None, "software.mirrors.neuron"),
    ("registry given as a URL", "paris-gb200", put("software.mirrors.containers", "https://registry.example.com"),
     None, "software.mirrors.containers"),
    # upper bounds, checked before anything is expanded
    ("nodes per rack far past the block", "lab-b200", put("compute.nodes_per_rack", 10**30), None, "compute.nodes_per_rack"),
    ("integer of 5000 digits", "paris-gb200", None, replace("racks: 4", "racks: " + "9" * 5000), "compute.racks"),
    # strict YAML
    ("duplicate key", "paris-gb200", None, replace("  racks: 4\n", "  racks: 4\n  racks: 40\n"), "duplicate key 'racks'"),
    ("boolean for a number", "paris-gb200", None, replace("racks: 4", "racks: true"), "compute.racks"),
    ("number as a string", "paris-gb200", None, replace("racks: 4", 'racks: "4"'), "compute.racks"),
    ("octal-looking number", "paris-gb200", None, replace("vlan: 101", "vlan: 0101"), "hybrid_link.direct_connect.0.vlan"),
    ("sexagesimal number", "paris-gb200", None, replace("vlan: 101", "vlan: 1:41"), "hybrid_link.direct_connect.0.vlan"),
    ("infinity", "paris-gb200", None, replace("power_budget_kw: 600", "power_budget_kw: .inf"), "facility.power_budget_kw"),
    ("not a number", "paris-gb200", None, replace("power_budget_kw: 600", "power_budget_kw: .nan"), "facility.power_budget_kw"),
    ("yes for a boolean", "paris-gb200", None, replace("domain: true", "domain: yes"), "aws_services.sagemaker.domain"),
    ("aliases", "paris-gb200", None, replace("allowed_regions: [eu-west-3]", "allowed_regions: &r [eu-west-3]\n  x: *r"),
     "anchors and aliases"),
    ("nesting past the parser", "lab-b200", None, lambda t: t + "deep: " + "[" * 100000 + "]" * 100000 + "\n", "(yaml)"),
    # combinations
    ("driver branch older than the platform", "paris-gb200", put("software.nvidia.driver_branch", "550"), None,
     "software.nvidia.driver_branch"),
    ("driver version outside its branch", "lab-b200", put("software.nvidia.driver_version", "570.86.15"), None,
     "software.nvidia.driver_version"),
    ("trainium on infiniband", "ohio-trn3", put("network.fabric", "infiniband-ndr"), None, "network.fabric"),
    ("trainium on debian", "ohio-trn3", put("compute.node_os", "debian-12"), None, "compute.node_os"),
    ("external key store over http", "paris-gb200",
     lambda d: d["sovereignty"].update(keys="external-key-store", external_key_store=XKS), None,
     "sovereignty.external_key_store.proxy_uri_endpoint"),
    ("more zones than the region has", "paris-gb200", put("hybrid_link.availability_zones", 4), None,
     "hybrid_link.availability_zones"),
    ("unknown region", "lab-b200", lambda d: d["sovereignty"].update(region="eu-mars-1", allowed_regions=["eu-mars-1"]),
     None, "sovereignty.region: unknown AWS region"),
]


@pytest.mark.parametrize("site_name,mutate,text,named", [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_hostile_spec_is_refused(site, capsys, site_name, mutate, text, named):
    code, out, err = run_inprocess(capsys, "validate", site(site_name, mutate, text))
    assert_refused(code, err, named)


def test_refusal_as_json_on_stdout(site, capsys):
    code, out, err = run_inprocess(capsys, "validate", site("paris-gb200", put("name", "x\x1b]0;owned\x07")),
                                   "--format", "json")
    assert code == 2 and "Traceback" not in err
    report = json.loads(out)
    assert report["valid"] is False
    problems = {p["path"]: p for p in report["problems"]}
    assert "\x1b" not in out and "name" in problems and problems["name"]["level"] == "error"


def test_echoed_values_are_escaped_and_shortened(site, capsys):
    hostile = "\x1b[2J\x1b[31m" + "A" * 5000
    code, _, err = run_inprocess(capsys, "validate", site("paris-gb200", put("network.domain", hostile)))
    assert_refused(code, err, "network.domain")
    assert "\x1b" not in err and "\\x1b[2J" in err
    assert "A" * 100 not in err and "(5009 characters)" in err


def test_hostile_input_files(tmp_path, capsys):
    """The spec file itself: missing, a FIFO, a device, a symlink loop, not UTF-8, too large, a NUL byte
    in its path, a directory without factory.yaml."""
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop)
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("name: caf\xe9\n".encode("latin-1"))
    large = tmp_path / "large.yaml"
    large.write_text("# padding\n" * 120_000)
    (tmp_path / "empty-site").mkdir()
    cases = {
        fifo: "not a regular file", "/dev/zero": "not a regular file", loop: "Too many levels of symbolic links",
        latin1: "not UTF-8", large: "bytes", "bad\0path.yaml": "NUL byte", tmp_path / "empty-site": "no such file",
    }
    for path, message in cases.items():
        code, _, err = run_inprocess(capsys, "validate", path)
        assert_refused(code, err, "(file)", message)


def test_representative_cases_as_a_subprocess(site, tmp_path):
    """Through the console script, as a user runs it: a mount over /etc, a newline in a name, a FIFO."""
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    runs = {
        "storage.scratch.mount": site("paris-gb200", put("storage.scratch.mount", "/scratch/../etc")),
        "name": site("lab-b200", put("name", "lab-b200\n")),
        "not a regular file": fifo,
    }
    for named, spec in runs.items():
        result = run_subprocess("validate", spec, timeout=60)
        assert_refused(result.returncode, result.stderr, named)


def test_a_trillion_trillion_racks_validate_in_little_memory(site):
    """10**30 racks are refused by arithmetic: the child's peak memory stays far under 200 MB."""
    spec = site("paris-gb200", put("compute.racks", 10**30))
    # VmHWM is this process's own peak: ru_maxrss would carry over the peak of the forked test runner.
    code = ("import re, sys\nfrom pathlib import Path\nfrom aifactory.cli import main\n"
            "rc = main(['validate', sys.argv[1]])\n"
            "print(re.search(r'VmHWM:\\s+(\\d+)', Path('/proc/self/status').read_text()).group(1))\nsys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code, str(spec)], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert_refused(result.returncode, result.stderr, "network.host_cidr", "1000000000000000000000000000000 racks need",
                   "compute.racks: at most 4096 racks")
    peak_kib = int(result.stdout.strip().splitlines()[-1])
    assert peak_kib < 200 * 1024, f"peak RSS {peak_kib} KiB"


def test_examples_still_validate():
    for name in ("paris-gb200", "ohio-trn3", "lab-b200"):
        try:
            load_spec(REPO / "inventories" / name)
        except SpecError as err:  # pragma: no cover - the message is the point
            pytest.fail(str(err))
