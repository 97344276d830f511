"""A bundle's APT repositories: their Packages and Release indexes written, and checked as APT would.

Writing: a Packages index (plain and .gz) of the packages a bundle holds, each stanza as the upstream index
gave it (so Size and SHA256 are the upstream's, which the fetched file was checked against), and a Release
per suite (or per flat repository) listing the indexes' SHA256 and sizes, with a Date and no Valid-Until
(an offline site serves a bundle for months; build.py signs it in OpenPGP form). Checking: every index a Release lists has that hash, every
package an index lists has the hash its stanza gives; the manifest's hash alone does not say APT will agree.
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import time
from email.utils import formatdate
from pathlib import Path, PurePosixPath

from aifactory.mirror.debian import MirrorIndexError, paragraphs, release_sha256
from aifactory.mirror.indexes import index_text

RELEASE = "Release"
RELEASE_NAMES = ("InRelease", RELEASE)  # the clear-signed form and the plain one (a bundle writes both)
INDEX_NAMES = ("Packages", "Packages.gz", "Packages.xz")


def safe_path(filename: str) -> str | None:
    """An index's Filename as a relative POSIX path inside its repository ('./' dropped); None when it
    would leave the repository (absolute, `..`) or is empty."""
    path = PurePosixPath(filename.removeprefix("./"))
    if not filename or path.is_absolute() or ".." in path.parts or str(path) in ("", "."):
        return None
    return path.as_posix()


def stanza(paragraph: dict[str, str]) -> str:
    """A deb822 paragraph as text (continuation lines indented again)."""
    return "".join(f"{key}: {value.replace(chr(10), chr(10) + ' ')}\n" for key, value in paragraph.items())


def packages_files(paragraphs_: list[dict[str, str]]) -> dict[str, bytes]:
    """A Packages index (plain and gzip) of `paragraphs_`, sorted by package and version."""
    text = "\n".join(stanza(p) for p in sorted(paragraphs_, key=lambda p: (p.get("Package", ""), p.get("Version", ""))))
    data = text.encode()
    return {"Packages": data, "Packages.gz": gzip.compress(data, mtime=0)}


def release(files: dict[str, bytes], fields: dict[str, str]) -> bytes:
    """A Release listing `files` (path relative to it -> content) by SHA256; no Valid-Until."""
    lines = [f"{k}: {v}" for k, v in {**fields, "Date": formatdate(time.time(), usegmt=True)}.items()]
    lines.append("SHA256:")
    lines += [f" {hashlib.sha256(data).hexdigest()} {len(data):>8} {path}" for path, data in sorted(files.items())]
    return ("\n".join(lines) + "\n").encode()


def _repository_root(release_file: Path) -> Path:
    """Where a Release's Filename paths start: above `dists/` for a suite, the Release's folder when flat."""
    suite_dir = release_file.parent
    for parent in suite_dir.parents:
        if parent.name == "dists":
            return parent.parent
    return suite_dir


def check(root: Path, carried: dict[str, str]) -> list[str]:
    """Why the APT repositories under `root` would fail APT's own checks (empty: they pass): each (In)Release's
    listed files against its SHA256, each Packages stanza's file against its SHA256. A file the bundle does
    not hold passes only when `carried` (a delta's files kept from the previous bundle: path -> SHA256) has
    it with that hash."""
    problems: list[str] = []
    checked: set[str] = set()

    def compare(path: Path, wanted: str, listed_in: str) -> bytes | None:
        relative = path.relative_to(root).as_posix()
        if not path.is_file():
            if carried.get(relative) != wanted:
                problems.append(f"{relative}: listed in {listed_in} but not in the bundle")
            return None
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != wanted:
            problems.append(f"{relative}: SHA-256 differs from {listed_in}")
            return None
        return data

    for release_file in sorted(p for p in root.rglob("*") if p.name in RELEASE_NAMES and p.is_file()):
        name = release_file.relative_to(root).as_posix()
        try:
            listed = release_sha256(release_file.read_text(encoding="utf-8"))
        except (MirrorIndexError, UnicodeDecodeError, ValueError) as err:
            problems.append(f"{name}: not a Release with a SHA256 list ({err})")
            continue
        repository = _repository_root(release_file)
        for index, (digest, _size) in listed.items():
            data = compare(release_file.parent / index, digest, name)
            if data is None or PurePosixPath(index).name not in INDEX_NAMES:
                continue
            index_name = f"{release_file.parent.relative_to(root).as_posix()}/{index}"
            try:
                stanzas = paragraphs(index_text(data, index))
            except (OSError, EOFError, lzma.LZMAError, UnicodeDecodeError) as err:
                problems.append(f"{index_name}: cannot be read as a Packages index ({err})")
                continue
            for p in stanzas:
                filename = safe_path(p.get("Filename", ""))
                if filename is None or "SHA256" not in p:
                    problems.append(f"{index_name}: {p.get('Package', '?')} has no usable Filename or SHA256")
                    continue
                target = repository / filename
                if target.as_posix() not in checked:
                    checked.add(target.as_posix())
                    compare(target, p["SHA256"], index_name)
    return problems
