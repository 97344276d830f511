"""The node health check as one file the slurm role copies: a zipapp of `aifactory.scheduler.health` (its
`__main__.py`) and the aifactory modules it imports (`HEALTH_MODULES`), built on the controller.

The bytes depend on the sources only (entries sorted, stored uncompressed, fixed timestamps and modes), so a
re-run copies nothing. `cached_program()` keeps it in the state directory under its content hash, the path
the inventory gives the role (`slurm_health_program_source`); a user without that inventory builds it with
`python -m aifactory.scheduler.health_program PATH`. Other programs installed on nodes as one file (the Slurm
textfile collector, `aifactory.monitoring.slurm_program`) are built the same way from their own entries.
"""

from __future__ import annotations

import hashlib
import io
import sys
import zipfile
from importlib.resources import files
from pathlib import Path

from aifactory.core.userstate import state_dir
from aifactory.core.atomic import write_atomically
from aifactory.scheduler import HEALTH_MODULES

SHEBANG = b"#!/usr/bin/python3\n"  # the node's Python: slurmd runs the file itself (HealthCheckProgram, Prolog)
ENTRY_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
ENTRY_MODE = 0o644


def entries(main: str = "scheduler/health.py", modules: tuple[str, ...] = HEALTH_MODULES) -> dict[str, bytes]:
    """{name in the zipapp: source bytes}: `main` (a path under aifactory/) as __main__.py, and `modules` under
    aifactory/; by default the health check's."""
    package = files("aifactory")
    found = {"__main__.py": package.joinpath(*main.split("/")).read_bytes()}
    for module in modules:
        found[f"aifactory/{module}"] = package.joinpath(*module.split("/")).read_bytes()
    return found


def program_bytes(found: dict[str, bytes] | None = None) -> bytes:
    """The zipapp of `found` ({name in the zipapp: bytes}; default the health check's `entries()`), with its
    shebang: the same bytes for the same sources."""
    out = io.BytesIO()
    out.write(SHEBANG)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in sorted((entries() if found is None else found).items()):
            info = zipfile.ZipInfo(name, date_time=ENTRY_TIME)
            info.create_system = 3  # Unix, whatever the controller: the mode below is a Unix one
            info.external_attr = ENTRY_MODE << 16
            archive.writestr(info, data)
    return out.getvalue()


def write(path: Path, data: bytes) -> None:
    """Replace `path` with the program `data` atomically (a reader never sees half a program)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, data, 0o755)


def cached_program(name: str = "health", found: dict[str, bytes] | None = None) -> Path:
    """The zipapp of `found` (default the health check's) in the state directory
    (`<name>/aifactory-<name>-<hash>.pyz`), written when missing or not these bytes (read back only when it has
    their size, so a file grown there is never read whole)."""
    data = program_bytes(found)
    path = state_dir() / name / f"aifactory-{name}-{hashlib.sha256(data).hexdigest()[:16]}.pyz"
    if not path.is_file() or path.stat().st_size != len(data) or path.read_bytes() != data:
        write(path, data)
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m aifactory.scheduler.health_program PATH  (writes the node health check zipapp)",
              file=sys.stderr)
        sys.exit(2)
    write(Path(sys.argv[1]), program_bytes())
