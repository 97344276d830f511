"""The Slurm textfile collector as one file the node_exporter role copies: a zipapp of
`aifactory.monitoring.slurm_textfile` (its `__main__.py`) and the aifactory modules it imports, built on the
controller the way the node health check is (`aifactory.scheduler.health_program`: the same bytes for the same
sources, kept in the state directory under their hash). A user without the aifactory inventory builds it with
`python -m aifactory.monitoring.slurm_program PATH`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aifactory.scheduler import health_program

NAME = "slurm-textfile"
MODULES = ("__init__.py", "core/__init__.py", "core/atomic.py", "monitoring/__init__.py", "monitoring/metrics.py",
           "monitoring/textfile.py")


def entries() -> dict[str, bytes]:
    """{name in the zipapp: source bytes}: slurm_textfile.py as __main__.py, the modules under aifactory/."""
    return health_program.entries("monitoring/slurm_textfile.py", MODULES)


def cached_program() -> Path:
    """The zipapp in the state directory (`slurm-textfile/aifactory-slurm-textfile-<hash>.pyz`)."""
    return health_program.cached_program(NAME, entries())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m aifactory.monitoring.slurm_program PATH  (writes the Slurm textfile collector zipapp)",
              file=sys.stderr)
        sys.exit(2)
    health_program.write(Path(sys.argv[1]), health_program.program_bytes(entries()))
