"""The lab's mirror bundle (aifactory.lab.bundle): which upstreams `mirror build` reads from which stand-in, the spec
copy that names the bundle's key, the role variables that point the nodes at it, and the mirror key's private half
never left behind. The build itself, on the real stand-ins, runs in the lab-b200 rehearsal
(tests/scenarios/test_rehearse.py)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from aifactory.lab import aws, bundle, vendor_repos
from aifactory.mirror.installs import site_installs
from aifactory.node.mirror_keyring import nodes_keyring
from aifactory.node.role_vars import NEURON_REPO, NVIDIA_DOWNLOADS, SIGNING_HELPER_RELEASES
from aifactory.spec import load_spec
from tests.conftest import site_dir

VENDOR = Path("/cache/vendor-repos-x/www")


def test_a_lab_installs_from_a_bundle_only_where_its_nodes_run_this_machine_s_architecture():
    here = vendor_repos.architecture()
    # HGX B200 nodes are x86_64, GB200 trays Grace (arm64): on either machine exactly one of the two gets a bundle.
    assert {site: bundle.applies(load_spec(site_dir(site))) for site in ("lab-b200", "lab-gb200")} == {
        "lab-b200": here == "amd64", "lab-gb200": here == "arm64"}


def test_mirror_build_reads_each_upstream_the_site_uses_from_its_lab_stand_in_and_no_other():
    f = load_spec(site_dir("lab-b200"))
    installs = site_installs(f)
    pairs = dict(bundle.upstreams(f, installs, VENDOR, Path("/aws"), "http://127.0.0.1:9999"))
    assert pairs == {"http://deb.debian.org/debian": "http://127.0.0.1:9999",
                     NVIDIA_DOWNLOADS: str(VENDOR / "nvidia"), "https://linux.mellanox.com/public/repo": str(VENDOR / "nvidia"),
                     "https://s3.eu-central-1.amazonaws.com/amazon-ssm-eu-central-1": "/aws/ssm",
                     SIGNING_HELPER_RELEASES: "/aws/releases"}
    rings = dict(bundle.keyrings(installs, VENDOR))
    assert rings["http://deb.debian.org/debian"] == bundle.DEBIAN_KEYRING
    assert rings[NVIDIA_DOWNLOADS] == VENDOR.parent / vendor_repos.KEY_FILE and NEURON_REPO not in rings
    trn = load_spec(site_dir("ohio-trn3"))
    assert NEURON_REPO in dict(bundle.upstreams(trn, site_installs(trn), VENDOR, Path("/aws"), "/a"))
    assert NVIDIA_DOWNLOADS not in dict(bundle.keyrings(site_installs(trn), VENDOR))


def test_the_bundle_pins_the_signing_helper_stand_in_and_its_upstream_tree_holds_it_where_the_pin_says(tmp_path):
    f = bundle.with_stand_in_helper(load_spec(site_dir("lab-b200")))
    helper, = (d for d in site_installs(f).downloads if d.name == aws.SIGNING_HELPER)
    stand_in = hashlib.sha256((aws.STAND_IN_TOOLS / aws.SIGNING_HELPER).read_bytes()).hexdigest()
    assert helper.version == aws.SIGNING_HELPER_VERSION and helper.sha256 == stand_in
    aws.signing_helper_releases(tmp_path / "releases")
    served = tmp_path / "releases" / helper.url.removeprefix(SIGNING_HELPER_RELEASES + "/")
    assert hashlib.sha256(served.read_bytes()).hexdigest() == stand_in
    # The site as written keeps AWS's release and its published SHA-256 (the role's defaults).
    real, = (d for d in site_installs(load_spec(site_dir("lab-b200"))).downloads if d.name == aws.SIGNING_HELPER)
    assert real.url == f"{SIGNING_HELPER_RELEASES}/1.5.0/X86_64/Linux/aws_signing_helper" and real.sha256 != stand_in


def test_the_bundle_is_built_again_when_what_the_nodes_install_changes():
    f = load_spec(site_dir("lab-b200"))
    upgraded = f.model_copy(update={"software": f.software.model_copy(update={
        "nvidia": f.software.nvidia.model_copy(update={"driver_branch": "575"})})})
    key = bundle.cache_key(site_installs(f), VENDOR)
    assert key == bundle.cache_key(site_installs(load_spec(site_dir("lab-b200"))), VENDOR)
    assert bundle.cache_key(site_installs(upgraded), VENDOR) != key
    assert bundle.cache_key(site_installs(f), Path("/cache/vendor-repos-y/www")) != key


def built_top(tmp_path: Path) -> Path:
    """A bundle folder as ensure() leaves it: the spec copy naming a new key, and a manifest with the agent."""
    f = bundle.with_stand_in_helper(load_spec(site_dir("lab-b200")))
    key = ed25519.Ed25519PrivateKey.generate()
    top = tmp_path / "bundle-lab-b200-x"
    bundle._site_copy(f, key, top / "site")
    (top / "bundle").mkdir()
    (top / "bundle" / "manifest.json").write_text(json.dumps({"site": f.name, "files": [], "downloads": [
        {"name": "amazon-ssm-agent", "path": "apt/amazon-ssm-agent/latest/debian_amd64/amazon-ssm-agent.deb",
         "sha256": "ab" * 32}]}))
    return top


def test_the_spec_copy_names_the_bundle_s_key_and_its_keyring_the_nodes_check(tmp_path):
    top = built_top(tmp_path)
    copy = load_spec(top / "site")
    assert copy.software.mirror_public_key_file == bundle.PUBLIC_KEY
    assert nodes_keyring(copy) == top / "site" / "mirror-key.gpg"  # checked against the public key
    original = load_spec(site_dir("lab-b200"))
    assert copy.identity.signing_helper.version == aws.SIGNING_HELPER_VERSION
    assert copy.model_dump(exclude={"software", "identity"}) == original.model_dump(exclude={"software", "identity"})


def test_the_nodes_are_pointed_at_the_bundle_as_any_site_s_role_variables_would_and_nothing_else_changes(tmp_path):
    top = built_top(tmp_path)
    url = "http://10.77.1.1:18080"
    got = bundle.role_vars_of(top, url)
    keyring = str((top / "site" / "mirror-key.gpg").absolute())
    assert got["os_baseline_apt_mirror"] == f"{url}/apt"
    assert got["nvidia_gpu_repo_url"] == f"{url}/nvidia/compute/cuda/repos"
    assert got["rdma_fabric_doca_repo_url"] == f"{url}/nvidia/doca"
    assert got["aws_node_identity_ssm_agent_url"] == f"{url}/apt/amazon-ssm-agent/latest/debian_amd64/amazon-ssm-agent.deb"
    assert got["aws_node_identity_ssm_agent_checksum"] == "sha256:" + "ab" * 32
    assert got["aws_node_identity_signing_helper_url"] == f"{url}/apt/rolesanywhere/releases"
    for role in ("os_baseline", "nvidia_gpu", "rdma_fabric"):
        assert got[f"{role}_mirror_keyring_src"] == keyring
        assert got[f"{role}_mirror_keyring"] == "/usr/share/keyrings/aifactory-lab-b200-mirror.gpg"
    assert {k for k in got if not k.endswith(("_mirror_keyring", "_mirror_keyring_src"))} == {
        "os_baseline_apt_mirror", "nvidia_gpu_repo_url", "rdma_fabric_doca_repo_url", "aws_node_identity_ssm_agent_url",
        "aws_node_identity_ssm_agent_checksum", "aws_node_identity_signing_helper_url"}


def test_a_refused_build_says_why_and_leaves_no_private_key_behind(tmp_path, monkeypatch):
    f = bundle.with_stand_in_helper(load_spec(site_dir("lab-b200")))
    seen = {}

    def refusing(argv, **kwargs):
        assert argv[:5] == [sys.executable, "-m", "aifactory.cli", "mirror", "build"]  # never bom after a refusal
        key = Path(argv[argv.index("--signing-key") + 1])
        seen["key"], seen["mode"] = key, key.stat().st_mode & 0o777
        seen["key_text"] = key.read_text()
        return subprocess.CompletedProcess(argv, 1, "", "mirror build: reading\nrefused: x.deb: SHA-256 differs\n"
                                                        "error: 1 file(s) refused\n")

    monkeypatch.setattr(bundle, "subprocess", SimpleNamespace(run=refusing, DEVNULL=subprocess.DEVNULL,
                                                              CompletedProcess=subprocess.CompletedProcess))
    monkeypatch.setattr(bundle.aws, "build_ssm_agent_deb", lambda out: out.write_bytes(b"deb"))
    (tmp_path / "building").mkdir()
    with pytest.raises(bundle.BundleError, match="mirror build exited 1: refused: x.deb: SHA-256 differs; error: 1 file"):
        bundle._build(f, site_installs(f), tmp_path / "building", VENDOR, tmp_path / "log")
    assert seen["mode"] == 0o600 and "PRIVATE KEY" in seen["key_text"]
    assert seen["key"].parent.name == ".mirror-key" and not seen["key"].parent.exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and b"PRIVATE KEY" in p.read_bytes()]
    assert not (tmp_path / "building" / "upstream-aws").exists()
    public = (tmp_path / "building" / "site" / bundle.PUBLIC_KEY).read_bytes()
    assert b"PUBLIC KEY" in public and b"PRIVATE" not in public


def test_a_bundle_mirror_verify_refuses_is_not_served_and_the_error_quotes_verify(tmp_path):
    top = built_top(tmp_path)  # its manifest carries no signature: `aifactory mirror verify` refuses it
    with pytest.raises(bundle.BundleError, match=r"mirror verify refused the lab's bundle .*which is not served: "
                                                 r"(refused|error): "):
        bundle.verify(top, tmp_path / "verify.log")
    assert "$ aifactory mirror verify" in (tmp_path / "verify.log").read_text()
