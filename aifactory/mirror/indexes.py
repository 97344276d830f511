"""The upstream Packages indexes a bill of materials is resolved from: files a staging host fetched
(`--index URL=FILE`), or the upstream servers themselves, each index checked against its repository's
InRelease SHA256 list (and, where a keyring is given for the upstream, that Release's OpenPGP signature)."""

from __future__ import annotations

import gzip
import hashlib
import lzma
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aifactory.core.inputs import BadInput
from aifactory.mirror import gpgv
from aifactory.mirror.debian import MirrorIndexError, paragraphs, release_sha256
from aifactory.mirror.installs import Repository, SiteInstalls


@dataclass(frozen=True)
class Index:
    """One Packages index of a repository: where it is published, its SHA-256 and its paragraphs; fetched
    from the network, also the Release (or InRelease) its SHA-256 was checked against and the fingerprint
    of the key whose signature of that Release was checked (empty: no keyring was given for it)."""

    repository: Repository
    url: str
    sha256: str
    packages: tuple[dict, ...]
    release: str = ""
    release_sha256: str = ""
    signed_by: str = ""


def index_text(data: bytes, name: str) -> str:
    """An index's text, decompressed by its name's suffix (.xz, .gz, or none)."""
    if name.endswith(".xz"):
        data = lzma.decompress(data)
    elif name.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8")


def _repository(url: str, installs: SiteInstalls) -> Repository | None:
    return next((r for r in installs.repositories if url.startswith(r.url + "/")), None)


def from_files(given: list[tuple[str, Path]], installs: SiteInstalls) -> list[Index]:
    """Indexes from (URL, FILE) pairs: URL is where the index is published (it places the Filename paths),
    FILE its copy. Every repository the site installs from needs at least one; BadInput otherwise."""
    out = []
    for url, file in given:
        repo = _repository(url, installs)
        if repo is None:
            raise BadInput(f"--index {url}: no repository of this site ({installs.node_os}, {installs.arch}) is "
                           "there; its repositories: " + ", ".join(r.url for r in installs.repositories))
        try:
            data = file.read_bytes()
            text = index_text(data, file.name)
        except (OSError, EOFError, lzma.LZMAError, UnicodeDecodeError) as err:
            raise BadInput(f"--index {url}={file}: cannot be read as a Packages index ({err})") from err
        out.append(Index(repo, url, hashlib.sha256(data).hexdigest(), tuple(paragraphs(text))))
    missing = [r for r in installs.repositories if not any(i.repository == r for i in out)]
    if missing:
        raise BadInput("--index: no index given for " + "; ".join(
            f"the {r.key} repository (such as {r.index_urls(installs.arch)[0]})" for r in missing))
    return out


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read()
    except (urllib.error.URLError, OSError) as err:
        raise MirrorIndexError(f"{url}: cannot be fetched ({getattr(err, 'reason', err)}); on a host without "
                               "access, fetch the indexes elsewhere and pass them with --index URL=FILE") from err


def _keyring(directory: str, keyrings: tuple[tuple[str, bytes], ...]) -> bytes | None:
    """The keyring given for the upstream prefix `directory` is under (the longest), if any."""
    matching = [(prefix, ring) for prefix, ring in keyrings
                if directory == prefix.rstrip("/") or directory.startswith(prefix.rstrip("/") + "/")]
    return max(matching, key=lambda m: len(m[0]))[1] if matching else None


def _release(directory: str, get: Callable[[str], bytes], keyring: bytes | None) -> tuple[str, bytes, bytes, str]:
    """A repository directory's InRelease, or its Release where it publishes no InRelease: (URL, its bytes,
    the Release text trusted, the signing key's fingerprint). With a keyring, the signature must verify
    (InRelease, else Release with Release.gpg) and the text trusted is what was signed."""
    try:
        url, data, detached = f"{directory}/InRelease", get(f"{directory}/InRelease"), None
    except MirrorIndexError:
        url, data = f"{directory}/Release", get(f"{directory}/Release")
        detached = get(f"{directory}/Release.gpg") if keyring is not None else None
    if keyring is None:
        return url, data, data, ""
    text, fingerprint = gpgv.verified(keyring, data, detached, url)
    return url, data, text, fingerprint


def from_network(installs: SiteInstalls, get: Callable[[str], bytes] = _get,
                 keyrings: tuple[tuple[str, bytes], ...] = ()) -> list[Index]:
    """Every index of the site's repositories from the upstream servers (`get` fetches a URL), each checked
    against the SHA256 its repository's InRelease (or Release) lists. Where `keyrings` (upstream URL prefix,
    binary keyring) has one for a repository, its Release's OpenPGP signature must verify with it
    (gpgv.SignatureRefused otherwise); elsewhere the signature is not checked."""
    out = []
    releases: dict[str, tuple[str, str, dict[str, tuple[str, int]], str]] = {}
    for repo in installs.repositories:
        for directory, path in repo.indexes(installs.arch):
            if directory not in releases:
                release_url, data, text, fingerprint = _release(directory, get, _keyring(directory, keyrings))
                releases[directory] = (release_url, hashlib.sha256(data).hexdigest(),
                                       release_sha256(text.decode("utf-8", "replace")), fingerprint)
            release_url, release_digest, listed_files, fingerprint = releases[directory]
            if path not in listed_files:
                continue  # a component or compression this suite does not publish
            url, listed = f"{directory}/{path}", listed_files[path][0]
            data = get(url)
            digest = hashlib.sha256(data).hexdigest()
            if digest != listed:
                raise MirrorIndexError(f"{url}: SHA256 {digest} is not the {listed} its {release_url} lists")
            try:
                text = index_text(data, url)
            except (OSError, EOFError, lzma.LZMAError, UnicodeDecodeError) as err:
                raise MirrorIndexError(f"{url}: cannot be read as a Packages index ({err})") from err
            out.append(Index(repo, url, digest, tuple(paragraphs(text)), release_url, release_digest, fingerprint))
    return out
