"""The lab's vendor stand-ins without a lab: the manifest agrees with the roles, the hardware profile and
its faults are pure, the stand-in tools' output parsed by the project's parsers passes on a healthy
profile and fails exactly the fault's checks, and the stand-in repositories are signed so APT accepts them."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from aifactory.lab import hardware, vendor_repos
from aifactory.lab.hardware import FAULTS, PROFILE_PATH, FaultError, node_profile, parse_faults, with_faults
from aifactory.node.parsers.acceptance import evaluate
from aifactory.spec import load_spec
from tests.conftest import site_dir

ROLES = Path(__file__).resolve().parents[2] / "playbooks" / "roles"
TOOL = vendor_repos.TOOL_SOURCE
SITES = ("lab-b200", "paris-gb200", "ohio-trn3")
# tool name as installed -> (observation key, arguments the acceptance role passes, tools key)
CALLS = {"nvidia_smi": ("nvidia-smi", ["-q", "-x"]), "nvlink": ("nvidia-smi", ["nvlink", "-s"]),
         "dcgm": ("dcgmi", ["diag", "-r", "2", "-j"]), "ibstat": ("ibstat", []), "neuron_ls": ("neuron-ls", ["-j"])}
# The tools the acceptance role asks for their --version, by tools key.
VERSION_KEYS = {"nvidia-smi": "nvidia_smi", "dcgmi": "dcgmi", "ibstat": "ibstat", "neuron-ls": "neuron_ls"}


def role_yaml(role: str, path: str) -> dict:
    return yaml.safe_load((ROLES / role / path).read_text())


# --- the manifest ----------------------------------------------------------------------------------
def test_every_manifest_entry_names_its_public_source():
    m = hardware.manifest()
    for repo in ("nvidia_cuda", "doca", "neuron", "efa"):
        assert m[repo]["source"] and m[repo]["url"].startswith("https://")
        for entry in m[repo].get("packages", []):
            assert entry["source"], entry["name"]
    assert len(m["nvidia_cuda"]["driver_versions"]["value"]) >= 2  # an upgrade can be rehearsed
    assert all(v.startswith(m["nvidia_cuda"]["driver_branch"] + ".") for v in m["nvidia_cuda"]["driver_versions"]["value"])


def test_manifest_names_what_the_roles_install():
    m = hardware.manifest()
    gpu, gpu_vars = role_yaml("nvidia_gpu", "defaults/main.yml"), role_yaml("nvidia_gpu", "vars/main.yml")
    assert m["nvidia_cuda"]["keyring"]["version"] == gpu["nvidia_gpu_keyring_package_version"]
    assert m["nvidia_cuda"]["keyring"]["file"] == gpu["nvidia_gpu_repo_keyring"]
    names = {e["name"] for e in m["nvidia_cuda"]["packages"]}
    wanted = (role_yaml("nvidia_gpu", "vars/Debian.yml")["__nvidia_gpu_driver_packages"]
              + gpu_vars["__nvidia_gpu_fabric_manager_packages"] + gpu_vars["__nvidia_gpu_imex_packages"]
              + gpu_vars["__nvidia_gpu_dcgm_packages"] + gpu_vars["__nvidia_gpu_container_toolkit_packages"])
    assert {w.replace("{{ nvidia_gpu_driver_branch }}", "{branch}") for w in wanted} <= names
    rdma = role_yaml("rdma_fabric", "vars/main.yml")
    assert set(rdma["__rdma_fabric_doca_packages"]) <= {e["name"] for e in m["doca"]["packages"]}
    assert rdma["__rdma_fabric_doca_key_url"].endswith("/" + m["doca"]["key"]["path"])
    neuron, neuron_vars = role_yaml("neuron", "defaults/main.yml"), role_yaml("neuron", "vars/main.yml")
    assert neuron_vars["__neuron_release_packages"][m["neuron"]["release"]] == {
        e["name"]: e["version"] for e in m["neuron"]["packages"]}
    assert neuron_vars["__neuron_repo_key_url"].endswith("/" + m["neuron"]["key"]["path"])
    assert role_yaml("neuron", "vars/Debian.yml")["__neuron_repo_suite"] in m["neuron"]["suites"]["value"]
    assert (m["efa"]["version"], m["efa"]["sha256"]) == (neuron["neuron_efa_installer_version"],
                                                         neuron["neuron_efa_installer_sha256"])


# --- profiles and faults (pure) --------------------------------------------------------------------
def site_profile(site: str, node: int = 0) -> tuple[dict, dict]:
    """(healthy profile of the site's node, the expected profile the acceptance role would pass)."""
    f = load_spec(site_dir(site))
    n = f.nodes[node]
    nvidia = f.software.nvidia
    expected = f.platform.expected.model_dump() | {
        "driver_branch": str(nvidia.driver_branch) if nvidia else "", "driver_version": (nvidia.driver_version or "") if nvidia else "",
        "network_fabric": f.network.fabric, "dcgm_diag_level": f.platform.expected.dcgm_diag_level}
    return node_profile(f.platform, f.name, n.name, n.rack), expected


def test_profile_follows_the_platform_catalog():
    hw, _ = site_profile("lab-b200")
    assert [g["name"] for g in hw["gpus"]] == ["NVIDIA B200"] * 8
    assert all(len(g["nvlinks"]) == hardware.NVLINKS_PER_GPU for g in hw["gpus"])
    compute = [p for p in hw["ib_ports"] if p["compute"]]
    assert len(compute) == 8 and {p["rate"] for p in compute} == {400}
    assert hw["neuron_devices"] == [] and hw["driver_version"] is None
    trn, _ = site_profile("ohio-trn3")
    assert len(trn["neuron_devices"]) == 4 and trn["gpus"] == [] and trn["ib_ports"] == []
    # NVL72: every tray of a rack is in the rack's NVLink domain; HGX: each node is its own.
    a, _ = site_profile("paris-gb200", 0)
    b, _ = site_profile("paris-gb200", 1)
    assert a["gpus"][0]["cluster_uuid"] == b["gpus"][0]["cluster_uuid"]
    assert site_profile("lab-b200", 0)[0]["gpus"][0]["cluster_uuid"] != site_profile("lab-b200", 1)[0]["gpus"][0]["cluster_uuid"]


def test_a_fault_is_a_pure_change_of_the_profile():
    hw, _ = site_profile("lab-b200")
    before = json.dumps(hw, sort_keys=True)
    faulty = with_faults(hw, ["gpu-missing", "ib-port-slow"])
    assert json.dumps(hw, sort_keys=True) == before
    assert len(faulty["gpus"]) == 7 and faulty["faults"] == ["gpu-missing", "ib-port-slow"]
    assert [p["rate"] for p in faulty["ib_ports"] if p["compute"]][:2] == [200, 400]
    assert with_faults(hw, ["driver-off-pin"], "580", "580.95.05")["driver_version"] == "580.105.08"
    assert with_faults(hw, ["driver-off-pin"], "580", "")["driver_version"].split(".")[0] != "580"


def test_fault_options_are_checked_against_the_site():
    f = load_spec(site_dir("lab-b200"))
    names = [n.name for n in f.nodes]
    assert parse_faults([f"{names[1]}:nvlink-down", f"{names[1]}:ib-port-down"], names, f.platform) == {
        names[1]: ["nvlink-down", "ib-port-down"]}
    for bad, says in ((f"{names[0]}:melted", "is not NODE:KIND"), ("nvlink-down", "is not NODE:KIND"),
                      ("lab-b200-r09-n01:gpu-missing", "is no node of this site"),
                      (f"{names[0]}:neuron-device-missing", "does not apply to nvidia-hgx-b200")):
        with pytest.raises(FaultError, match=says) as err:
            parse_faults([bad], names, f.platform)
        assert str(err.value).startswith("--fault: ")


# --- the stand-in tools, parsed by the project's parsers -------------------------------------------
def load_tool():
    """The stand-in tool's source as a module (what the packages install under each tool's name)."""
    spec = importlib.util.spec_from_file_location("aifactory_lab_stand_in", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STAND_IN = load_tool()


def run_tool(tmp_path: Path, hw: dict, name: str, args: list[str], driver: str = "580.105.08") -> subprocess.CompletedProcess:
    """The stand-in tool called by `name` (in this process), reading the profile and driver version from files."""
    (tmp_path / "hardware.json").write_text(json.dumps(hw))
    (tmp_path / "driver-version").write_text(driver + "\n")
    STAND_IN.PROFILE, STAND_IN.DRIVER_VERSION_FILE = tmp_path / "hardware.json", tmp_path / "driver-version"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = STAND_IN.main([f"/usr/bin/{name}", *args])
    return subprocess.CompletedProcess([name, *args], rc, out.getvalue(), err.getvalue())


def observations(tmp_path: Path, hw: dict, expected: dict, driver: str = "580.105.08") -> dict:
    """What the acceptance role collects on a stand-in node: each tool's output and --version, the
    fabric service running (stopped where the profile has the fault that stops it, as the lab does on the running
    node) and its package at the driver package's version."""
    obs: dict = {"checks_without_kernel": [], "tool_versions": {}, "tools": {}}
    for key, (name, args) in CALLS.items():
        result = run_tool(tmp_path, hw, name, args, driver)
        obs[key] = {"rc": result.returncode, "stdout": result.stdout, "stderr": result.stderr}
    for name, key in VERSION_KEYS.items():
        obs["tool_versions"][key] = run_tool(tmp_path, hw, name, ["--version"], driver).stdout
        obs["tools"][key] = True
    unit = "nvidia-fabricmanager.service" if expected.get("fabric_manager") else "nvidia-imex.service"
    obs["services"] = {unit: {"state": "stopped" if "fabric-service-down" in hw.get("faults", []) else "running"}}
    obs["packages"] = {"nvidia-fabricmanager-580": f"{driver}-1"} if expected.get("fabric_manager") else {}
    obs["imex_channel"] = True
    return obs


def test_every_stand_in_tool_says_what_it_is(tmp_path):
    """Run as a node runs it: the script under each tool's name, the profile from the environment."""
    hw, _ = site_profile("lab-b200")
    (tmp_path / "hardware.json").write_text(json.dumps(hw))
    env = {**os.environ, "AIFACTORY_LAB_HARDWARE": str(tmp_path / "hardware.json")}
    for name in (*VERSION_KEYS, "nv-fabricmanager", "nvidia-imex", "nvidia-persistenced", "nv-hostengine", "nvidia-ctk"):
        exe = tmp_path / name
        shutil.copyfile(TOOL, exe)
        exe.chmod(0o755)
        for flag in ("--version", "--help"):
            out = subprocess.run([sys.executable, str(exe), flag], capture_output=True, text=True, env=env)
            assert out.returncode == 0 and "aifactory lab stand-in" in out.stdout and "not the vendor's program" in out.stdout
    smi = subprocess.run([sys.executable, str(tmp_path / "nvidia-smi"), "nvlink", "-s"], capture_output=True, text=True, env=env)
    assert smi.returncode == 0 and smi.stdout.count("GB/s") == 8 * hardware.NVLINKS_PER_GPU


@pytest.mark.parametrize("site", SITES)
def test_a_healthy_profile_passes_every_tool_check(tmp_path, site):
    hw, expected = site_profile(site)
    result = evaluate(expected, observations(tmp_path, hw, expected))
    assert result["result"] == "pass", [c for c in result["checks"] if c["status"] != "pass"]
    # Every check read a stand-in tool's output, except the IMEX channel's (a device node, no tool).
    assert [c["name"] for c in result["checks"] if not c["stand_in"]] in ([], ["imex_channel"])


def test_other_nvidia_smi_forms(tmp_path):
    hw, _ = site_profile("lab-b200")
    listed = run_tool(tmp_path, hw, "nvidia-smi", ["-L"]).stdout.splitlines()
    assert len(listed) == 8 and listed[0].startswith("GPU 0: NVIDIA B200 (UUID: GPU-")
    csv = run_tool(tmp_path, hw, "nvidia-smi", ["--query-gpu=index,name,driver_version", "--format=csv,noheader"])
    assert csv.stdout.splitlines()[1] == "1, NVIDIA B200, 580.105.08"
    gone = run_tool(tmp_path, with_faults(hw, ["gpu-missing"] * 8), "nvidia-smi", ["-q", "-x"])
    assert gone.returncode != 0 and "No devices were found" in gone.stderr


@pytest.mark.parametrize("site,kind", [(site, kind) for site in SITES for kind in FAULTS
                                       if FAULTS[kind].applies(load_spec(site_dir(site)).platform)])
def test_each_fault_fails_exactly_its_checks(tmp_path, site, kind):
    hw, expected = site_profile(site)
    faulty = with_faults(hw, [kind], expected["driver_branch"], expected["driver_version"] or None)
    result = evaluate(expected, observations(tmp_path, faulty, expected))
    failed = {c["name"] for c in result["checks"] if c["status"] == "fail"}
    assert failed == FAULTS[kind].fails(expected), result["checks"]
    # A bandwidth fault (nvlink-bw-low, ib-bw-low) fails no hardware check: performance tiers see it. An XID or
    # thermal throttling fails none either (no acceptance check reads XIDs or clock event reasons): alerts see them.
    assert result["result"] == ("fail" if failed else "pass") and not any(c["status"] == "skipped" for c in result["checks"])
    assert failed or kind in ("nvlink-bw-low", "ib-bw-low", "xid-error", "thermal-throttling")


def test_faults_that_do_not_fit_a_platform_are_refused():
    trn = load_spec(site_dir("ohio-trn3")).platform
    assert not FAULTS["gpu-missing"].applies(trn) and not FAULTS["ib-port-down"].applies(trn)
    assert not FAULTS["neuron-device-missing"].applies(load_spec(site_dir("lab-b200")).platform)


# --- the repositories ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    top = tmp_path_factory.mktemp("vendor")
    vendor_repos.build(top / "www", top / "gnupg", "amd64")
    return top


def test_every_repository_is_signed_by_the_lab_key(repos):
    key = repos / vendor_repos.KEY_FILE
    releases = sorted((repos / "www").rglob("InRelease"))
    assert len(releases) == 3 + 3 + 2  # CUDA and DOCA per distro directory, Neuron per suite
    for inrelease in releases:
        ok = subprocess.run(["gpgv", "--keyring", str(key), str(inrelease)], capture_output=True, text=True)
        assert ok.returncode == 0, (inrelease, ok.stderr)
        detached = subprocess.run(["gpgv", "--keyring", str(key), str(inrelease.with_name("Release.gpg")),
                                   str(inrelease.with_name("Release"))], capture_output=True)
        assert detached.returncode == 0
    tampered = repos / "tampered"
    tampered.write_text(releases[0].read_text().replace("Packages", "Packagez", 1))
    assert subprocess.run(["gpgv", "--keyring", str(key), str(tampered)], capture_output=True).returncode != 0


def test_keys_are_delivered_where_the_roles_fetch_them(repos):
    www = repos / "www"
    cuda = www / vendor_repos.cuda_dir("debian12", "amd64")
    keyring = subprocess.run(["dpkg-deb", "-c", str(cuda / "cuda-keyring_1.1-1_all.deb")], capture_output=True, text=True).stdout
    assert "./usr/share/keyrings/cuda-archive-keyring.gpg" in keyring and "./etc/apt/sources.list.d/cuda-debian12-x86_64.list" in keyring
    assert (www / "nvidia/doca/GPG-KEY-Mellanox.pub").read_text().startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert (www / "neuron/GPG-PUB-KEY-AMAZON-AWS-NEURON.PUB").read_text().startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    for distro in ("debian12", "debian13"):  # the lab's base moves from Debian 12 to 13: both are served
        assert (www / vendor_repos.cuda_dir(distro, "amd64") / "InRelease").is_file()
        assert (www / vendor_repos.doca_dir(distro, "amd64") / "InRelease").is_file()


def test_packages_hold_stand_ins_at_both_driver_versions(repos):
    cuda = repos / "www" / vendor_repos.cuda_dir("debian12", "amd64")
    index = (cuda / "Packages").read_text()
    for version in hardware.manifest()["nvidia_cuda"]["driver_versions"]["value"]:
        assert f"Package: nvidia-open-580\nVersion: {version}-1\n" in index
        assert f"Package: nvidia-fabricmanager-580\nVersion: {version}-1\n" in index
    deb = cuda / "nvidia-open-580_580.95.05-1_amd64.deb"
    unpacked = repos / "unpacked"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
    assert (unpacked / "usr/bin/nvidia-smi").read_bytes() == TOOL.read_bytes()
    assert (unpacked / vendor_repos.DRIVER_VERSION_FILE.lstrip("/")).read_text() == "580.95.05\n"
    assert not (unpacked / "dev").exists()  # no device nodes pretending to be GPUs
    assert "aifactory lab stand-in" in subprocess.run(["dpkg-deb", "-f", str(deb), "Description"],
                                                      capture_output=True, text=True).stdout


def test_the_performance_stand_ins_ship_in_the_packages_that_carry_the_real_tools(repos, tmp_path):
    """ib_write_bw in perftest (a doca-ofed dependency), all_reduce_perf in nccl-tests (the site-built package's
    stand-in), nccom-test in aws-neuronx-tools: the stand-in tool under each name."""
    www = repos / "www"
    debs = {www / vendor_repos.doca_dir("debian13", "amd64") / "perftest_25.07+lab.stand.in-1_amd64.deb": "usr/bin/ib_write_bw",
            www / vendor_repos.cuda_dir("debian13", "amd64") / "nccl-tests_0~lab.stand.in-1_amd64.deb":
                "usr/bin/all_reduce_perf",
            www / "neuron/pool/main/a/aws-neuronx-tools_2.32.28.0_amd64.deb": "opt/aws/neuron/bin/nccom-test"}
    for number, (deb, tool) in enumerate(debs.items()):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path / str(number))], check=True)
        assert (tmp_path / str(number) / tool).read_bytes() == TOOL.read_bytes()
    doca = (www / vendor_repos.doca_dir("debian13", "amd64") / "Packages").read_text()
    assert "Package: doca-ofed\nVersion: 3.1.0-091000\n" in doca and "Depends: infiniband-diags, perftest\n" in doca


def test_efa_installer_is_a_reproducible_stand_in(repos):
    tarball = repos / "www" / vendor_repos.efa_tarball()
    assert tarball.read_bytes() == vendor_repos.efa_installer()
    with tarfile.open(tarball) as tar:
        script = tar.extractfile("aws-efa-installer/efa_installer.sh").read().decode()
    assert "aifactory lab stand-in" in script


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt-get")
def test_apt_accepts_the_repositories_with_the_delivered_keys(repos, tmp_path):
    """APT itself, on this machine in a private directory tree: signatures checked, both driver versions seen."""
    www = repos / "www"
    keyring = tmp_path / "cuda-archive-keyring.gpg"
    subprocess.run(["dpkg-deb", "-x", str(www / vendor_repos.cuda_dir("debian12", "amd64") / "cuda-keyring_1.1-1_all.deb"),
                    str(tmp_path / "kr")], check=True)
    shutil.copyfile(tmp_path / "kr/usr/share/keyrings/cuda-archive-keyring.gpg", keyring)
    shutil.copyfile(www / "nvidia/doca/GPG-KEY-Mellanox.pub", tmp_path / "doca.asc")
    shutil.copyfile(www / "neuron/GPG-PUB-KEY-AMAZON-AWS-NEURON.PUB", tmp_path / "neuron.asc")
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    (parts / "vendors.sources").write_text(
        f"Types: deb\nURIs: file://{www / vendor_repos.cuda_dir('debian12', 'amd64')}/\nSuites: /\nSigned-By: {keyring}\n\n"
        f"Types: deb\nURIs: file://{www / vendor_repos.doca_dir('debian12', 'amd64')}/\nSuites: ./\nSigned-By: {tmp_path / 'doca.asc'}\n\n"
        f"Types: deb\nURIs: file://{www / 'neuron'}\nSuites: noble\nComponents: main\nSigned-By: {tmp_path / 'neuron.asc'}\n")
    for d in ("state/lists/partial", "cache/archives/partial"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "status").touch()
    opts = [f"-oDir::Etc::SourceList=/dev/null", f"-oDir::Etc::SourceParts={parts}", f"-oDir::State={tmp_path / 'state'}",
            f"-oDir::State::status={tmp_path / 'status'}", f"-oDir::Cache={tmp_path / 'cache'}",
            "-oDir::Etc::Preferences=/dev/null", f"-oDir::Etc::PreferencesParts={tmp_path}", "-oAPT::Architecture=amd64"]
    update = subprocess.run(["apt-get", *opts, "update"], capture_output=True, text=True)
    assert update.returncode == 0 and "NO_PUBKEY" not in update.stderr and "not signed" not in update.stderr, update.stderr
    policy = subprocess.run(["apt-cache", *opts, "policy", "nvidia-open-580", "doca-ofed", "aws-neuronx-tools"],
                            capture_output=True, text=True).stdout
    assert "580.95.05-1" in policy and "580.105.08-1" in policy and "3.1.0-091000" in policy and "2.32.28.0" in policy


def test_a_real_tools_output_is_not_marked_stand_in(tmp_path):
    hw, expected = site_profile("lab-b200")
    obs = observations(tmp_path, hw, expected)
    real = obs | {"tool_versions": {key: "NVIDIA-SMI version  : 580.105.08" for key in obs["tool_versions"]}}
    assert not any(c["stand_in"] for c in evaluate(expected, real)["checks"])


def test_the_lab_points_the_roles_at_paths_the_repositories_have(repos):
    """The role settings the lab gives its nodes, joined as the roles join them (vars/main.yml), name files that exist."""
    www = repos / "www"
    m = hardware.manifest()
    v = vendor_repos.role_vars(str(www), www, "amd64", m["doca"]["version"])
    for distro in ("debian12", "debian13"):
        cuda = Path(v["nvidia_gpu_repo_url"]) / distro / v["nvidia_gpu_repo_arch"]
        assert (cuda / f"cuda-keyring_{m['nvidia_cuda']['keyring']['version']}_all.deb").is_file()
        assert (Path(v["rdma_fabric_doca_repo_url"]) / m["doca"]["version"] / distro / v["rdma_fabric_doca_arch"] / "InRelease").is_file()
    assert (Path(v["rdma_fabric_doca_repo_url"]) / m["doca"]["key"]["path"]).is_file()
    assert (Path(v["neuron_repo_url"]) / m["neuron"]["key"]["path"]).is_file()
    assert (Path(v["neuron_repo_url"]) / "dists" / role_yaml("neuron", "vars/Debian.yml")["__neuron_repo_suite"] / "InRelease").is_file()
    efa = Path(v["neuron_efa_installer_url"]) / m["efa"]["tarball"]
    assert hashlib.sha256(efa.read_bytes()).hexdigest() == v["neuron_efa_installer_sha256"] != m["efa"]["sha256"]
    assert (v["nvidia_gpu_apt_arch"], v["rdma_fabric_apt_arch"], v["neuron_apt_arch"]) == ("amd64",) * 3
    assert "rdma_fabric_doca_repo_url" not in vendor_repos.role_vars(str(www), www, "amd64", "")  # rdma-core: no DOCA


def test_the_lab_polls_the_stand_in_dcgm_diagnostic_every_second_not_at_the_roles_pace(tmp_path):
    """The role polls a level-2 diagnostic every 30 s; the stand-in answers at once."""
    efa = tmp_path / vendor_repos.efa_tarball()
    efa.parent.mkdir(parents=True)
    efa.write_bytes(b"stand-in EFA installer")
    settings = vendor_repos.role_vars("http://192.0.2.1", tmp_path, "amd64", "")
    options = role_yaml("acceptance", "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert settings["acceptance_dcgm_diag_poll"] == 1 and options["acceptance_dcgm_diag_poll"]["type"] == "int"


@pytest.mark.parametrize("command", ["lab up", "rehearse"])
def test_a_bad_fault_option_exits_2_naming_it_before_anything_starts(command, capsys):
    from aifactory.cli import main

    rc = main([*command.split(), str(site_dir("lab-b200")), "--fault", "lab-b200-r001-n09:gpu-missing"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: --fault: 'lab-b200-r001-n09' is no node of this site") and "Traceback" not in err


@pytest.mark.parametrize("site, option, says", [
    ("lab-b200", "lab-b200-r001-n02:nvlink-bw-low",
     "--fault-in-service: nvlink-bw-low raises no alert (a bandwidth shortfall with every link up"),
    ("lab-b200", "lab-b200-r001-n09:xid-error", "--fault-in-service: 'lab-b200-r001-n09' is no node of this site"),
    ("lab-gb200", "lab-gb200-r001-n03:xid-error", "--fault-in-service: lab-gb200-r001-n03 would not boot"),
    ("paris-gb200", "paris-gb200-r001-n01:xid-error", "--fault-in-service: paris-gb200 has no monitoring stage"),
    ("lab-b200", "lab-b200-r001-n02:neuron-device-missing", "--fault-in-service: neuron-device-missing does not apply"),
])
def test_a_bad_in_service_fault_exits_2_naming_it_before_anything_starts(site, option, says, capsys):
    """A fault in service is caught by monitoring alone: a kind no alert sees, a node the lab leaves out, or a spec
    without the monitoring stage is refused before a lab starts."""
    from aifactory.cli import main

    rc = main(["rehearse", str(site_dir(site)), "--fault-in-service", option])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"error: {says}") and "Traceback" not in err, err


@pytest.mark.parametrize("command", ["lab up", "rehearse"])
def test_a_fault_that_stops_a_service_is_refused_at_lab_up(command, capsys):
    """The bring-up starts the fabric's service: stopped before it, the bring-up would start it again."""
    from aifactory.cli import main

    rc = main([*command.split(), str(site_dir("lab-gb200")), "--fault", "lab-gb200-r001-n01:fabric-service-down"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: --fault: fabric-service-down: it stops a service the bring-up starts, so "
                                      "it can only appear once the factory runs: give it with `rehearse "
                                      "--fault-in-service`"), err


def test_a_fault_in_service_rewrites_the_running_node_s_profile_whole(tmp_path):
    from aifactory.lab import lifecycle
    from aifactory.lab.state import LabState
    from aifactory.lab.traces import STATE_FILE

    f = load_spec(site_dir("lab-b200"))
    node = f.nodes[1]
    state = LabState(site=f.name, root=tmp_path / "lab")
    state.nodes[node.name] = {"address": node.address, "root": str(tmp_path / "root"), "faults": ["nvlink-down"]}
    lifecycle.inject_faults(f, state, {node.name: ["xid-error"]})
    profile = json.loads((tmp_path / "root" / PROFILE_PATH.lstrip("/")).read_text())
    assert profile["faults"] == ["nvlink-down", "xid-error"]  # the faults it booted with stay
    assert profile["gpus"][0]["xids"] == {"119": 1} and profile["gpus"][0]["nvlinks"][0] is None
    saved = json.loads((state.dir / STATE_FILE).read_text())
    assert saved["nodes"][node.name]["faults"] == ["nvlink-down", "xid-error"]
    assert [p.name for p in (tmp_path / "root" / PROFILE_PATH.lstrip("/")).parent.iterdir()] == ["hardware.json"]


@pytest.mark.parametrize("site, unit", [("lab-gb200", "nvidia-imex.service"), ("lab-b200", "nvidia-fabricmanager.service")])
def test_a_fabric_service_fault_in_service_stops_the_platform_s_unit_on_the_node(tmp_path, monkeypatch, site, unit):
    from aifactory.lab import lifecycle
    from aifactory.lab.state import LabState

    f = load_spec(site_dir(site))
    node = f.nodes[0]
    state = LabState(site=f.name, root=tmp_path / "lab")
    state.nodes[node.name] = {"address": node.address, "root": str(tmp_path / "root"), "faults": []}
    ran, rc = [], {"value": 0}

    def ssh(state, address, command, timeout):
        ran.append((address, command))
        return subprocess.CompletedProcess(["ssh"], rc["value"], "", "Failed to stop: unit not loaded")
    monkeypatch.setattr(lifecycle.nodes, "ssh", ssh)
    lifecycle.inject_faults(f, state, {node.name: ["fabric-service-down"]})
    assert ran == [(node.address, f"systemctl stop {unit}")]
    assert json.loads((tmp_path / "root" / PROFILE_PATH.lstrip("/")).read_text())["faults"] == ["fabric-service-down"]
    lifecycle.inject_faults(f, state, {node.name: ["xid-error"]})  # a hardware fault stops nothing
    assert len(ran) == 1
    rc["value"] = 5
    with pytest.raises(RuntimeError, match=f"{node.name}: systemctl stop {unit} exited 5: Failed to stop"):
        lifecycle.inject_faults(f, state, {node.name: ["fabric-service-down"]})
    assert FAULTS["fabric-service-down"].fails({"fabric": "imex"}) == {"imex_service"}
    assert FAULTS["fabric-service-down"].fails({"fabric": "fabric-manager", "fabric_manager": True}) == {
        "fabric_manager_service"}
