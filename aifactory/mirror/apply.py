"""`aifactory mirror apply`: a delta bundle applied onto the bundle being served, written as a new complete
bundle beside it (the served one is never changed).

The delta must name the served bundle's manifest as its previous one, and the served bundle must hold every
file the delta carries with the SHA-256 the delta lists. Each file of the new bundle is copied (never linked)
from the delta, or, when carried, from the served bundle: a regular file reached through no symlink, at a
safe path, hashed while copied against the delta's manifest. The delta's signed manifest and signature
become the new bundle's.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path, PurePosixPath

from aifactory.mirror import manifest

CHUNK = 1024 * 1024


class ApplyRefused(Exception):
    """The delta cannot be applied onto the served bundle (the reason names the file or the manifest)."""


def refusals(delta: dict, served_root: Path) -> list[str]:
    """Why the delta (its manifest document) cannot be applied onto the served bundle (empty: it can)."""
    previous = delta.get("previous")
    wanted = previous.get("manifest_sha256") if isinstance(previous, dict) else None
    if wanted is None:
        return ["the delta names no previous bundle (it is a whole bundle: serve it as it is)"]
    got = manifest.sha256(served_root)
    if wanted != got:
        return [f"the delta was built on the bundle whose {manifest.MANIFEST} has SHA-256 {wanted}, not on the "
                f"served one ({got})"]
    served = manifest.read(served_root)
    held = {e["path"]: e["sha256"] for e in [*served.get("files", []), *served.get("carried", [])]
            if (served_root / e["path"]).is_file()}
    problems = []
    for path, sha256 in manifest.carried(delta).items():
        if not manifest.safe_path(path):
            problems.append(f"{path!r}: a carried path outside the bundle")
        elif path not in held:
            problems.append(f"{path}: carried by the delta but not in the served bundle")
        elif held[path] != sha256:
            problems.append(f"{path}: carried by the delta with SHA-256 {sha256}, the served bundle holds {held[path]}")
    return problems


def _open_regular(root: Path, path: str) -> int:
    """A read descriptor of the regular file at `path` under `root`, reached through no symlink."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        *parents, name = PurePosixPath(path).parts
        for part in parents:
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
        source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    except OSError as err:
        raise ApplyRefused(f"{path}: not a regular file reached through no symlink under {root} "
                           f"({err.strerror})") from None
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(source).st_mode):
        os.close(source)
        raise ApplyRefused(f"{path}: not a regular file under {root}")
    return source


def _copy(root: Path, path: str, sha256: str, out: Path) -> None:
    """Copy `path` from `root` into `out`, refused when its bytes are not the SHA-256 the delta lists."""
    digest = hashlib.sha256()
    target = out / path
    target.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(_open_regular(root, path), "rb") as source, target.open("xb") as dest:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            dest.write(chunk)
    if digest.hexdigest() != sha256:
        raise ApplyRefused(f"{path}: its SHA-256 in {root} is {digest.hexdigest()}, not the {sha256} the delta lists")


def apply(delta_root: Path, served_root: Path, out: Path) -> dict:
    """Write the bundle the delta makes of the served one into `out` (new or empty); the delta's manifest
    document. Both bundles verified first. ApplyRefused (nothing left in `out`) when it cannot be applied."""
    delta = manifest.read(delta_root)
    problems = refusals(delta, served_root)
    if problems:
        raise ApplyRefused("; ".join(problems))
    sources = [(delta_root, e["path"], e["sha256"]) for e in delta["files"]]
    sources += [(served_root, path, sha256) for path, sha256 in manifest.carried(delta).items()]
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for root, path, sha256 in sources:
            written.append(out / path)
            _copy(root, path, sha256, out)
        for name in (manifest.MANIFEST, manifest.SIGNATURE):
            written.append(out / name)
            _copy(delta_root, name, manifest.file_sha256(delta_root / name), out)
    except (ApplyRefused, OSError) as err:
        _remove(out, written, made)
        if isinstance(err, ApplyRefused):
            raise
        raise ApplyRefused(f"{out}: cannot be written ({err})") from None
    return delta


def _remove(out: Path, written: list[Path], made: bool) -> None:
    """Undo a refused apply: the files written, then the directories left empty (`out` too when made here)."""
    for path in written:
        path.unlink(missing_ok=True)
    for directory in sorted({p.parent for p in written}, key=lambda d: len(d.parts), reverse=True):
        while (directory != out and directory.is_relative_to(out) and directory.is_dir()
               and not any(directory.iterdir())):
            directory.rmdir()
            directory = directory.parent
    if made and not any(out.iterdir()):
        out.rmdir()
