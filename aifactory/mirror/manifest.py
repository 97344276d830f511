"""A mirror bundle's signed manifest: every file of the bundle with its SHA-256 and size, signed with the
site's Ed25519 mirror key.

`manifest.json` ({"format", "site", "files": [{"path", "sha256", "size"}]}, paths relative and sorted) and
`manifest.json.sig` (the base64 Ed25519 signature of manifest.json's bytes) sit at the bundle's root. A
built bundle's manifest also says where each package came from (a file's "upstream" URL and the "index" it
was verified against, the top-level "indexes" with the Release each index was checked against) and, for a
delta, the "previous" bundle's manifest SHA-256 and the files "carried" from it ({"path", "sha256", "size"},
not in this bundle), and the "downloads" (each with its SHA-256 and its "pinning": pinned, or trust on
first fetch, not pinned). A bundle verifies when the signature is the key's that the site's spec names (software.mirror_public_key_file,
never a key the bundle carries), every listed file is there as a regular file with its hash and size, and no
other file is but a carried one with its carried hash and size (a delta applied onto its previous bundle).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path, PurePosixPath

from cryptography.hazmat.primitives.asymmetric import ed25519

from aifactory.core.inputs import MAX_RECORD_BYTES, InputFileError, read_text
from aifactory.node.mirror_keyring import KEY_FIELD
from aifactory.reports.signing import ED25519, signature_valid

MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
FORMAT = "aifactory-mirror-manifest/1"


def file_sha256(path: Path) -> str:
    """A file's SHA-256, read in chunks."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _bundle_files(root: Path) -> tuple[list[str], list[str]]:
    """(the bundle's regular files, relative POSIX paths, sorted; what is neither a file nor a directory)."""
    files, odd = [], []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if relative in (MANIFEST, SIGNATURE) or (path.is_dir() and not path.is_symlink()):
            continue
        (files if path.is_file() and not path.is_symlink() else odd).append(relative)
    return files, odd


def manifest_bytes(root: Path, site: str, sources: dict[str, dict] | None = None, **extra) -> bytes:
    """The manifest of every file under `root` (the manifest and its signature aside); `sources` adds fields
    to a file's entry (path -> fields), `extra` to the document."""
    files, odd = _bundle_files(root)
    if odd:
        raise ValueError(f"{root}: not regular files (a bundle holds files only): {', '.join(odd)}")
    entries = [{**(sources or {}).get(p, {}), "path": p, "sha256": file_sha256(root / p),
                "size": (root / p).stat().st_size} for p in files]
    document = {**extra, "format": FORMAT, "site": site, "files": entries}
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def write(root: Path, site: str, key: ed25519.Ed25519PrivateKey, sources: dict[str, dict] | None = None,
          **extra) -> None:
    """Write `root`'s manifest and its signature with the site's mirror key."""
    data = manifest_bytes(root, site, sources, **extra)
    (root / MANIFEST).write_bytes(data)
    (root / SIGNATURE).write_text(base64.b64encode(key.sign(data)).decode() + "\n")


def inside_bundle(path) -> bool:
    """Whether a path names a file inside a bundle's directory: relative, no '..', not the directory itself."""
    return (isinstance(path, str) and bool(path) and not PurePosixPath(path).is_absolute()
            and ".." not in PurePosixPath(path).parts and bool(PurePosixPath(path).parts))


def safe_path(path) -> bool:
    """Whether a manifest's path stays inside its bundle and is not the manifest or its signature."""
    return inside_bundle(path) and path not in (MANIFEST, SIGNATURE)


def _listed(data: bytes) -> dict[str, dict] | str:
    """path -> entry of a manifest's files, or why the manifest is malformed."""
    try:
        document = json.loads(data)
        entries = document["files"] if document.get("format") == FORMAT else None
        if not isinstance(entries, list):
            return f"not an {FORMAT} manifest"
        listed = {e["path"]: e for e in entries if isinstance(e, dict)}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        return f"not an {FORMAT} manifest ({err})"
    unsafe = [p for p in listed if not safe_path(p)]
    if unsafe or len(listed) != len(entries):
        return f"malformed file list (entries: {len(entries)}, unsafe or repeated paths: {unsafe[:5]})"
    return listed


def verify(root: Path, key: ed25519.Ed25519PublicKey, complete: bool = False) -> list[str]:
    """Why the bundle at `root` must not be served (empty: it verifies): the signature first, then each file.
    A delta's carried file may be held too (a delta applied onto its previous bundle), with its carried hash;
    `complete`: every carried file must be held."""
    try:
        data = read_text(root / MANIFEST, MAX_RECORD_BYTES).encode()
    except InputFileError as err:
        return [f"{MANIFEST}: {err} (the bundle has no readable manifest)"]
    try:
        signature = read_text(root / SIGNATURE, 4096).strip()
    except InputFileError as err:
        return [f"{SIGNATURE}: {err} (the manifest is not signed)"]
    if not signature_valid(key, ED25519, data, signature):
        return [f"{SIGNATURE}: not a signature of {MANIFEST} by the site's mirror key ({KEY_FIELD})"]
    listed = _listed(data)
    if isinstance(listed, str):
        return [f"{MANIFEST}: {listed}"]
    carried_entries = json.loads(data).get("carried", [])
    held = {e["path"]: e for e in (carried_entries if isinstance(carried_entries, list) else [])
            if isinstance(e, dict) and safe_path(e.get("path")) and e["path"] not in listed
            and (complete or (root / e["path"]).exists() or (root / e["path"]).is_symlink())}
    files, odd = _bundle_files(root)
    problems = [f"{p}: not a regular file" for p in odd]
    problems += [f"{p}: not listed in the manifest" for p in files if p not in listed and p not in held]
    for path, entry in (listed | held).items():
        target = root / path
        if not target.is_file() or target.is_symlink():
            problems.append(f"{path}: " + ("listed but missing" if path in listed else "carried but missing"))
        elif target.stat().st_size != entry.get("size") or file_sha256(target) != entry.get("sha256"):
            problems.append(f"{path}: SHA-256 or size differs from the manifest (altered)")
    return problems


def read(root: Path) -> dict:
    """A bundle's manifest document, read after verify() found nothing wrong with the bundle."""
    return json.loads((root / MANIFEST).read_bytes())


def sha256(root: Path) -> str:
    """The SHA-256 of a bundle's manifest: what a delta built on it names as its previous bundle."""
    return file_sha256(root / MANIFEST)


def carried(document: dict) -> dict[str, str]:
    """A delta's files kept from its previous bundle: path -> SHA-256 (empty for a whole bundle)."""
    return {e["path"]: e["sha256"] for e in document.get("carried", []) if isinstance(e, dict)
            and isinstance(e.get("path"), str) and isinstance(e.get("sha256"), str)}
