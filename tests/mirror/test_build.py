"""`aifactory mirror build`: a bundle from an upstream stand-in made here, then `mirror verify` on it.

The stand-in holds a tiny .deb-shaped file for every package lab-b200's roles install (read from the roles
through site_installs, so a package a role adds is in it too) plus one dependency, with Packages indexes and
an InRelease listing them, each repository under its own folder, and a stand-in of every file the roles
download (the DOCA key, the SSM agent) under downloads/<n>/; served by http.server on 127.0.0.1 (which
records every path asked for) or read as directories.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import lzma
import shutil
import subprocess
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from aifactory.cli import main
from aifactory.core import openpgp
from aifactory.mirror import build as build_
from aifactory.mirror import manifest
from aifactory.mirror.bom import NOT_PINNED
from aifactory.mirror.installs import role_value, site_installs
from aifactory.node.role_vars import role_vars
from aifactory.spec import load_spec
from tests.conftest import site_dir

DEPENDENCY = "libstand-in1"  # what the first OS package depends on: the closure brings it in
HELPER, HELPER_VERSION = "aws_signing_helper", "1.5.0-test"  # the site fixture pins the stand-in's release


def deb(name: str, version: str) -> bytes:
    return f"!<arch>\naifactory test stand-in of {name} {version}, not a package\n".encode()


def download_bytes(name: str) -> bytes:
    return f"aifactory test stand-in of the download {name}\n".encode()


class StandIn:
    """The upstream repositories of a site, made in a directory: key -> {package: (version, bytes)}."""

    def __init__(self, root: Path, site: Path):
        self.root, self.installs = root, site_installs(load_spec(site))
        self.repos = {r.key: r for r in self.installs.repositories}
        self.packages: dict[str, dict[str, tuple[str, bytes]]] = {key: {} for key in self.repos}
        for w in self.installs.packages:
            version = f"{w.pin}-1" if w.pin else "1.0-1"
            self.packages[w.sources[0]][w.name] = (version, deb(w.name, version))
        self.packages["os"][DEPENDENCY] = ("2.0-1", deb(DEPENDENCY, "2.0-1"))
        self.first_os = next(w.name for w in self.installs.packages if w.sources == ("os",))
        self.downloads = {d.name: download_bytes(d.name) for d in self.installs.downloads}
        self.write()

    def filename(self, key: str, name: str, version: str) -> str:
        file = f"{name}_{version}_{self.installs.arch}.deb"
        return f"pool/main/{name[0]}/{name}/{file}" if self.repos[key].suites else f"./{file}"

    def write(self) -> None:
        """Every repository's files, indexes and InRelease, from self.packages; the downloads, from self.downloads."""
        shutil.rmtree(self.root, ignore_errors=True)
        for key, repo in self.repos.items():
            top = self.root / key
            stanzas = []
            for name, (version, data) in sorted(self.packages[key].items()):
                filename = self.filename(key, name, version)
                (top / filename).parent.mkdir(parents=True, exist_ok=True)
                (top / filename).write_bytes(data)
                depends = f"Depends: {DEPENDENCY} (>= 2.0)\n" if name == self.first_os else ""
                stanzas.append(f"Package: {name}\nVersion: {version}\nArchitecture: {self.installs.arch}\n{depends}"
                               f"Filename: {filename}\nSize: {len(data)}\nSHA256: {hashlib.sha256(data).hexdigest()}\n"
                               "Description: aifactory test stand-in\n")
            text = "\n".join(stanzas).encode()
            if repo.suites:  # the first suite's first component holds everything, the other suites nothing
                for suite in repo.suites:
                    self.index(top / "dists" / suite, f"{repo.components[0]}/binary-{self.installs.arch}/Packages.xz",
                               lzma.compress(text if suite == repo.suites[0] else b""))
            else:
                self.index(top, "Packages.gz", gzip.compress(text))
        for d in self.installs.downloads:
            self.download_path(d.name).parent.mkdir(parents=True, exist_ok=True)
            self.download_path(d.name).write_bytes(self.downloads[d.name])

    def download_path(self, name: str) -> Path:
        number, d = next((n, d) for n, d in enumerate(self.installs.downloads) if d.name == name)
        return self.root / "downloads" / str(number) / d.url.rsplit("/", 1)[1]

    @staticmethod
    def index(directory: Path, path: str, data: bytes) -> None:
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_bytes(data)
        (directory / "InRelease").write_text(
            f"Origin: test stand-in\nSHA256:\n {hashlib.sha256(data).hexdigest()} {len(data)} {path}\n")

    def path_of(self, key: str, name: str) -> Path:
        version, _data = self.packages[key][name]
        return self.root / key / self.filename(key, name, version).removeprefix("./")

    def from_args(self, base: str) -> list[str]:
        repos = [f"{repo.url}={base}/{key}" for key, repo in self.repos.items()]
        downloads = [f"{d.url.rsplit('/', 1)[0]}={base}/downloads/{n}" for n, d in enumerate(self.installs.downloads)]
        return [arg for given in repos + downloads for arg in ("--from", given)]


class Recorder(http.server.SimpleHTTPRequestHandler):
    asked: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).asked.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def site(tmp_path):
    """(lab-b200 naming a mirror key, that key's private half in a file)."""
    key = ed25519.Ed25519PrivateKey.generate()
    target = tmp_path / "site"
    shutil.copytree(site_dir("lab-b200"), target)
    (target / "mirror-key.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    data = yaml.safe_load((target / "factory.yaml").read_text())
    data["software"]["mirror_public_key_file"] = "mirror-key.pub"
    # The signing helper release the upstream stand-in serves (StandIn's bytes for it), pinned as a site pins one.
    data["identity"]["signing_helper"] = {"version": HELPER_VERSION,
                                          "sha256": hashlib.sha256(download_bytes(HELPER)).hexdigest()}
    (target / "factory.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    private = tmp_path / "mirror-key.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return target, private


@pytest.fixture
def upstream(tmp_path, site):
    """(the stand-in, its http base URL, the paths asked of it)."""
    stand_in = StandIn(tmp_path / "upstream", site[0])
    asked: list[str] = []
    handler = type("Handler", (Recorder,), {"asked": asked})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(stand_in.root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield stand_in, f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()
    server.server_close()


def build(capsys, site, out: Path, sources: list[str], *extra: str) -> tuple[int, str]:
    rc = main(["mirror", "build", str(site[0]), "--out", str(out), "--signing-key", str(site[1]), *sources, *extra])
    return rc, capsys.readouterr().err


def verify(capsys, site, bundle: Path) -> tuple[int, str]:
    rc = main(["mirror", "verify", str(site[0]), str(bundle)])
    return rc, capsys.readouterr().err


def debs(asked_or_bundle) -> set[str]:
    if isinstance(asked_or_bundle, Path):
        return {p.name for p in asked_or_bundle.rglob("*.deb")}
    return {Path(p).name for p in asked_or_bundle if p.endswith(".deb")}


def test_a_bundle_built_over_http_verifies_and_is_laid_out_as_the_nodes_sources_name(capsys, tmp_path, site, upstream):
    stand_in, url, asked = upstream
    rc, err = build(capsys, site, tmp_path / "bundle", stand_in.from_args(url))
    assert rc == 0, err
    bundle = tmp_path / "bundle"
    expected = {f"{name}_{version}_amd64.deb" for repo in stand_in.packages.values() for name, (version, _d) in repo.items()}
    assert debs(bundle) == debs(asked) == expected | {"amazon-ssm-agent.deb"}
    # os -> apt/ (software.mirrors.apt), the CUDA and DOCA trees under nvidia/ with the vendors' paths.
    assert (bundle / "apt" / stand_in.filename("os", DEPENDENCY, "2.0-1")).is_file()
    assert (bundle / "nvidia/compute/cuda/repos/debian13/x86_64/cuda-keyring_1.1-1-1_amd64.deb").is_file()
    assert (bundle / "nvidia/doca/3.1.0/debian13/x86_64/doca-ofed_1.0-1_amd64.deb").is_file()
    release = (bundle / "apt/dists/trixie/Release").read_text()
    assert "Valid-Until" not in release and "main/binary-amd64/Packages" in release
    assert "non-free-firmware/binary-amd64/Packages" in release  # every index the sources name, empty or not
    assert f"Filename: {stand_in.filename('os', DEPENDENCY, '2.0-1')}" in (
        bundle / "apt/dists/trixie/main/binary-amd64/Packages").read_text()
    document = json.loads((bundle / manifest.MANIFEST).read_text())
    entry = next(e for e in document["files"] if e["path"].endswith("/doca-ofed_1.0-1_amd64.deb"))
    assert entry["upstream"] == f"{stand_in.repos['doca'].url}/doca-ofed_1.0-1_amd64.deb"
    assert entry["index"] == f"{stand_in.repos['doca'].url}/Packages.gz"
    index = next(i for i in document["indexes"] if i["url"] == entry["index"])
    assert index["release"] == f"{stand_in.repos['doca'].url}/InRelease" and len(index["release_sha256"]) == 64
    assert "mirror build: [1/" in err and "fetching" in err
    assert verify(capsys, site, bundle)[0] == 0


def test_a_bundle_built_from_directories_verifies(capsys, tmp_path, site, upstream):
    stand_in, _url, asked = upstream
    rc, err = build(capsys, site, tmp_path / "bundle", stand_in.from_args(str(stand_in.root)))
    assert rc == 0, err
    assert asked == [] and len(debs(tmp_path / "bundle")) == sum(len(p) for p in stand_in.packages.values()) + 1
    assert verify(capsys, site, tmp_path / "bundle")[0] == 0


def test_an_altered_upstream_file_is_refused_and_a_rerun_fetches_only_it(capsys, tmp_path, site, upstream):
    stand_in, url, asked = upstream
    altered = stand_in.path_of("cuda", "nvidia-open-580")
    good = altered.read_bytes()
    altered.write_bytes(good + b"tampered")
    out = tmp_path / "bundle"
    rc, err = build(capsys, site, out, stand_in.from_args(url))
    assert rc == 1 and f"{altered.name}: SHA-256" in err and "refused, not written" in err
    assert not list(out.rglob(altered.name)) and not list(out.rglob(altered.name + ".part"))
    assert not (out / manifest.MANIFEST).exists()  # nothing signed
    altered.write_bytes(good)
    asked.clear()
    rc, err = build(capsys, site, out, stand_in.from_args(url))
    assert rc == 0, err
    assert debs(asked) == {altered.name}  # the rest was already there with the right hash
    asked.clear()
    rc, err = build(capsys, site, out, stand_in.from_args(url))
    assert rc == 0 and debs(asked) == set() and "already here, kept" in err
    assert verify(capsys, site, out)[0] == 0


def test_an_index_that_does_not_match_its_release_is_refused(capsys, tmp_path, site, upstream):
    stand_in, url, _asked = upstream
    index = stand_in.root / "cuda/Packages.gz"
    index.write_bytes(gzip.compress(gzip.decompress(index.read_bytes()) + b"\n"))
    rc, err = build(capsys, site, tmp_path / "bundle", stand_in.from_args(url))
    assert rc == 1 and f"{stand_in.repos['cuda'].url}/Packages.gz: SHA256" in err
    assert not (tmp_path / "bundle" / manifest.MANIFEST).exists()


def test_a_filename_that_leaves_its_repository_is_refused(capsys, tmp_path, site, upstream):
    stand_in, url, _asked = upstream
    index = stand_in.root / "doca/Packages.gz"
    text = gzip.decompress(index.read_bytes()).decode().replace("Filename: ./doca-ofed", "Filename: ../../../doca-ofed")
    StandIn.index(index.parent, "Packages.gz", gzip.compress(text.encode()))
    rc, err = build(capsys, site, tmp_path / "out" / "bundle", stand_in.from_args(url))
    assert rc == 1 and "doca-ofed has no usable Filename or SHA256; not fetched" in err
    assert not list((tmp_path / "out").rglob("doca-ofed*"))


def test_one_altered_byte_in_the_bundle_is_refused_by_verify(capsys, tmp_path, site, upstream):
    stand_in, url, _asked = upstream
    bundle = tmp_path / "bundle"
    assert build(capsys, site, bundle, stand_in.from_args(url))[0] == 0
    target = next(bundle.rglob("doca-ofed_*.deb"))
    data = bytearray(target.read_bytes())
    data[10] ^= 1
    target.write_bytes(bytes(data))
    rc, err = verify(capsys, site, bundle)
    assert rc == 1 and f"{target.relative_to(bundle).as_posix()}: SHA-256 or size differs" in err


def test_a_delta_holds_only_the_changed_package_and_names_the_previous_manifest(capsys, tmp_path, site, upstream):
    stand_in, url, asked = upstream
    first = tmp_path / "first"
    assert build(capsys, site, first, stand_in.from_args(url))[0] == 0
    stand_in.packages["cuda"]["nvidia-open-580"] = ("1.1-1", deb("nvidia-open-580", "1.1-1"))  # a driver upgrade
    stand_in.write()
    asked.clear()
    delta = tmp_path / "delta"
    rc, err = build(capsys, site, delta, stand_in.from_args(url), "--previous", str(first))
    assert rc == 0, err
    assert debs(delta) == {"nvidia-open-580_1.1-1_amd64.deb"}
    # The SSM agent has no pinned hash: fetched again to see whether it changed; unchanged, it is carried.
    assert debs(asked) == {"nvidia-open-580_1.1-1_amd64.deb", "amazon-ssm-agent.deb"}
    document = json.loads((delta / manifest.MANIFEST).read_text())
    assert document["previous"]["manifest_sha256"] == hashlib.sha256((first / manifest.MANIFEST).read_bytes()).hexdigest()
    carried = {e["path"] for e in document["carried"]}
    assert any(p.endswith("/doca-ofed_1.0-1_amd64.deb") for p in carried)
    assert {"nvidia/doca/GPG-KEY-Mellanox.pub", "apt/amazon-ssm-agent/latest/debian_amd64/amazon-ssm-agent.deb"} <= carried
    assert not (delta / "apt/dists/trixie/main/binary-amd64/Packages").exists()  # unchanged index: carried too
    rc, err = verify(capsys, site, delta)
    assert rc == 0, err
    # A carried file is excused only with the hash its index lists: the delta's own index names the new driver.
    assert "nvidia-open-580_1.0-1_amd64.deb" not in json.dumps(document["carried"])


DOCA_KEY, SSM_AGENT = "GPG-KEY-Mellanox.pub", "amazon-ssm-agent"


@pytest.fixture
def pinned(monkeypatch, upstream):
    """The DOCA key pinned to the stand-in's bytes, as a pin in the catalog or a role gives one (lab-b200 has
    no pinned download); the SSM agent stays unpinned. Returns the DOCA key's stand-in file upstream."""
    stand_in = upstream[0]
    real = build_.site_installs
    digest = hashlib.sha256(stand_in.downloads[DOCA_KEY]).hexdigest()

    def with_pin(f):
        installs = real(f)
        return replace(installs, downloads=tuple(replace(d, sha256=digest) if d.name == DOCA_KEY else d
                                                 for d in installs.downloads))

    monkeypatch.setattr(build_, "site_installs", with_pin)
    return stand_in.download_path(DOCA_KEY)


def test_downloads_lie_where_the_nodes_fetch_them_pinned_or_marked_not_pinned(capsys, tmp_path, site, upstream,
                                                                              pinned):
    stand_in, url, asked = upstream
    bundle = tmp_path / "bundle"
    rc = main(["mirror", "build", str(site[0]), "--out", str(bundle), "--signing-key", str(site[1]),
               *stand_in.from_args(url)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    # The paths the roles ask the site's mirrors for, as the inventory sets them, below the bundle's folders.
    f = load_spec(site_dir("lab-b200"))  # the inventory's own spec (the copy names a key without its keyring)
    site_vars = role_vars(f, {})
    doca_key = role_value("rdma_fabric", "__rdma_fabric_doca_key_url", f.compute.node_os, site_vars, "amd64")
    ssm_agent = site_vars["aws_node_identity_ssm_agent_url"]
    doca_path = "nvidia/" + doca_key.removeprefix(f.software.mirrors.nvidia + "/")
    ssm_path = "apt/" + ssm_agent.removeprefix(f.software.mirrors.apt + "/")
    assert doca_path == "nvidia/doca/GPG-KEY-Mellanox.pub"
    assert (bundle / doca_path).read_bytes() == stand_in.downloads[DOCA_KEY]
    assert (bundle / ssm_path).read_bytes() == stand_in.downloads[SSM_AGENT]
    document = json.loads((bundle / manifest.MANIFEST).read_text())
    downloads = {d["name"]: d for d in document["downloads"]}
    assert downloads[DOCA_KEY]["pinning"] == "pinned" and downloads[DOCA_KEY]["path"] == doca_path
    assert downloads[SSM_AGENT] | {"upstream": ""} == {
        "name": SSM_AGENT, "version": "latest", "architecture": "amd64", "role": "aws_node_identity", "path": ssm_path,
        "upstream": "", "sha256": hashlib.sha256(stand_in.downloads[SSM_AGENT]).hexdigest(), "pinning": NOT_PINNED}
    assert downloads[SSM_AGENT]["upstream"].startswith("https://s3.") and f"{url}/downloads/" not in json.dumps(document)
    files = {e["path"]: e for e in document["files"]}
    assert files[ssm_path]["pinning"] == NOT_PINNED and files[doca_path]["pinning"] == "pinned"
    assert NOT_PINNED in out and f"{ssm_path}: {NOT_PINNED}" in err  # the table and the progress say so
    helper = downloads[HELPER]
    assert helper["pinning"] == "pinned" and helper["version"] == HELPER_VERSION
    assert helper["path"] == ("apt/" + site_vars["aws_node_identity_signing_helper_url"].removeprefix(
        f.software.mirrors.apt + "/") + f"/{HELPER_VERSION}/X86_64/Linux/aws_signing_helper")
    assert (bundle / helper["path"]).read_bytes() == stand_in.downloads[HELPER]
    assert sum(p.startswith("/downloads/") for p in asked) == 3
    assert verify(capsys, site, bundle)[0] == 0


def test_an_altered_pinned_download_is_refused_and_not_written(capsys, tmp_path, site, upstream, pinned):
    stand_in, url, _asked = upstream
    pinned.write_bytes(pinned.read_bytes() + b"tampered")
    bundle = tmp_path / "bundle"
    rc, err = build(capsys, site, bundle, stand_in.from_args(url))
    assert rc == 1 and f"{DOCA_KEY}: SHA-256" in err and "the pin of role rdma_fabric" in err
    assert "refused, not written" in err
    assert not list(bundle.rglob(DOCA_KEY + "*")) and not (bundle / manifest.MANIFEST).exists()


def test_an_interrupted_build_fetches_no_download_again(capsys, tmp_path, site, upstream, pinned):
    stand_in, url, asked = upstream
    bundle = tmp_path / "bundle"
    assert build(capsys, site, bundle, stand_in.from_args(url))[0] == 0
    ssm = next(bundle.rglob("amazon-ssm-agent.deb"))
    ssm.rename(ssm.with_name(ssm.name + ".part"))  # its transfer broke off
    asked.clear()
    rc, err = build(capsys, site, bundle, stand_in.from_args(url))
    assert rc == 0, err
    assert [p for p in asked if p.startswith("/downloads/")] == [
        "/" + stand_in.download_path(SSM_AGENT).relative_to(stand_in.root).as_posix()]
    assert f"nvidia/doca/{DOCA_KEY}: already here, kept" in err
    asked.clear()
    rc, err = build(capsys, site, bundle, stand_in.from_args(url))
    assert rc == 0 and asked and not [p for p in asked if not p.endswith(("Release", "Packages.gz", "Packages.xz"))]
    assert verify(capsys, site, bundle)[0] == 0


@pytest.mark.parametrize("name", [DOCA_KEY, SSM_AGENT])
def test_verify_refuses_an_altered_download(capsys, tmp_path, site, upstream, name):
    stand_in, url, _asked = upstream
    bundle = tmp_path / "bundle"
    assert build(capsys, site, bundle, stand_in.from_args(url))[0] == 0
    target = next(p for p in bundle.rglob(f"{name}*") if p.is_file())
    target.write_bytes(target.read_bytes().replace(b"stand-in", b"stand-iN"))
    rc, err = verify(capsys, site, bundle)
    assert rc == 1 and f"{target.relative_to(bundle).as_posix()}: SHA-256 or size differs" in err


def test_a_previous_bundle_that_does_not_verify_is_bad_input(capsys, tmp_path, site, upstream):
    stand_in, url, _asked = upstream
    first = tmp_path / "first"
    assert build(capsys, site, first, stand_in.from_args(url))[0] == 0
    next(first.rglob("*.deb")).write_bytes(b"altered")
    rc, err = build(capsys, site, tmp_path / "delta", stand_in.from_args(url), "--previous", str(first))
    assert rc == 2 and "--previous" in err and "does not verify" in err


@pytest.mark.parametrize("change, extra, message", [
    ("no key in spec", [], "software.mirror_public_key_file"),
    ("other key", [], "not the private half of software.mirror_public_key_file"),
    ("not a key", [], "not an unencrypted PEM private key"),
    ("", ["--from", "https://example.org/debian=/nonexistent"], "/nonexistent: no such directory"),
    ("", ["--from", "https://example.org/debian=http://127.0.0.1:1/x"], "--from https://example.org/debian: no "
                                                                         "repository of this site"),
    ("", ["--from", "deb.debian.org=/tmp"], "expected UPSTREAM=URL_OR_DIR"),
    ("unreadable upstream", [], "an upstream cannot be read"),
    ("stranger in out", [], "no part of this bundle"),
])
def test_bad_input_exits_2_naming_it(capsys, tmp_path, site, upstream, change, extra, message):
    stand_in, url, _asked = upstream
    sources = stand_in.from_args(url)
    out = tmp_path / "bundle"
    if change == "no key in spec":
        spec = site[0] / "factory.yaml"
        spec.write_text(spec.read_text().replace("mirror_public_key_file: mirror-key.pub", ""))
    elif change == "other key":
        site[1].write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    elif change == "not a key":
        site[1].write_text("not a key\n")
    elif change == "unreadable upstream":
        shutil.rmtree(stand_in.root / "doca")
    elif change == "stranger in out":
        out.mkdir()
        (out / "notes.txt").write_text("someone's file\n")
    try:
        rc, err = build(capsys, site, out, sources, *extra)
    except SystemExit as exit_:  # refused by the option's type, as argparse refuses
        rc, err = exit_.code, capsys.readouterr().err
    assert rc == 2 and message in err
    assert "PRIVATE KEY" not in err


GPGV = shutil.which("gpgv")
needs_gpgv = pytest.mark.skipif(GPGV is None, reason="gpgv is not installed here: it is what checks OpenPGP signatures")


def gpgv(keyring: Path, *files: Path) -> int:
    with tempfile.TemporaryDirectory() as home:
        return subprocess.run([GPGV, "--homedir", home, "--keyring", str(keyring), *map(str, files)],
                              capture_output=True, check=False).returncode


def altered(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert data.count(old) >= 1
    path.write_bytes(data.replace(old, new, 1))


@needs_gpgv
def test_apt_trusts_the_bundle_with_the_mirror_keyring_and_refuses_one_altered_byte(capsys, tmp_path, site, upstream):
    stand_in, url, _asked = upstream
    bundle = tmp_path / "bundle"
    assert build(capsys, site, bundle, stand_in.from_args(url))[0] == 0
    keyring = bundle / "keys/lab-b200-mirror.gpg"
    private = serialization.load_pem_private_key(site[1].read_bytes(), None)
    assert keyring.read_bytes() == openpgp.keyring(private, "lab-b200")
    releases = sorted(bundle.rglob("Release"))
    assert {r.parent.relative_to(bundle).as_posix() for r in releases} >= {
        "apt/dists/trixie", "apt/dists/trixie-updates", "nvidia/compute/cuda/repos/debian13/x86_64"}
    for release in releases:
        inrelease, detached = release.with_name("InRelease"), release.with_name("Release.gpg")
        assert gpgv(keyring, inrelease) == 0 and gpgv(keyring, detached, release) == 0
        assert b"Valid-Until" not in inrelease.read_bytes()
    # A keyring of another key does not verify them; one altered byte is refused.
    other = tmp_path / "other.gpg"
    other.write_bytes(openpgp.keyring(ed25519.Ed25519PrivateKey.generate(), "lab-b200"))
    assert gpgv(other, releases[0].with_name("InRelease")) != 0
    inrelease = releases[0].with_name("InRelease")
    altered(inrelease, b"SHA256:\n ", b"SHA256:\n 0")
    altered(releases[0], b"Architectures: amd64", b"Architectures: arm64")
    assert gpgv(keyring, inrelease) != 0 and gpgv(keyring, releases[0].with_name("Release.gpg"), releases[0]) != 0
    assert verify(capsys, site, bundle)[0] == 1  # and the manifest's hashes refuse them too


def test_mirror_keyring_writes_the_bundles_keyring_beside_the_public_key(capsys, tmp_path, site):
    assert main(["mirror", "keyring", str(site[0]), "--signing-key", str(site[1])]) == 0
    private = serialization.load_pem_private_key(site[1].read_bytes(), None)
    written = site[0] / "mirror-key.gpg"
    assert written.read_bytes() == openpgp.keyring(private, "lab-b200")
    out = capsys.readouterr().out
    assert openpgp.fingerprint(private.public_key()) in out and "PRIVATE" not in out
    site[1].write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    assert main(["mirror", "keyring", str(site[0]), "--signing-key", str(site[1]), "--out", str(tmp_path / "k")]) == 2
    assert "not the private half of software.mirror_public_key_file" in capsys.readouterr().err
    assert not (tmp_path / "k").exists()


def vendor_signed(stand_in: StandIn, vendor: ed25519.Ed25519PrivateKey, detached_for: str = "") -> None:
    """Every stand-in InRelease signed by `vendor`; `detached_for`'s as Release and Release.gpg instead."""
    for inrelease in stand_in.root.rglob("InRelease"):
        text = inrelease.read_text()
        if detached_for and inrelease.is_relative_to(stand_in.root / detached_for):
            inrelease.unlink()
            inrelease.with_name("Release").write_text(text)
            inrelease.with_name("Release.gpg").write_bytes(openpgp.detached(vendor, text.encode()))
        else:
            inrelease.write_bytes(openpgp.clearsign(vendor, text))


@needs_gpgv
def test_upstream_signatures_are_checked_with_the_keyring_given_and_recorded(capsys, tmp_path, site, upstream):
    stand_in, url, _asked = upstream
    vendor = ed25519.Ed25519PrivateKey.generate()
    vendor_signed(stand_in, vendor, detached_for="doca")
    ring = tmp_path / "vendor.asc"  # armored, as vendors publish their keys
    ring.write_text(openpgp.armor(openpgp.keyring(vendor, "vendor stand-in"), "PUBLIC KEY BLOCK"))
    keyed = [arg for key in ("cuda", "doca") for arg in ("--upstream-keyring", f"{stand_in.repos[key].url}={ring}")]
    rc, err = build(capsys, site, tmp_path / "bundle", stand_in.from_args(url), *keyed)
    assert rc == 0, err
    document = json.loads((tmp_path / "bundle" / manifest.MANIFEST).read_text())
    signatures = {i["release"]: i["signature"] for i in document["indexes"]}
    checked = {"checked": True, "key_fingerprint": openpgp.fingerprint(vendor.public_key())}
    assert signatures[f"{stand_in.repos['cuda'].url}/InRelease"] == checked
    assert signatures[f"{stand_in.repos['doca'].url}/Release"] == checked  # Release with Release.gpg
    assert signatures["http://deb.debian.org/debian/dists/trixie/InRelease"] == {
        "checked": False, "why": "not checked (no keyring given)"}


@needs_gpgv
@pytest.mark.parametrize("tamper", ["other key", "altered after signing", "altered Release", "unsigned"])
def test_an_upstream_not_signed_by_its_keyring_is_refused(capsys, tmp_path, site, upstream, tamper):
    stand_in, url, _asked = upstream
    vendor = ed25519.Ed25519PrivateKey.generate()
    vendor_signed(stand_in, vendor, detached_for="doca")
    cuda, doca = stand_in.root / "cuda/InRelease", stand_in.root / "doca/Release"
    if tamper == "other key":
        vendor = ed25519.Ed25519PrivateKey.generate()
    elif tamper == "altered after signing":
        altered(cuda, b"Origin: test stand-in", b"Origin: test stand-iN")
    elif tamper == "altered Release":
        altered(doca, b"Origin: test stand-in", b"Origin: test stand-iN")
    else:
        cuda.write_text(StandIn.__name__)  # no signature at all
    ring = tmp_path / "vendor.gpg"
    ring.write_bytes(openpgp.keyring(vendor, "vendor stand-in"))
    named = stand_in.repos["doca" if tamper == "altered Release" else "cuda"].url
    rc, err = build(capsys, site, tmp_path / "bundle", stand_in.from_args(url),
                    "--upstream-keyring", f"{named}={ring}")
    assert rc == 1 and f"refused: {named}/" in err and "does not verify with the keyring given" in err
    assert "not signed by the keyring given for it; nothing was signed" in err
    assert not (tmp_path / "bundle" / manifest.MANIFEST).exists()


@pytest.mark.parametrize("given, message", [
    ("https://example.org/debian={ring}", "--upstream-keyring https://example.org/debian: no repository"),
    ("{cuda}={junk}", "not an OpenPGP keyring"),
    ("{cuda}", "expected UPSTREAM=FILE"),
])
def test_a_bad_upstream_keyring_exits_2_naming_it(capsys, tmp_path, site, upstream, given, message):
    stand_in, url, _asked = upstream
    (tmp_path / "junk").write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64!\n")
    (tmp_path / "ring.gpg").write_bytes(openpgp.keyring(ed25519.Ed25519PrivateKey.generate(), "x"))
    arg = given.format(ring=tmp_path / "ring.gpg", junk=tmp_path / "junk", cuda=stand_in.repos["cuda"].url)
    try:
        rc, err = build(capsys, site, tmp_path / "bundle", stand_in.from_args(url), "--upstream-keyring", arg)
    except SystemExit as exit_:
        rc, err = exit_.code, capsys.readouterr().err
    assert rc == 2 and message in err


@needs_gpgv
@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt-get: APT itself checks the bundle")
def test_apt_itself_accepts_the_bundle_signed_by_the_mirror_key_only(capsys, tmp_path, site, upstream):
    stand_in, url, _asked = upstream
    bundle = tmp_path / "bundle"
    assert build(capsys, site, bundle, stand_in.from_args(url))[0] == 0

    def apt_update(keyring: Path) -> subprocess.CompletedProcess:
        root = tmp_path / f"apt-{keyring.stem}"
        stanzas = []
        for release in sorted(bundle.rglob("Release")):
            fields = dict(line.split(": ", 1) for line in release.read_text().splitlines() if ": " in line)
            if release.parent.parent.name == "dists":
                where = f"URIs: file://{release.parent.parent.parent}\nSuites: {release.parent.name}\n" \
                        f"Components: {fields['Components']}\n"
            else:
                where = f"URIs: file://{release.parent}/\nSuites: /\n"
            stanzas.append(f"Types: deb\n{where}Signed-By: {keyring}\n")
        (root / "parts").mkdir(parents=True)
        (root / "parts/bundle.sources").write_text("\n".join(stanzas))
        for d in ("state/lists/partial", "cache/archives/partial"):
            (root / d).mkdir(parents=True)
        (root / "status").touch()
        opts = ["-oDir::Etc::SourceList=/dev/null", f"-oDir::Etc::SourceParts={root / 'parts'}",
                f"-oDir::State={root / 'state'}", f"-oDir::State::status={root / 'status'}",
                f"-oDir::Cache={root / 'cache'}", "-oDir::Etc::Preferences=/dev/null",
                f"-oDir::Etc::PreferencesParts={root}", "-oAPT::Architecture=amd64", "-oAPT::Sandbox::User=root"]
        update = subprocess.run(["apt-get", *opts, "update"], capture_output=True, text=True, check=False)
        policy = subprocess.run(["apt-cache", *opts, "policy", DEPENDENCY, "doca-ofed"], capture_output=True,
                                text=True, check=False)
        return subprocess.CompletedProcess(update.args, update.returncode, policy.stdout, update.stderr)

    trusted = apt_update(bundle / "keys/lab-b200-mirror.gpg")
    assert trusted.returncode == 0 and "NO_PUBKEY" not in trusted.stderr and "not signed" not in trusted.stderr, \
        trusted.stderr
    assert "2.0-1" in trusted.stdout and "1.0-1" in trusted.stdout  # both repositories' packages are candidates
    other = tmp_path / "other.gpg"
    other.write_bytes(openpgp.keyring(ed25519.Ed25519PrivateKey.generate(), "lab-b200"))
    refused = apt_update(other)
    assert "NO_PUBKEY" in refused.stderr or "not signed" in refused.stderr, refused.stderr
    assert "2.0-1" not in refused.stdout


def test_the_bom_reads_the_upstreams_from_where_from_says_and_is_valid_cyclonedx(capsys, site, upstream):
    """`mirror bom --from`: the same stand-ins a build reads (the lab runs both on its own stand-in upstreams)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    stand_in, url, asked = upstream
    rc = main(["mirror", "bom", str(site[0]), "--format", "cyclonedx", *stand_in.from_args(url)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(out.out) is None
    names = {c["name"] for c in json.loads(out.out)["components"]}
    assert {name for repo in stand_in.packages.values() for name in repo} <= names
    assert asked and not debs(asked)  # the indexes only: a BOM fetches no package


def test_the_bom_takes_index_copies_or_from_not_both_and_refuses_a_from_no_upstream_is_under(capsys, site, upstream):
    stand_in, url, _asked = upstream
    assert main(["mirror", "bom", str(site[0]), "--from", "https://example.invalid/x=/tmp"]) == 2
    assert "--from https://example.invalid/x: no repository of this site is there" in capsys.readouterr().err
    index = stand_in.root / "doca" / "Packages.gz"
    assert main(["mirror", "bom", str(site[0]), "--index", f"{stand_in.repos['doca'].url}/Packages.gz={index}",
                 *stand_in.from_args(url)]) == 2
    assert "--index and --from" in capsys.readouterr().err
