"""What a lab created, written down as it is created, so `lab down` removes exactly that.

The state file `<lab root>/<site>/state.json` (lab root: `$AIFACTORY_LAB_DIR`, else the repository's
`.lab/`) lists every resource in creation order (network namespace,
link, mount, loop device, process with its start time) plus the endpoints the lab serves. Teardown
walks it backwards and removes each item by its id; it never removes anything by name pattern.
Each save also notes the lab root under the user's state directory (`labs/<site>.path`), so `lab
status` and `lab down` find a site's lab by its name from any working directory and environment.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from aifactory.core.userstate import state_dir

STATE_FILE = "state.json"
REPO = Path(__file__).resolve().parents[2]


def lab_root() -> Path:
    """Where labs keep their state: `$AIFACTORY_LAB_DIR`, else `.lab/` in the repository (not the
    working directory: a lab is found from anywhere)."""
    return Path(os.environ.get("AIFACTORY_LAB_DIR") or REPO / ".lab").resolve()


def _pointer(site: str) -> Path:
    """The note of where the site's lab lives (its lab root)."""
    return state_dir() / "labs" / f"{site}.path"


def site_dir(site: str) -> Path:
    return lab_root() / site


@dataclass
class LabState:
    """The record of one site's lab; `save()` after every change so a crash leaves a usable record."""

    site: str
    resources: list[dict] = field(default_factory=list)
    endpoints: dict = field(default_factory=dict)
    nodes: dict = field(default_factory=dict)
    root: Path = field(default_factory=lab_root)

    @property
    def dir(self) -> Path:
        return self.root / self.site

    @property
    def path(self) -> Path:
        return self.dir / STATE_FILE

    def record(self, kind: str, **ids) -> dict:
        item = {"kind": kind, **ids}
        self.resources.append(item)
        self.save()
        return item

    def forget(self, item: dict) -> None:
        self.resources.remove(item)
        self.save()

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"site": self.site, "resources": self.resources,
                                   "endpoints": self.endpoints, "nodes": self.nodes}, indent=2))
        tmp.replace(self.path)
        pointer = _pointer(self.site)
        pointer.parent.mkdir(parents=True, exist_ok=True)
        pointer.write_text(str(self.root))

    def remove(self) -> None:
        """The lab is gone: remove its state file and the note of where it lived."""
        self.path.unlink(missing_ok=True)
        pointer = _pointer(self.site)
        if pointer.is_file() and pointer.read_text().strip() == str(self.root):
            pointer.unlink()

    @classmethod
    def load(cls, site: str) -> LabState | None:
        """The site's lab: under this environment's lab root, else where its last save noted it."""
        roots = [lab_root()]
        pointer = _pointer(site)
        if pointer.is_file():
            roots.append(Path(pointer.read_text().strip()))
        for root in roots:
            path = root / site / STATE_FILE
            if path.exists():
                data = json.loads(path.read_text())
                return cls(site=data["site"], resources=data["resources"], endpoints=data["endpoints"],
                           nodes=data.get("nodes", {}), root=root)
        return None
