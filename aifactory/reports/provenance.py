"""When a report was made, by which aifactory, and from which git commit of the Pulumi program."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from aifactory import __version__


@dataclass(frozen=True)
class Provenance:
    generated: datetime  # UTC
    version: str  # aifactory's
    commit: str | None  # the program's git commit; None outside a git checkout (or without git)
    modified: bool  # the program differs from that commit (changed or untracked files)

    def line(self, program: str) -> str:
        """One sentence for the page."""
        if self.commit is None:
            source = f"{program}/ (not in a git checkout: commit unknown)"
        else:
            source = f"{program}/ at commit {self.commit}{' with uncommitted changes' if self.modified else ''}"
        return f"generated {self.generated:%Y-%m-%d %H:%M:%S} UTC by aifactory {self.version} from {source}"


def _git(program: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(program), *args], capture_output=True, text=True, check=False)
    except OSError:  # no git on this machine
        return None
    return done.stdout if done.returncode == 0 else None


def provenance(program: Path) -> Provenance:
    """The provenance of a report made now of a plan of `program`."""
    commit = _git(program, "rev-parse", "--verify", "HEAD")
    changes = _git(program, "status", "--porcelain", "--", ".") if commit else None
    return Provenance(datetime.now(timezone.utc), __version__, commit.strip() if commit else None, bool(changes))
