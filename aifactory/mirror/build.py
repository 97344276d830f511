"""`aifactory mirror build`: the bill of materials fetched into a bundle, laid out as the APT repositories
the nodes' sources name, every file verified against its upstream index, the whole signed.

The packages are the BOM's (bom.packages over the indexes fetched and checked against their Release, as
`mirror bom` resolves them). Each goes to the path its repository has when the site's mirrors serve the
bundle's folders apt/, nvidia/ and neuron/ (installs.served_repositories), after its SHA-256 matched the
upstream index's; a file that does not match is refused and never written. The bundle's own Packages and
Release indexes list exactly what it holds (apt_repo), and the manifest names each package's upstream URL
and index. Each Release is also OpenPGP-signed with the site's mirror key (InRelease, Release.gpg; openpgp),
and the bundle holds that key's OpenPGP keyring (keyring_path), so APT on the nodes trusts the bundle with
one key. Where a keyring is given for an upstream, its Release's own signature is checked first (gpgv) and
the manifest records the key, or that it was not checked. A package already in the output directory with
the right hash is not fetched again (an interrupted build resumes); with the manifest of an earlier bundle
(`previous`), a file that bundle holds with the same path and hash is carried, not fetched or written: the
new bundle is a delta.

The files the roles download (installs.Download: repository keys, the EFA installer, the signing helper, the SSM
agent) go to the paths the nodes fetch them from on the site's mirrors, checked against the SHA-256 pinned for them;
one with no pin is taken as fetched and its SHA-256 recorded, marked NOT_PINNED in the manifest's "downloads".
The packages the site builds itself (site_built: nccl-tests) go into the repository the catalog names, listed in
its Packages index like the upstream's own; the manifest's "site_built" says which were given and which not.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from cryptography.hazmat.primitives.asymmetric import ed25519

from aifactory.core.inputs import BadInput
from aifactory.core import openpgp
from aifactory.mirror import apt_repo, indexes, manifest
from aifactory.mirror import site_built as site_built_
from aifactory.mirror.bom import NOT_PINNED, SITE_BUILT, packages
from aifactory.mirror.indexes import Index
from aifactory.mirror.installs import BUNDLE_ROOT, Repository, SiteInstalls, served_repositories, site_installs
from aifactory.mirror.site_built import Given, SiteBuilt
from aifactory.mirror.upstream import Upstream
from aifactory.spec import Factory

PART = ".part"  # a package being fetched; renamed once its hash is right
NOT_CHECKED = "not checked (no keyring given)"
PINNED = "pinned"


def keyring_path(site: str) -> str:
    """Where a bundle holds the OpenPGP keyring of the site's mirror key."""
    return f"keys/{site}-mirror.gpg"


@dataclass(frozen=True)
class Package:
    """A package of the bundle: its path there, its upstream URL and the SHA-256 its upstream index lists."""

    path: str
    url: str
    sha256: str
    index: Index


@dataclass
class Outcome:
    """What a build did: packages fetched, kept (already there), carried (in the previous bundle); what
    was refused (a hash that does not match, an unusable stanza) and what no index has."""

    fetched: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    carried: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    downloads: list[dict] = field(default_factory=list)  # the manifest's record of each download
    site_built: list[dict] = field(default_factory=list)  # the manifest's record of each site-built package


def _in_bundle(repo: Repository) -> str:
    return repo.url.removeprefix(BUNDLE_ROOT + "/")


def _plan(installs: SiteInstalls, served: dict[str, Repository], found: list[Index], outcome: Outcome) -> tuple[
        list[Package], dict[str, list[dict]]]:
    """The packages to hold, and each bundle Packages index (path without compression) -> its stanzas."""
    chosen, outcome.missing = packages(installs, found)
    planned, stanzas = [], {}
    for repo in served.values():  # every index the nodes' sources name exists, empty or not
        for directory, path in repo.indexes(installs.arch):
            stanzas[f"{directory.removeprefix(BUNDLE_ROOT + '/')}/{_plain(path)}"] = []
    for p, index in chosen:
        filename, repo = apt_repo.safe_path(p.get("Filename", "")), served[index.repository.key]
        if filename is None or len(p.get("SHA256", "")) != 64:
            outcome.refused.append(f"{index.url}: {p.get('Package', '?')} has no usable Filename or SHA256; not fetched")
            continue
        planned.append(Package(f"{_in_bundle(repo)}/{filename}", index.repository.file_url(index.url, p["Filename"]),
                               p["SHA256"], index))
        stanzas[_in_bundle(repo) + _plain(index.url.removeprefix(index.repository.url))].append(p)
    return planned, stanzas


def _plain(path: str) -> str:
    return path.removesuffix(".xz").removesuffix(".gz")


def _index_files(served: dict[str, Repository], stanzas: dict[str, list[dict]], arch: str,
                 key: ed25519.Ed25519PrivateKey, site: str) -> dict[str, bytes]:
    """Bundle path -> content of every Packages index and Release (InRelease, Release.gpg: signed with the
    mirror key) of the bundle's repositories, and of the mirror key's keyring."""
    out: dict[str, bytes] = {keyring_path(site): openpgp.keyring(key, site)}
    for repo in served.values():
        top = _in_bundle(repo)
        for directory in dict.fromkeys(d for d, _path in repo.indexes(arch)):
            release_dir = directory.removeprefix(BUNDLE_ROOT + "/")
            listed = {}
            for index_path, entries in stanzas.items():
                if index_path.startswith(release_dir + "/"):
                    relative_dir = str(PurePosixPath(index_path).parent.relative_to(release_dir))
                    for name, data in apt_repo.packages_files(entries).items():
                        listed[f"{relative_dir}/{name}".removeprefix("./")] = data
            fields = {"Origin": f"aifactory mirror bundle ({top})", "Label": f"aifactory mirror bundle ({top})"}
            if repo.suites:
                suite = PurePosixPath(release_dir).name
                fields |= {"Suite": suite, "Codename": suite, "Components": " ".join(repo.components)}
            fields["Architectures"] = arch
            out |= {f"{release_dir}/{path}": data for path, data in listed.items()}
            release = apt_repo.release(listed, fields)
            out[f"{release_dir}/{apt_repo.RELEASE}"] = release
            out[f"{release_dir}/InRelease"] = openpgp.clearsign(key, release.decode())
            out[f"{release_dir}/Release.gpg"] = openpgp.detached(key, release)
    return out


def _add_site_built(site_built: tuple[tuple[SiteBuilt, Given | None], ...], served: dict[str, Repository], arch: str,
                    stanzas: dict[str, list[dict]], outcome: Outcome) -> dict[str, Given]:
    """Each given site-built package listed in its repository's first Packages index (stanzas); bundle path ->
    the build, for those given; every one, given or not, recorded in outcome.site_built."""
    placed = {}
    for wanted, given in site_built:
        record = {"name": wanted.name, "source": wanted.url, "commit": wanted.commit, "wanted_by": wanted.wanted_by}
        if given is None:
            outcome.site_built.append(record | {"given": False})
            continue
        repo = served[wanted.repository]
        directory, index = repo.indexes(arch)[0]
        relative = f"./{site_built_.filename(given)}" if not repo.suites else \
            f"pool/site/{given.name[0]}/{given.name}/{site_built_.filename(given)}"
        path = f"{_in_bundle(repo)}/{relative.removeprefix('./')}"
        stanzas[f"{directory.removeprefix(BUNDLE_ROOT + '/')}/{_plain(index)}"].append(site_built_.stanza(given, relative))
        placed[path] = given
        outcome.site_built.append(record | {"given": True, "version": given.fields["Version"], "path": path,
                                            "sha256": given.sha256})
    return placed


def _previous_files(previous: dict | None) -> dict[str, dict]:
    """path -> {path, sha256, size} of every file the previous bundle holds or itself carries."""
    if previous is None:
        return {}
    entries = [*previous.get("carried", []), *previous.get("files", [])]
    return {e["path"]: {"path": e["path"], "sha256": e["sha256"], "size": e["size"]} for e in entries}


def _refuse_strangers(out: Path, expected: set[str]) -> None:
    """Drop what an interrupted build left (`.part` files, an earlier manifest); BadInput when `out` holds
    files that are no part of this bundle (it is not this site's build directory)."""
    strangers, leftovers = [], []
    for path in sorted(out.rglob("*")) if out.is_dir() else []:
        relative = path.relative_to(out).as_posix()
        if path.is_dir() and not path.is_symlink():
            continue
        if relative in (manifest.MANIFEST, manifest.SIGNATURE) or (
                relative.endswith(PART) and relative.removesuffix(PART) in expected):
            leftovers.append(path)
        elif relative not in expected or not path.is_file() or path.is_symlink():
            strangers.append(relative)
    if strangers:
        raise BadInput(f"--out {out}: holds {len(strangers)} file(s) that are no part of this bundle ("
                       + ", ".join(strangers[:5]) + "); give an empty directory or an earlier build of this site")
    for path in leftovers:
        path.unlink()


def _fetch(path: str, url: str, wanted: str, listed_by: str, out: Path, upstream: Upstream, outcome: Outcome) -> str:
    """Fetch one file into the bundle at `path`; its SHA-256, or "" when it is not the `wanted` one that
    `listed_by` gives (refused, nothing written). An empty `wanted` takes what comes (a download not pinned)."""
    dest = out / path
    part = dest.with_name(dest.name + PART)
    dest.parent.mkdir(parents=True, exist_ok=True)
    upstream.copy(url, part)
    got = manifest.file_sha256(part)
    if wanted and got != wanted:
        part.unlink()
        outcome.refused.append(f"{url}: SHA-256 {got} is not the {wanted} that {listed_by} lists; "
                               "refused, not written into the bundle")
        return ""
    part.replace(dest)
    outcome.fetched.append(path)
    return got


def _downloads(installs: SiteInstalls, out: Path, upstream: Upstream, before: dict[str, dict],
               outcome: Outcome, progress: Callable[[str], None]) -> set[str]:
    """Fetch the files the roles download into the bundle, at the paths the nodes fetch them from the site's
    mirrors: checked against a pinned SHA-256, or, with none pinned, recorded as fetched (NOT_PINNED). Each
    is recorded in outcome.downloads; returns the paths carried (the previous bundle holds them as they are).
    A download not pinned is fetched again for a delta: only its bytes say whether it changed."""
    carried = set()
    for number, d in enumerate(installs.downloads, 1):
        where = f"mirror build: [download {number}/{len(installs.downloads)}] {d.path}"
        dest, previous = out / d.path, before.get(d.path, {}).get("sha256")
        here = manifest.file_sha256(dest) if dest.is_file() and not dest.is_symlink() else ""
        if d.sha256 and previous == d.sha256:
            got = previous
        elif here and (not d.sha256 or here == d.sha256):
            got = here
            outcome.kept.append(d.path)
            progress(f"{where}: already here, kept")
        else:
            progress(f"{where}: fetching {d.url}")
            got = _fetch(d.path, d.url, d.sha256, f"the pin of role {d.role}", out, upstream, outcome)
            if not got:
                continue
        if previous == got:
            carried.add(d.path)
            dest.unlink(missing_ok=True)
            progress(f"{where}: in the previous bundle, carried")
        outcome.downloads.append({"name": d.name, "version": d.version, "architecture": d.architecture,
                                  "role": d.role, "path": d.path, "upstream": d.url, "sha256": got,
                                  "pinning": PINNED if d.sha256 else NOT_PINNED})
        if not d.sha256:
            progress(f"{where}: {NOT_PINNED}: SHA-256 {got} recorded as fetched")
    return carried


def build(f: Factory, out: Path, upstream: Upstream, key: ed25519.Ed25519PrivateKey, previous: dict | None = None,
          previous_sha256: str = "", progress: Callable[[str], None] = print,
          keyrings: tuple[tuple[str, bytes], ...] = (),
          site_built: tuple[tuple[SiteBuilt, Given | None], ...] = ()) -> Outcome:
    """Build the site's bundle into `out`; signed only when nothing was refused or missing (see Outcome).
    `keyrings` (upstream URL prefix, binary keyring): the upstreams whose Release signature is checked;
    `site_built`: the packages the site builds itself, each with its build (None: not given, left out).
    Raises upstream.Unreadable when an upstream file cannot be read, MirrorIndexError when an index does not
    match its Release (gpgv.SignatureRefused: a Release not signed by its upstream's keyring), BadInput when
    `out` holds files of something else."""
    installs = site_installs(f)
    served = {r.key: r for r in served_repositories(f)}
    progress(f"mirror build: reading the indexes of {len(installs.repositories)} repositories")
    found = indexes.from_network(installs, upstream.get, keyrings)
    outcome = Outcome()
    planned, stanzas = _plan(installs, served, found, outcome)
    own = _add_site_built(site_built, served, installs.arch, stanzas, outcome)
    index_files = _index_files(served, stanzas, installs.arch, key, f.name)
    before = _previous_files(previous)
    carried = {p.path for p in planned if before.get(p.path, {}).get("sha256") == p.sha256}
    carried |= {path for path, data in index_files.items()
                if before.get(path, {}).get("sha256") == hashlib.sha256(data).hexdigest()}
    carried |= {path for path, given in own.items() if before.get(path, {}).get("sha256") == given.sha256}
    _refuse_strangers(out, {p.path for p in planned} | set(index_files) | {d.path for d in installs.downloads}
                      | set(own))
    out.mkdir(parents=True, exist_ok=True)
    for path in carried:  # left by an earlier build of this delta: the previous bundle serves it
        (out / path).unlink(missing_ok=True)
    for number, item in enumerate(planned, 1):
        where = f"mirror build: [{number}/{len(planned)}] {item.path}"
        if item.path in carried:
            outcome.carried.append(item.path)
            progress(f"{where}: in the previous bundle, carried")
        elif (out / item.path).is_file() and manifest.file_sha256(out / item.path) == item.sha256:
            outcome.kept.append(item.path)
            progress(f"{where}: already here, kept")
        else:
            progress(f"{where}: fetching {item.url}")
            _fetch(item.path, item.url, item.sha256, item.index.url, out, upstream, outcome)
    for path, given in own.items():
        where = f"mirror build: [site-built] {path}"
        if path in carried:
            outcome.carried.append(path)
            progress(f"{where}: in the previous bundle, carried")
        elif (out / path).is_file() and manifest.file_sha256(out / path) == given.sha256:
            outcome.kept.append(path)
            progress(f"{where}: already here, kept")
        else:
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(given.path, out / path)
            outcome.fetched.append(path)
            progress(f"{where}: the site's build {given.path}")
    for record in outcome.site_built:
        if not record["given"]:
            progress(f"mirror build: [site-built] {record['name']} ({record['wanted_by']}): not given "
                     "(--site-package); the bundle lacks it")
    carried_downloads = _downloads(installs, out, upstream, before, outcome, progress)
    outcome.carried += sorted(carried_downloads)
    carried |= carried_downloads
    if outcome.refused or outcome.missing:
        return outcome
    for path, data in index_files.items():
        if path not in carried:
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            (out / path).write_bytes(data)
    sources = {p.path: {"upstream": p.url, "index": p.index.url} for p in planned if p.path not in carried}
    sources |= {d["path"]: {"upstream": d["upstream"], "pinning": d["pinning"]} for d in outcome.downloads
                if d["path"] not in carried}
    sources |= {r["path"]: {"upstream": f"{SITE_BUILT}: {r['source']}", "pinning": SITE_BUILT}
                for r in outcome.site_built if r["given"] and r["path"] not in carried}
    extra = {"downloads": outcome.downloads, "site_built": outcome.site_built,
             "indexes": [{"url": i.url, "sha256": i.sha256, "release": i.release, "release_sha256": i.release_sha256,
                          "signature": ({"checked": True, "key_fingerprint": i.signed_by} if i.signed_by
                                        else {"checked": False, "why": NOT_CHECKED})} for i in found]}
    if previous is not None:
        extra |= {"previous": {"manifest_sha256": previous_sha256},
                  "carried": sorted((before[path] for path in carried), key=lambda e: e["path"])}
    manifest.write(out, f.name, key, sources, **extra)
    progress(f"mirror build: signed {out / manifest.MANIFEST}: {len(outcome.fetched)} fetched, {len(outcome.kept)} "
             f"kept, {len(outcome.carried)} carried from the previous bundle")
    return outcome
