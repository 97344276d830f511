"""What a lab created, written down as it is created, so `lab down` removes exactly that.

The state file `.lab/<site>/state.json` lists every resource in creation order (network namespace,
link, mount, loop device, process with its start time) plus the endpoints the lab serves. Teardown
walks it backwards and removes each item by its id; it never removes anything by name pattern.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

STATE_FILE = "state.json"


def lab_root() -> Path:
    """Where labs keep their state: `$AIFACTORY_LAB_DIR` or `.lab/` under the working directory."""
    return Path(os.environ.get("AIFACTORY_LAB_DIR", ".lab")).resolve()


def site_dir(site: str) -> Path:
    return lab_root() / site


@dataclass
class LabState:
    """The record of one site's lab; `save()` after every change so a crash leaves a usable record."""

    site: str
    resources: list[dict] = field(default_factory=list)
    endpoints: dict = field(default_factory=dict)
    nodes: dict = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return site_dir(self.site)

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

    @classmethod
    def load(cls, site: str) -> LabState | None:
        path = site_dir(site) / STATE_FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(site=data["site"], resources=data["resources"], endpoints=data["endpoints"],
                   nodes=data.get("nodes", {}))
