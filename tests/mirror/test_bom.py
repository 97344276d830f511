"""`aifactory mirror bom`: a site's bill of materials from committed index excerpts (no network)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from aifactory.cli import main
from aifactory.lab.mirror import node_installs
from aifactory.mirror import bom as bom_
from aifactory.mirror.installs import site_installs
from aifactory.spec import load_spec
from tests.conftest import put, site_dir
from tests.spec.conftest import write_site  # noqa: F401 - a fixture

FIXTURES = Path(__file__).parent / "fixtures"
PORTS = "http://ports.ubuntu.com/ubuntu-ports/dists"
PARIS_INDEXES = {
    f"{PORTS}/noble/main/binary-arm64/Packages.xz": "ubuntu-noble-main-arm64.Packages",
    f"{PORTS}/noble/universe/binary-arm64/Packages.xz": "ubuntu-noble-universe-arm64.Packages",
    f"{PORTS}/noble-updates/restricted/binary-arm64/Packages.xz": "ubuntu-noble-updates-restricted-arm64.Packages",
    "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/sbsa/Packages.gz": "cuda-ubuntu2404-sbsa.Packages",
    "https://linux.mellanox.com/public/repo/doca/3.1.0/ubuntu24.04/arm64-sbsa/Packages.gz":
        "doca-3.1.0-ubuntu24.04-arm64-sbsa.Packages",
}


def index_args(indexes: dict[str, str] = PARIS_INDEXES) -> list[str]:
    return [arg for url, name in indexes.items() for arg in ("--index", f"{url}={FIXTURES / name}")]


def bom(capsys, site, *extra: str, indexes: dict[str, str] = PARIS_INDEXES) -> tuple[int, str, str]:
    rc = main(["mirror", "bom", str(site), *extra, *index_args(indexes)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def paris_copy(tmp_path, **software) -> Path:
    """paris-gb200 with its `software.nvidia` changed and no Lustre mount (Ubuntu has no Lustre client)."""
    data = yaml.safe_load((site_dir("paris-gb200") / "factory.yaml").read_text())
    data["software"]["nvidia"].update(software)
    data["storage"]["shared"] = [m for m in data["storage"]["shared"] if m["type"] != "lustre"]
    target = tmp_path / "paris"
    shutil.copytree(site_dir("paris-gb200"), target)
    (target / "factory.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def components(text: str) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads(text)["components"]}


def test_paris_bom_is_valid_cyclonedx_with_the_arm64_driver_imex_doca_and_slurm(capsys):
    rc, out, err = bom(capsys, site_dir("paris-gb200"), "--format", "cyclonedx")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(out) is None
    found = components(out)
    for name in ("nvidia-headless-580-server-open", "nvidia-utils-580-server", "nvidia-imex-580", "doca-ofed",
                 "slurmd", "slurmctld", "munge"):
        assert found[name]["purl"].endswith("arch=arm64"), name
    assert "nvidia-fabricmanager-580" not in found  # NVL72 trays run IMEX, not Fabric Manager
    assert found["nvidia-imex-580"]["version"] == "580.105.08-1"  # only the branch is pinned: the newest of it
    assert found["slurm-wlm-basic-plugins"]["properties"][1]["value"].startswith("dependency of ")
    assert "libc6" not in found  # every installed node has it (Priority: required)
    # paris mounts Lustre; no index given has its client: named, exit 1, the rest still listed.
    assert rc == 1 and "lustre-client-utils is in no index" in err


def test_json_bom_takes_hash_and_url_from_the_index_and_the_pinned_driver(capsys, tmp_path):
    rc, out, err = bom(capsys, paris_copy(tmp_path, driver_version="580.95.05"), "--format", "json")
    assert rc == 0, err
    found = components(out)
    imex = found["nvidia-imex-580"]
    assert imex["version"] == "580.95.05-1"  # the spec's pin, though the index has 580.105.08-1 too
    stanza = (FIXTURES / "cuda-ubuntu2404-sbsa.Packages").read_text().split("Version: 580.95.05-1")[1]
    assert imex["sha256"] in stanza.split("\n\n")[0]
    assert imex["url"] == ("https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/sbsa/"
                           "nvidia-imex-580_580.95.05-1_arm64.deb")
    assert found["slurmd"]["url"].startswith("http://ports.ubuntu.com/ubuntu-ports/pool/universe/s/slurm-wlm/")
    assert json.loads(out)["missing"] == []


def test_a_driver_version_no_index_has_is_named(capsys, tmp_path):
    rc, _out, err = bom(capsys, paris_copy(tmp_path, driver_version="580.65.06"), "--format", "json")
    assert rc == 1
    assert "nvidia-imex-580 580.65.06* is in no index" in err and "580.105.08-1" in err


def test_table_lists_the_per_kernel_packages(capsys):
    _rc, out, _err = bom(capsys, site_dir("paris-gb200"))
    assert "lustre-client-modules-<kernel>" in out
    assert any(line.split()[:2] == ["doca-ofed", "3.1.0-091000"] for line in out.splitlines())


@pytest.mark.parametrize("drop, named", [
    ("https://linux.mellanox.com/public/repo/doca/3.1.0/ubuntu24.04/arm64-sbsa/Packages.gz", "the doca repository"),
    ("https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/sbsa/Packages.gz", "the cuda repository"),
])
def test_a_repository_without_an_index_is_bad_input(capsys, drop, named):
    rc, out, err = bom(capsys, site_dir("paris-gb200"), indexes={u: n for u, n in PARIS_INDEXES.items() if u != drop})
    assert rc == 2 and named in err and out == ""


@pytest.mark.parametrize("argument, message", [
    ("no-equals-sign", "expected URL=FILE"),
    (f"http://example.org/debian/dists/x/Packages.xz={FIXTURES / 'SOURCES.md'}", "no repository of this site"),
    (f"{PORTS}/noble/main/binary-arm64/Packages.xz=/nonexistent/Packages", "/nonexistent/Packages: no such file"),
    (f"{PORTS}/noble/main/binary-arm64/Packages.xz={{not_xz}}", "cannot be read as a Packages index"),
])
def test_bad_index_arguments_exit_2_naming_them(capsys, tmp_path, argument, message):
    not_xz = tmp_path / "Packages.xz"
    not_xz.write_text("Package: a\n")
    try:
        rc = main(["mirror", "bom", str(site_dir("paris-gb200")), "--index", argument.format(not_xz=not_xz)])
    except SystemExit as exit_:  # refused by the option's type, as argparse refuses
        rc = exit_.code
    assert rc == 2 and message in capsys.readouterr().err


def test_bad_format_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["mirror", "bom", str(site_dir("paris-gb200")), "--format", "spdx"])
    assert exit_.value.code == 2


def test_the_lab_installs_the_os_archive_part_of_the_bom_read_from_the_roles():
    f = load_spec(site_dir("lab-b200"))
    roles = Path(__file__).parents[2] / "playbooks" / "roles"

    def role_list(role: str, variable: str) -> list[str]:
        return yaml.safe_load((roles / role / "defaults" / "main.yml").read_text())[variable]

    expected = {"chrony", "e2fsprogs", "mdadm",  # os_baseline, scratch_storage (ext4) of lab-b200
                *role_list("aws_node_identity", "aws_node_identity_packages"), *role_list("munge", "munge_packages"),
                *role_list("slurm", "slurm_client_packages"), *role_list("slurm", "slurm_controller_packages"),
                *role_list("slurm", "slurm_node_packages"), *role_list("slurmdbd", "slurmdbd_packages"),
                # lab-b200 enables monitoring: node exporter everywhere, Prometheus and Alertmanager on the head node
                *role_list("node_exporter", "node_exporter_packages"),
                *role_list("prometheus_server", "prometheus_server_packages")}
    assert node_installs(f) == tuple(sorted(expected))
    installs = site_installs(f)
    assert node_installs(f) == tuple(sorted(w.name for w in installs.packages if w.sources == ("os",)))
    # lab-b200 is HGX on Debian: NVIDIA's driver and Fabric Manager from the CUDA repository, DOCA from DOCA's.
    vendor = {w.name: w.sources[0] for w in installs.packages if w.sources != ("os",)}
    assert vendor["nvidia-open-580"] == vendor["nvidia-fabricmanager-580"] == "cuda"
    assert vendor["doca-ofed"] == "doca" and "nvidia-imex-580" not in vendor
    assert vendor["datacenter-gpu-manager-exporter"] == "cuda"
    assert installs.arch == "amd64"


def test_trainium_site_pins_the_neuron_release_and_the_efa_installer_hash():
    installs = site_installs(load_spec(site_dir("ohio-trn3")))
    pins = {w.name: w.pin for w in installs.packages if w.role == "neuron"}
    assert pins["aws-neuronx-dkms"] == "2.30.2.0"
    efa = next(d for d in installs.downloads if d.name == "aws-efa-installer")
    assert efa.url.endswith(f"aws-efa-installer-{efa.version}.tar.gz") and len(efa.sha256) == 64
    assert "linux-headers-<kernel>" in installs.per_kernel


def test_the_signing_helper_is_aws_s_release_for_the_site_s_architecture_with_its_published_hash(capsys, tmp_path):
    rc, out, err = bom(capsys, paris_copy(tmp_path), "--format", "json")
    assert rc == 0, err
    helper = components(out)["aws_signing_helper"]
    # IAM Roles Anywhere User Guide, the credential helper's download table for 1.5.0: Linux, Aarch64.
    expected = {
        "version": "1.5.0", "architecture": "arm64", "repository": "download", "wanted_by": "aws_node_identity",
        "url": "https://rolesanywhere.amazonaws.com/releases/1.5.0/Aarch64/Linux/aws_signing_helper",
        "sha256": "c01ae38181309a25cb3451c84b3cdaec8e9308ffd0b89015f3c667914050b053"}
    assert {key: helper[key] for key in expected} == expected


def test_a_site_pinning_another_signing_helper_release_gets_it_in_the_bom_and_the_role_variables(write_site):  # noqa: F811
    def pin(data: dict) -> None:
        data["identity"]["signing_helper"] = {"version": "1.7.0", "sha256": "0f" * 32}

    f = load_spec(write_site("paris-gb200", pin))
    helper, = (d for d in site_installs(f).downloads if d.name == "aws_signing_helper")
    assert helper.version == "1.7.0" and helper.sha256 == "0f" * 32 and "/releases/1.7.0/" in helper.url


def test_the_table_marks_a_download_without_a_pinned_hash_as_trusted_on_first_fetch():
    installs = site_installs(load_spec(site_dir("ohio-trn3")))
    rows = {row[0]: row for row in bom_.table_rows(bom_.build("ohio-trn3", installs, []))}
    assert rows["amazon-ssm-agent"][-1] == bom_.NOT_PINNED == "trust on first fetch, not pinned"
    efa = next(d for d in installs.downloads if d.name == "aws-efa-installer")
    assert rows["aws-efa-installer"][-1] == efa.sha256[:12]


def test_the_mirror_carries_the_monitoring_packages_only_where_the_spec_enables_monitoring(write_site):  # noqa: F811
    def monitoring(f) -> dict[str, str]:
        return {w.name: w.role for w in site_installs(f).packages
                if w.role in ("node_exporter", "prometheus_server", "dcgm_exporter")}

    assert monitoring(load_spec(site_dir("paris-gb200"))) == {}
    assert monitoring(load_spec(write_site("paris-gb200", put("monitoring.enabled", True)))) == {
        "prometheus-node-exporter": "node_exporter", "prometheus": "prometheus_server",
        "prometheus-alertmanager": "prometheus_server", "datacenter-gpu-manager-exporter": "dcgm_exporter"}


def test_a_trainium_site_s_mirror_carries_neuron_s_exporter_and_the_client_it_imports(write_site):  # noqa: F811
    f = load_spec(write_site("ohio-trn3", lambda data: data.update(monitoring={"enabled": True})))
    wanted = {w.name: w for w in site_installs(f).packages}
    assert wanted["python3-prometheus-client"].role == "neuron_monitor"
    assert wanted["aws-neuronx-tools"].role == "neuron" and wanted["aws-neuronx-tools"].pin  # the neuron role's pin


def test_dcgm_s_exporter_comes_from_the_cuda_repository_at_the_release_paired_with_dcgm(capsys, tmp_path):
    site = paris_copy(tmp_path)
    data = yaml.safe_load((site / "factory.yaml").read_text())
    data["monitoring"]["enabled"] = True
    (site / "factory.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    _rc, out, _err = bom(capsys, site, "--format", "json")
    # The Ubuntu excerpts hold no Prometheus packages (named missing); the CUDA one holds the exporter.
    assert json.loads(out)["missing"] == [f"{name} is in no index of the mirror"
                                          for name in ("prometheus-node-exporter", "prometheus", "prometheus-alertmanager")]
    exporter = components(out)["datacenter-gpu-manager-exporter"]
    assert (exporter["version"], exporter["repository"], exporter["wanted_by"]) == ("4.6.0-1", "cuda", "dcgm_exporter")
    assert exporter["url"].startswith("https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/sbsa/")
