"""Stand-in vendor repositories: NVIDIA's CUDA and DOCA trees, AWS's Neuron repository and EFA installer.

Built from the manifest (aifactory/catalog/vendor_packages.yaml) with the vendors' paths, package names,
versions and keyring delivery, so the roles install on a lab node exactly as on a real one: the
cuda-keyring .deb at each CUDA repository's root installs /usr/share/keyrings/cuda-archive-keyring.gpg;
GPG-KEY-Mellanox.pub and GPG-PUB-KEY-AMAZON-AWS-NEURON.PUB sit where the roles fetch them. Every
repository is signed (InRelease, Release.gpg) with a key the lab generates (gpg in batch mode); APT
verifies it as it would the vendor's, no `trusted=yes`. The packages hold aifactory lab stand-ins
(aifactory/lab/stand_in_tools/stand_in.py under each tool's name, systemd units for the daemons), never
a vendor's binary, and say so in their descriptions.

Lab difference: the packages are built for the controller's architecture (lab nodes are containers of
it), and only that architecture's directories exist (on an x86_64 controller a GB200 site's `sbsa`
and `arm64-sbsa` are served as `x86_64`; lifecycle.node_role_vars points the roles there).
Built once per (manifest, tool sources, architecture) under the lab cache and served by Python's
http.server on the lab bridge's gateway, beside the Debian mirror stand-in.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from email.utils import formatdate
from pathlib import Path

from aifactory.lab import procs
from aifactory.lab.base import CACHE_ROOT
from aifactory.lab.hardware import MANIFEST, manifest
from aifactory.lab.state import LabState

TOOL_SOURCE = Path(__file__).parent / "stand_in_tools" / "stand_in.py"
KEY_UID = "aifactory lab vendor stand-in (signs the lab's stand-in repositories only) <vendor-stand-in@lab.aifactory.invalid>"
MAINTAINER = "aifactory lab <vendor-stand-in@lab.aifactory.invalid>"
DRIVER_VERSION_FILE = "/usr/lib/aifactory-lab/nvidia-driver-version"
CUDA_ARCH = {"amd64": "x86_64", "arm64": "sbsa"}  # Debian architecture -> CUDA repository directory
DOCA_ARCH = {"amd64": "x86_64", "arm64": "arm64-sbsa"}  # -> DOCA repository directory
KEY_FILE = "aifactory-lab-vendor-key.gpg"
BUILD_TOOLS = ("gpg", "gpgconf", "dpkg-deb")  # the lab's public key, binary, beside the served tree (tests, gpgv)


class VendorRepoError(RuntimeError):
    """A stand-in repository could not be built; the message says which step."""


def architecture() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True, text=True).stdout.strip()


def cache_key(arch: str) -> str:
    """Changes with the manifest, the stand-in tools, this builder and the architecture."""
    digest = hashlib.sha256(arch.encode())
    for source in (MANIFEST, TOOL_SOURCE, Path(__file__)):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


# --- paths the roles ask for (role_vars' URLs + the roles' directory rules) ----------------------------
def cuda_dir(distro: str, arch: str) -> str:
    return f"nvidia/compute/cuda/repos/{distro}/{CUDA_ARCH[arch]}"


def doca_dir(distro: str, arch: str) -> str:
    return f"nvidia/doca/{manifest()['doca']['version']}/{distro}/{DOCA_ARCH[arch]}"


def efa_tarball() -> str:
    return f"neuron/{manifest()['efa']['tarball']}"


def pool_dir(served: Path) -> Path:
    """Where every stand-in package is built, beside the served tree `served`."""
    return served.parent / "pool"


def cuda_package(served: Path, name: str, arch: str) -> Path:
    """The built .deb of the CUDA stand-in package `name` (a manifest entry without a driver version)."""
    entry = next(e for e in manifest()["nvidia_cuda"]["packages"] if e["name"] == name)
    return pool_dir(served) / deb_filename({"name": name, "version": entry["version"], "arch": arch})


# --- packages ------------------------------------------------------------------------------------
def _fill(text: str, branch: str, driver: str) -> str:
    return text.replace("{branch}", branch).replace("{driver}", driver)


def package_specs(arch: str) -> dict[str, list[dict]]:
    """Repository -> the packages to build: {name, version, arch, depends, files {path: (bytes, mode)}, description}."""
    m = manifest()
    tool = TOOL_SOURCE.read_bytes()

    def spec(entry: dict, branch: str = "", driver: str = "") -> dict:
        name, version = _fill(entry["name"], branch, driver), _fill(entry["version"], branch, driver)
        files: dict[str, tuple[bytes, int]] = {path: (tool, 0o755) for path in entry.get("tools", [])}
        for unit, program in (entry.get("services") or {}).items():
            files[program] = (tool, 0o755)
            files[f"/usr/lib/systemd/system/{unit}.service"] = (
                f"[Unit]\nDescription={unit} (aifactory lab stand-in, not the vendor's daemon)\n\n"
                f"[Service]\nExecStart={program}\n\n[Install]\nWantedBy=multi-user.target\n".encode(), 0o644)
        for path, text in (entry.get("files") or {}).items():
            files[path] = (text.encode(), 0o644)
        if entry.get("driver"):
            files[DRIVER_VERSION_FILE] = (f"{driver}\n".encode(), 0o644)
        files[f"/usr/share/doc/{name}/README.aifactory-lab"] = (
            f"{name} {version}: aifactory lab stand-in. It holds no vendor software.\n"
            f"Name and version as published: {entry['source']}\n".encode(), 0o644)
        return {"name": name, "version": version, "arch": arch, "files": files,
                "depends": [_fill(d, branch, driver) for d in entry.get("depends", [])],
                "description": f"aifactory lab stand-in for {name} (no vendor software inside)"}

    cuda = m["nvidia_cuda"]
    branch = cuda["driver_branch"]
    built: list[dict] = []
    for entry in cuda["packages"]:
        versions = cuda["driver_versions"]["value"] if "{driver}" in entry["version"] else [""]
        built += [spec(entry, branch, driver) for driver in versions]
    return {"cuda": built,
            "doca": [spec(e) for e in m["doca"]["packages"]],
            "neuron": [spec(e) for e in m["neuron"]["packages"]]}


def keyring_spec(distro: str, arch: str, keyring: bytes) -> dict:
    """cuda-keyring: NVIDIA's keyring (here the lab's key) and the source for NVIDIA's own server that the
    nvidia_gpu role replaces with its own."""
    k = manifest()["nvidia_cuda"]["keyring"]
    url = f"{manifest()['nvidia_cuda']['url']}/{distro}/{CUDA_ARCH[arch]}/"
    return {"name": k["package"], "version": k["version"], "arch": "all", "depends": [],
            "description": "aifactory lab stand-in for cuda-keyring: the lab's repository key, not NVIDIA's",
            "files": {k["file"]: (keyring, 0o644),
                      f"/etc/apt/sources.list.d/cuda-{distro}-{CUDA_ARCH[arch]}.list":
                          (f"deb [signed-by={k['file']}] {url} /\n".encode(), 0o644)}}


def deb_filename(spec: dict) -> str:
    return f"{spec['name']}_{spec['version'].split(':')[-1]}_{spec['arch']}.deb"


def control(spec: dict) -> str:
    size_kb = sum(len(data) for data, _ in spec["files"].values()) // 1024 + 1
    fields = {"Package": spec["name"], "Version": spec["version"], "Architecture": spec["arch"],
              "Maintainer": MAINTAINER, "Installed-Size": str(size_kb), "Section": "misc", "Priority": "optional"}
    if spec["depends"]:
        fields["Depends"] = ", ".join(spec["depends"])
    fields["Description"] = spec["description"]
    return "".join(f"{k}: {v}\n" for k, v in fields.items())


def build_deb(spec: dict, out_dir: Path) -> Path:
    """One .deb (dpkg-deb, root-owned files) from a package spec."""
    out = out_dir / deb_filename(spec)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "DEBIAN").mkdir()
        (root / "DEBIAN/control").write_text(control(spec))
        conffiles = [p for p in spec["files"] if p.startswith("/etc/")]
        if conffiles:
            (root / "DEBIAN/conffiles").write_text("".join(p + "\n" for p in conffiles))
        for path, (data, mode) in spec["files"].items():
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(mode)
        result = subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(out)],
                                capture_output=True, text=True)
    if result.returncode != 0:
        raise VendorRepoError(f"dpkg-deb {spec['name']}: {result.stderr.strip()}")
    return out


def packages_index(debs: list[tuple[dict, Path]], base: Path) -> str:
    """An APT Packages index of `debs` (spec, path), Filename relative to `base`."""
    entries = []
    for spec, path in sorted(debs, key=lambda d: (d[0]["name"], d[1].name)):
        data = path.read_bytes()
        entries.append(control(spec).replace("Description:", "\n".join([
            f"Filename: {path.relative_to(base).as_posix() if path.parent != base else './' + path.name}",
            f"Size: {len(data)}", f"MD5sum: {hashlib.md5(data).hexdigest()}",
            f"SHA256: {hashlib.sha256(data).hexdigest()}", "Description:"])))
    return "\n".join(entries)


def release(files: dict[str, bytes], fields: dict[str, str]) -> str:
    """A Release file listing `files` (path relative to the Release file -> content) with their hashes."""
    head = {**fields, "Date": formatdate(time.time(), usegmt=True)}
    lines = [f"{k}: {v}" for k, v in head.items()]
    for name, algo in (("MD5Sum", hashlib.md5), ("SHA256", hashlib.sha256)):
        lines.append(f"{name}:")
        lines += [f" {algo(data).hexdigest()} {len(data):>8} {path}" for path, data in sorted(files.items())]
    return "\n".join(lines) + "\n"


# --- signing -------------------------------------------------------------------------------------
class Signer:
    """A lab-generated signing key in its own GnuPG home (batch mode, no passphrase, no agent left)."""

    def __init__(self, home: Path):
        self.home = home
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._gpg("--quick-generate-key", "--passphrase", "", KEY_UID, "ed25519", "sign", "never")

    def _gpg(self, *args: str, data: bytes | None = None) -> bytes:
        result = subprocess.run(["gpg", "--homedir", str(self.home), "--batch", "--quiet", "--pinentry-mode",
                                 "loopback", *args], input=data, capture_output=True)
        if result.returncode != 0:
            raise VendorRepoError(f"gpg {args[0]}: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout

    def public_key(self, armor: bool) -> bytes:
        return self._gpg(*(["--armor"] if armor else []), "--export", KEY_UID)

    def sign(self, release_file: Path) -> None:
        """InRelease (clear-signed) and Release.gpg (detached) beside `release_file`."""
        data = release_file.read_bytes()
        (release_file.parent / "InRelease").write_bytes(self._gpg("--digest-algo", "SHA512", "--clearsign", data=data))
        (release_file.parent / "Release.gpg").write_bytes(
            self._gpg("--digest-algo", "SHA512", "--armor", "--detach-sign", data=data))

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "all"], capture_output=True)


def _write_flat(repo: Path, debs: list[tuple[dict, Path]], signer: Signer, label: str, arch: str) -> None:
    index = packages_index(debs, repo).encode()
    (repo / "Packages").write_bytes(index)
    (repo / "Packages.gz").write_bytes(gzip.compress(index, mtime=0))
    (repo / "Release").write_text(release({"Packages": index, "Packages.gz": gzip.compress(index, mtime=0)},
                                          {"Origin": label, "Label": label, "Architectures": f"{arch} all"}))
    signer.sign(repo / "Release")


def _copy_debs(debs: list[tuple[dict, Path]], dest: Path) -> list[tuple[dict, Path]]:
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for spec, path in debs:
        target = dest / path.name
        shutil.copyfile(path, target)
        out.append((spec, target))
    return out


def efa_installer() -> bytes:
    """The EFA installer tarball: aws-efa-installer/efa_installer.sh, a stand-in that installs nothing
    (EFA's user space rides on the kernel's efa module, which a container cannot load). Reproducible."""
    script = ("#!/bin/sh\n# aifactory lab stand-in for AWS's EFA installer: installs nothing.\n"
              "echo 'efa_installer.sh (aifactory lab stand-in): nothing installed, EFA needs the kernel efa module'\n")
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data, mode in (("aws-efa-installer", None, 0o755),
                                 ("aws-efa-installer/efa_installer.sh", script.encode(), 0o755)):
            info = tarfile.TarInfo(name)
            info.mtime, info.mode, info.uname, info.gname = 0, mode, "root", "root"
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return gzip.compress(out.getvalue(), mtime=0)


def build(www: Path, gnupg: Path, arch: str) -> None:
    """Every stand-in repository under `www`, signed with a new key kept in `gnupg`."""
    absent = [tool for tool in BUILD_TOOLS if shutil.which(tool) is None]
    if absent:
        raise VendorRepoError(f"missing {', '.join(absent)}: run scripts/install-lab-deps.sh")
    m = manifest()
    signer = Signer(gnupg)
    try:
        armored, binary = signer.public_key(armor=True), signer.public_key(armor=False)
        (www.parent / KEY_FILE).write_bytes(binary)
        specs = package_specs(arch)
        pool = pool_dir(www)
        pool.mkdir(parents=True, exist_ok=True)
        built = {repo: [(s, build_deb(s, pool)) for s in items] for repo, items in specs.items()}
        for distro in m["nvidia_cuda"]["distros"]["value"]:
            repo = www / cuda_dir(distro, arch)
            debs = _copy_debs(built["cuda"], repo)
            keyring = keyring_spec(distro, arch, binary)
            debs.append((keyring, build_deb(keyring, repo)))
            _write_flat(repo, debs, signer, "NVIDIA CUDA (aifactory lab stand-in)", arch)
        (www / "nvidia/doca").mkdir(parents=True, exist_ok=True)
        (www / "nvidia/doca" / m["doca"]["key"]["path"]).write_bytes(armored)
        for distro in m["doca"]["distros"]["value"]:
            repo = www / doca_dir(distro, arch)
            _write_flat(repo, _copy_debs(built["doca"], repo), signer, "DOCA (aifactory lab stand-in)", arch)
        neuron = www / "neuron"
        debs = _copy_debs(built["neuron"], neuron / "pool/main/a")
        (neuron / m["neuron"]["key"]["path"]).write_bytes(armored)
        for suite in m["neuron"]["suites"]["value"]:
            dists = neuron / "dists" / suite
            index = packages_index(debs, neuron).encode()
            files = {f"main/binary-{arch}/Packages": index, f"main/binary-{arch}/Packages.gz": gzip.compress(index, mtime=0)}
            for path, data in files.items():
                (dists / path).parent.mkdir(parents=True, exist_ok=True)
                (dists / path).write_bytes(data)
            (dists / "Release").write_text(release(files, {
                "Origin": "Neuron (aifactory lab stand-in)", "Label": "Neuron (aifactory lab stand-in)", "Suite": suite,
                "Codename": suite, "Architectures": arch, "Components": "main"}))
            signer.sign(dists / "Release")
        (www / efa_tarball()).write_bytes(efa_installer())
    finally:
        signer.close()


def ensure(progress: Callable[[str], None] = print) -> Path:
    """The cached stand-in repositories' root (the directory served), built first when absent."""
    arch = architecture()
    top = CACHE_ROOT / f"vendor-repos-{cache_key(arch)}"
    if (top / ".aifactory-complete").exists():
        progress(f"vendor repository stand-ins: cached at {top}")
        return top / "www"
    building = top.with_name(top.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    progress(f"vendor repository stand-ins: building CUDA, DOCA, Neuron repositories and the EFA installer ({arch}, once)")
    build(building / "www", building / "gnupg", arch)
    (building / ".aifactory-complete").write_text(arch + "\n")
    building.rename(top)
    return top / "www"


def start(state: LabState, served: Path, address: str) -> str:
    """Serve the stand-in repositories on `address` (the lab bridge's gateway); return the root URL."""
    return procs.serve_directory(state, "vendor repositories", served, address, state.dir / "vendor" / "http.log",
                                 efa_tarball())


def role_vars(url: str, served: Path, arch: str, doca_version: str) -> dict:
    """Role settings that point a lab node's vendor sources at the stand-in repositories at `url`: as a
    site mirror keeps the vendors' paths (role_vars.py), with the controller's architecture (see above);
    and the acceptance role's poll of the stand-in DCGM diagnostic they install.
    `doca_version`: the spec's DOCA-OFED, or "" for the distribution's rdma-core (no stand-in repository)."""
    efa = served / efa_tarball()
    return {
        "nvidia_gpu_repo_url": f"{url}/nvidia/compute/cuda/repos", "nvidia_gpu_repo_arch": CUDA_ARCH[arch],
        "nvidia_gpu_apt_arch": arch,
        **({"rdma_fabric_doca_repo_url": f"{url}/nvidia/doca", "rdma_fabric_doca_arch": DOCA_ARCH[arch],
            "rdma_fabric_apt_arch": arch} if doca_version else {}),
        "neuron_repo_url": f"{url}/neuron", "neuron_apt_arch": arch, "neuron_efa_installer_url": f"{url}/neuron",
        "neuron_efa_installer_sha256": hashlib.sha256(efa.read_bytes()).hexdigest(),
        # The stand-in dcgmi these repositories install answers at once: poll its diagnostic every second,
        # not every 30 s (the role's default for levels above 1).
        "acceptance_dcgm_diag_poll": 1,
    }
