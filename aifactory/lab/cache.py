"""The lab cache's size bound: trees no lab uses are removed, least recently used first, once the cache is over it.

Every tree (`<cache>/<name>/`: a base root, the vendor repository stand-ins, a mirror bundle, the Debian archive's
copy) is stamped each time a lab takes it (`touch`). After `lab up` or `lab prepare` has what it needs, `evict`
removes whole trees, the least recently used first, until the cache fits `AIFACTORY_LAB_CACHE_MAX_GIB` (default 20):
never a tree this run takes, and never one a lab that is up still uses (a node's overlay mount names it, or a
process serves from it). A tree left half-built by a stopped run (`<name>.building`, which may hold a bundle's
mirror key) goes at once, whatever the size: under the cache's lock nothing else is being built. A removed tree
is built again when a lab needs it.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from aifactory.core.inputs import BadInput
from aifactory.lab import base

STAMP = ".aifactory-used"
MAX_ENV = "AIFACTORY_LAB_CACHE_MAX_GIB"
DEFAULT_MAX_GIB = 20
GIB = 1024 ** 3
BUILDING = ".building"  # a tree being built (aifactory.lab.base and the other builders' folder suffix)


def max_bytes(environ: dict | None = None) -> int:
    """The bound, from the environment; BadInput naming the variable when it is not a positive number."""
    text = (os.environ if environ is None else environ).get(MAX_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_GIB * GIB
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):  # NaN compares false too
        raise BadInput(f"{MAX_ENV}={text[:40]!r}: not a positive number of GiB (such as 20 or 2.5); the lab cache "
                       f"is kept within it")
    return int(value * GIB)


def touch(tree: Path) -> None:
    """Stamp `tree` as used now."""
    (tree / STAMP).touch()


@dataclass(frozen=True)
class Tree:
    path: Path
    size: int
    used: float  # last use (the stamp's time, else the tree's own)


def _size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def trees(root: Path | None = None) -> list[Tree]:
    """Every tree in the cache, half-built ones included."""
    root = root or base.CACHE_ROOT
    out = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if path.is_dir() and not path.is_symlink():
            stamp = path / STAMP
            used = (stamp if stamp.exists() else path).stat().st_mtime
            out.append(Tree(path, _size(path), used))
    return out


def in_use(root: Path | None = None) -> set[Path]:
    """The trees a lab that is up uses: named by a mount (a node root's overlay) or a process's command line."""
    root = root or base.CACHE_ROOT
    texts = []
    try:
        texts.append(Path("/proc/mounts").read_text())
    except OSError:
        pass
    for proc in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if proc.name.isdigit():
            try:
                texts.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    pattern = re.compile(re.escape(f"{root}/") + r"([^/\s,:]+)")
    return {root / match.group(1) for text in texts for match in pattern.finditer(text)}


def _remove(path: Path) -> None:
    """A tree and, unless the finished tree of the same name is kept, its build log."""
    shutil.rmtree(path, ignore_errors=True)
    built = path.with_name(path.name.removesuffix(BUILDING))
    if not built.exists():
        built.with_name(built.name + ".log").unlink(missing_ok=True)


def evict(keep: Iterable[Path], progress: Callable[[str], None] = print, root: Path | None = None,
          bound: int | None = None, busy: Callable[[Path], set[Path]] = in_use) -> list[Path]:
    """Remove unused trees, least recently used first, until the cache is within `bound` (max_bytes()); the
    trees removed. Call it under the cache's lock."""
    root = root or base.CACHE_ROOT
    limit = max_bytes() if bound is None else bound
    found = trees(root)
    removed = []
    for tree in [t for t in found if t.path.name.endswith(BUILDING)]:  # under the lock nothing is being built
        _remove(tree.path)
        removed.append(tree.path)
        progress(f"lab cache: removed {tree.path.name}, left half-built by a run that was stopped")
    found = [t for t in found if t.path not in removed]
    total = sum(t.size for t in found)
    if total <= limit:
        return removed
    kept = {Path(k) for k in keep} | busy(root)
    for tree in sorted(found, key=lambda t: t.used):
        if total <= limit:
            break
        if tree.path in kept:
            continue
        _remove(tree.path)
        total -= tree.size
        removed.append(tree.path)
        age = (time.time() - tree.used) / 86400
        progress(f"lab cache: removed {tree.path.name} ({tree.size // (1024 * 1024)} MiB, last used {age:.1f} days "
                 f"ago): the cache is over {limit / GIB:g} GiB ({MAX_ENV})")
    if total > limit:
        progress(f"lab cache: {total / GIB:.1f} GiB, over {limit / GIB:g} GiB ({MAX_ENV}), but every tree left is in "
                 "use")
    return removed
