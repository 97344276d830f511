"""A bundle split for transfer media, and joined again on the air-gapped side.

split: the bundle's files (regular files only, symlinks never followed) as one tar stream (stdlib tarfile)
cut into numbered parts `<bundle>.partNNN` of at most a given size, with a parts list `<bundle>.parts.json`
({"format", "site", "bundle", "manifest_sha256", "part_size", "parts": [{"name", "size", "sha256"}]}) signed
with the site's mirror key like the manifest (`<bundle>.parts.json.sig`). join: the parts list's signature,
then every part against it (a missing, extra or altered part is refused, named), then the tar stream read
back into a new directory: regular files at safe relative paths only (an absolute path, `..`, a link or a
device is refused), and the restored manifest must be the one the parts list names. The bundle itself is
then checked by `mirror verify` as any bundle.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric import ed25519

from aifactory.core.inputs import MAX_RECORD_BYTES, InputFileError, read_text
from aifactory.mirror import manifest
from aifactory.reports.signing import ED25519, signature_valid

FORMAT = "aifactory-mirror-parts/1"
LIST = ".parts.json"
UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


class JoinRefused(Exception):
    """The parts cannot be joined into a bundle (a part missing, extra or altered, an unsafe entry)."""


def parse_size(text: str) -> int:
    """`4G`, `700M`, `512K` or a number of bytes (binary units); ValueError naming what is wrong."""
    match = re.fullmatch(r"([0-9]{1,15})([KMGT]?)", text.strip().upper())
    if not match or int(match[1]) == 0:
        raise ValueError(f"{text!r}: expected a positive size such as 4G, 700M, 512K or a number of bytes")
    return int(match[1]) * UNITS[match[2]]


def part_name(bundle: str, number: int) -> str:
    return f"{bundle}.part{number:03d}"


class _Parts:
    """A writable stream cut into files `<bundle>.partNNN` of at most `size` bytes in `directory`."""

    def __init__(self, directory: Path, bundle: str, size: int):
        self.directory, self.bundle, self.size = directory, bundle, size
        self.names: list[str] = []
        self.current: BinaryIO | None = None
        self.left = 0

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            if self.left == 0:
                self._next()
            chunk = view[:self.left]
            self.current.write(chunk)
            self.left -= len(chunk)
            view = view[len(chunk):]
        return len(data)

    def _next(self) -> None:
        self.close()
        self.names.append(part_name(self.bundle, len(self.names)))
        self.current = (self.directory / self.names[-1]).open("xb")
        self.left = self.size

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None


def _tar_entry(root: Path, relative: str) -> tuple[tarfile.TarInfo, BinaryIO]:
    """A bundle file's tar header and its open stream; OSError for a symlink (never followed)."""
    fd = os.open(root / relative, os.O_RDONLY | os.O_NOFOLLOW)
    stream = os.fdopen(fd, "rb")
    info = tarfile.TarInfo(relative)
    status = os.fstat(fd)
    info.size, info.mtime, info.mode = status.st_size, int(status.st_mtime), 0o644
    return info, stream


def split(bundle: Path, directory: Path, size: int, site: str, key: ed25519.Ed25519PrivateKey) -> list[str]:
    """Write `bundle` (a verified bundle) as parts of at most `size` bytes and its signed parts list into
    `directory` (made, or emptied of an earlier split of this bundle); the names written."""
    name = bundle.name
    directory.mkdir(parents=True, exist_ok=True)
    ours = re.compile(re.escape(name) + r"(\.part[0-9]{3,}|" + re.escape(LIST) + r"(\.sig)?)")
    for old in directory.iterdir():
        if not (ours.fullmatch(old.name) and old.is_file() and not old.is_symlink()):
            raise ValueError(f"{directory}: holds {old.name}, no part of a split of {name}; give an empty directory")
        old.unlink()
    files = sorted(manifest.read(bundle)["files"], key=lambda e: e["path"])
    parts = _Parts(directory, name, size)
    try:
        with tarfile.open(fileobj=parts, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for relative in [e["path"] for e in files] + [manifest.MANIFEST, manifest.SIGNATURE]:
                info, stream = _tar_entry(bundle, relative)
                with stream:
                    tar.addfile(info, stream)
    finally:
        parts.close()
    write_list(directory, name, site, manifest.sha256(bundle), size, key)
    return [*parts.names, name + LIST, name + LIST + ".sig"]


def write_list(directory: Path, bundle: str, site: str, manifest_sha256: str, size: int,
               key: ed25519.Ed25519PrivateKey) -> None:
    """The signed parts list of the parts `<bundle>.partNNN` in `directory`, in their order."""
    names = sorted((p.name for p in directory.glob(f"{_glob_escape(bundle)}.part[0-9][0-9][0-9]*")),
                   key=lambda n: int(n.rsplit(".part", 1)[1]))
    document = {"format": FORMAT, "site": site, "bundle": bundle, "manifest_sha256": manifest_sha256,
                "part_size": size, "parts": [{"name": n, "size": (directory / n).stat().st_size,
                                              "sha256": manifest.file_sha256(directory / n)} for n in names]}
    data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
    (directory / (bundle + LIST)).write_bytes(data)
    (directory / (bundle + LIST + ".sig")).write_text(base64.b64encode(key.sign(data)).decode() + "\n")


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _parts_list(directory: Path, key: ed25519.Ed25519PublicKey) -> dict:
    """The one parts list in `directory`, its signature checked; JoinRefused otherwise."""
    lists = sorted(p for p in directory.iterdir() if p.name.endswith(LIST))
    if len(lists) != 1:
        raise JoinRefused(f"{directory}: expected one *{LIST} parts list, found {len(lists)}")
    try:
        data = read_text(lists[0], MAX_RECORD_BYTES).encode()
        signature = read_text(lists[0].with_name(lists[0].name + ".sig"), 4096).strip()
    except InputFileError as err:
        raise JoinRefused(f"{err} (the parts list and its signature are needed)") from None
    if not signature_valid(key, ED25519, data, signature):
        raise JoinRefused(f"{lists[0].name}.sig: not a signature of {lists[0].name} by the site's mirror key "
                          f"({manifest.KEY_FIELD})")
    try:
        document = json.loads(data)
        parts = document.get("parts") if document.get("format") == FORMAT else None
    except (ValueError, AttributeError):
        parts = None
    if not isinstance(parts, list) or not all(isinstance(p, dict) and isinstance(p.get("name"), str) for p in parts) \
            or not isinstance(document.get("bundle"), str):
        raise JoinRefused(f"{lists[0].name}: not an {FORMAT} parts list")
    bad = [p["name"] for p in parts if "/" in p["name"] or p["name"] in (".", "..")]
    if bad:
        raise JoinRefused(f"{lists[0].name}: part names that are not file names: {bad[:5]}")
    return document


def check_parts(directory: Path, key: ed25519.Ed25519PublicKey) -> tuple[dict, list[str]]:
    """The parts list, and why its parts cannot be joined (empty: each is there, as listed, and nothing else)."""
    document = _parts_list(directory, key)
    listed = {p["name"]: p for p in document["parts"]}
    own = {document["bundle"] + LIST, document["bundle"] + LIST + ".sig"}
    problems = [f"{p.name}: an extra file, not in the parts list" for p in sorted(directory.iterdir())
                if p.name not in listed and p.name not in own]
    for name, entry in listed.items():
        path = directory / name
        if not path.is_file() or path.is_symlink():
            problems.append(f"{name}: listed but missing")
        elif path.stat().st_size != entry.get("size") or manifest.file_sha256(path) != entry.get("sha256"):
            problems.append(f"{name}: SHA-256 or size differs from the parts list (altered)")
    return document, problems


class _Joined:
    """The parts read one after another as one stream."""

    def __init__(self, paths: list[Path]):
        self.paths: Iterator[Path] = iter(paths)
        self.current: BinaryIO | None = None

    def read(self, size: int = -1) -> bytes:
        while True:
            if self.current is None:
                path = next(self.paths, None)
                if path is None:
                    return b""
                self.current = path.open("rb")
            data = self.current.read(size)
            if data or size == 0:
                return data
            self.current.close()
            self.current = None

    def close(self) -> None:
        if self.current is not None:
            self.current.close()


def join(directory: Path, out: Path, key: ed25519.Ed25519PublicKey) -> dict:
    """Restore the bundle split into `directory` into `out` (new or empty); its parts list. JoinRefused
    (naming the part or entry) when a part is missing, extra or altered, an entry is not a regular file at
    a safe path, or the restored manifest is not the one the parts list names; nothing is left in `out` then."""
    document, problems = check_parts(directory, key)
    if problems:
        raise JoinRefused("; ".join(problems))
    written: list[Path] = []
    stream = _Joined([directory / p["name"] for p in document["parts"]])
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                if not manifest.inside_bundle(member.name) or not member.isreg():
                    raise JoinRefused(f"{member.name!r}: not a regular file at a relative path inside the bundle "
                                      "(an absolute path, '..', a link or a device); refused")
                target = out / PurePosixPath(member.name).as_posix()
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as source, target.open("xb") as dest:
                    written.append(target)
                    while chunk := source.read(1024 * 1024):
                        dest.write(chunk)
        got = manifest.sha256(out) if (out / manifest.MANIFEST).is_file() else "none"
        if got != document.get("manifest_sha256"):
            raise JoinRefused(f"the restored {manifest.MANIFEST} has SHA-256 {got}, not the "
                              f"{document.get('manifest_sha256')} the parts list names")
    except (JoinRefused, tarfile.TarError, FileExistsError) as err:
        for path in written:
            path.unlink(missing_ok=True)
        if isinstance(err, JoinRefused):
            raise
        raise JoinRefused(f"the parts do not hold a bundle's tar stream ({err})") from None
    finally:
        stream.close()
    return document
