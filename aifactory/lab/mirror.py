"""The package-mirror stand-in: a partial copy of the Debian archive, served on the lab's gateway.

An air-gapped site points APT at its own mirror (software.mirrors.apt), and a node's first converge
installs what the roles need from it. The stand-in is a partial mirror of the archive the base root
came from: Debian's own signed InRelease and the package and translation indexes for the suites and
components the os_baseline role configures, plus only the .deb files a fresh lab node lacks for
what the roles install (node_installs(f) and their dependencies). Every file is checked against the
SHA256 that the signed InRelease (or the index) lists, and nodes verify the mirror with
debian-archive-keyring as they would the real archive: no `trusted=yes`.

Built once per (upstream mirror, suite, architecture, base root, package list) under the lab cache and served
by Python's http.server on the lab bridge's gateway address, which only the lab's nodes can reach.
"""

from __future__ import annotations

import hashlib
import lzma
import shutil
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path

from aifactory.lab import procs
from aifactory.lab.base import CACHE_ROOT, RELEASE, SUITE
from aifactory.lab.state import LabState
from aifactory.mirror.debian import MirrorIndexError as MirrorBuildError
from aifactory.mirror.debian import installed, paragraphs, release_sha256, resolve
from aifactory.mirror.installs import os_archive_packages
from aifactory.spec import Factory

SUITES = (SUITE, f"{SUITE}-updates")  # what os_baseline's Debian vars write into the mirror source
COMPONENTS = ("main", "contrib", "non-free", "non-free-firmware")
PATH = "debian"  # the mirror's URL is http://<gateway>:<port>/debian


def architecture() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True, text=True).stdout.strip()


def node_installs(f: Factory) -> tuple[str, ...]:
    """Every package the roles install from the Debian archive on a node of `f`, sorted and unique: the
    OS-archive part of the site's bill of materials (aifactory.mirror.installs.site_packages)."""
    return os_archive_packages(f)


def cache_key(upstream: str, arch: str, base_root: Path, installs: tuple[str, ...]) -> str:
    """Changes with the upstream, the architecture, the base root (what nodes already have) and the installs."""
    text = "\n".join([*SUITES, upstream, arch, base_root.name, *sorted(installs)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# --- building ------------------------------------------------------------------------------------
def _fetch(url: str, dest: Path, sha256: str | None = None) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        data = response.read()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise MirrorBuildError(f"{url}: SHA256 does not match the signed index")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return data


def _fetch_indexes(upstream: str, root: Path, arch: str) -> dict[str, dict]:
    """Each suite's InRelease and its indexes (also under by-hash/, as apt asks for them); returns
    the available packages, a later suite (-updates) overriding an earlier one."""
    available: dict[str, dict] = {}
    for suite in SUITES:
        dists = root / "dists" / suite
        inrelease = _fetch(f"{upstream}/dists/{suite}/InRelease", dists / "InRelease").decode()
        listed = release_sha256(inrelease)
        for component in COMPONENTS:
            for index in (f"{component}/binary-{arch}/Packages.xz", f"{component}/i18n/Translation-en.xz"):
                if index not in listed:
                    continue
                digest, _size = listed[index]
                data = _fetch(f"{upstream}/dists/{suite}/{index}", dists / index, digest)
                by_hash = dists / Path(index).parent / "by-hash" / "SHA256" / digest
                by_hash.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(dists / index, by_hash)
                if index.endswith("Packages.xz"):
                    available.update({p["Package"]: p for p in paragraphs(lzma.decompress(data).decode())})
    return available


def ensure(upstream: str, base_root: Path, installs: tuple[str, ...],
           progress: Callable[[str], None] = print) -> Path:
    """The cached partial mirror's root (the directory served) holding `installs` (node_installs(f))
    and what they need beyond the base root, built first when absent."""
    arch = architecture()
    top = CACHE_ROOT / f"{RELEASE}-mirror-{cache_key(upstream, arch, base_root, installs)}"
    if (top / ".aifactory-complete").exists():
        progress(f"mirror stand-in: cached at {top}")
        return top
    building = top.with_name(top.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    root = building / PATH
    progress(f"mirror stand-in: copying {', '.join(SUITES)} indexes from {upstream} (once)")
    available = _fetch_indexes(upstream, root, arch)
    present = installed((base_root / "var/lib/dpkg/status").read_text())
    packages = resolve(installs, available, present)
    progress(f"mirror stand-in: fetching {len(packages)} package(s) a fresh node lacks: "
             + ", ".join(p["Package"] for p in packages))
    for p in packages:
        _fetch(f"{upstream}/{p['Filename']}", root / p["Filename"], p["SHA256"])
    (building / ".aifactory-complete").write_text("\n".join(p["Package"] for p in packages) + "\n")
    building.rename(top)
    return top


def start(state: LabState, served: Path, address: str) -> str:
    """Serve the mirror on `address` (the lab bridge's gateway); return its URL once it answers."""
    root = procs.serve_directory(state, "APT mirror", served, address, state.dir / "mirror" / "http.log",
                                 f"{PATH}/dists/{SUITE}/InRelease")
    return f"{root}/{PATH}"
