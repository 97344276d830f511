"""What a lab created, written down as it is created, so `lab down` removes exactly that.

The state file `<lab root>/<site>/state.json` (lab root: `$AIFACTORY_LAB_DIR`, else `labs/` in the
user's state directory, aifactory.core.userstate) lists every resource in creation order (network namespace,
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

from aifactory.core.inputs import MAX_RECORD_BYTES, BadInput, InputFileError, parse_json, read_text
from aifactory.core.userstate import labs_dir
from aifactory.lab import network, traces
from aifactory.lab.traces import STATE_FILE
from aifactory.spec.validators import shown
from aifactory.spec.validators.text import DNS_LABEL

# What a lab records (aifactory.lab.lifecycle creates and removes each kind).
RESOURCE_KINDS = ("netns", "link", "mount", "loop", "process", "cgroup", "nft")
MAX_POINTER_BYTES = 4096


def lab_root() -> Path:
    """Where labs keep their state: `$AIFACTORY_LAB_DIR`, else the user's state directory's `labs/`
    (not the working directory: a lab is found from anywhere)."""
    return Path(os.environ.get("AIFACTORY_LAB_DIR") or labs_dir()).resolve()


def _pointer(site: str) -> Path:
    """The note of where the site's lab lives (its lab root)."""
    return labs_dir() / f"{site}.path"


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
        if os.path.lexists(pointer) and _read_pointer(pointer) == self.root:
            pointer.unlink()

    @classmethod
    def load(cls, site: str) -> LabState | None:
        """The site's lab: under this environment's lab root, else where its last save noted it, else where this
        machine's traces of it say (its bridge's alias, its nodes' mounts: aifactory.lab.traces). Each file is
        read as strictly as any input (_read_state); BadInput naming the file otherwise."""
        if not DNS_LABEL.fullmatch(site):  # it becomes part of paths
            raise BadInput(f"{shown(site)}: not a site's name (a DNS label), its factory.yaml or its directory")
        roots = [lab_root()]
        pointer = _pointer(site)
        if os.path.lexists(pointer):
            roots.append(_read_pointer(pointer))
        found = cls._load_from(site, roots)
        return found or cls._load_from(site, traced_roots(site))

    @classmethod
    def _load_from(cls, site: str, roots: list[Path]) -> LabState | None:
        for root in roots:
            path = root / site / STATE_FILE
            if os.path.lexists(path):
                data = _read_state(path, site)
                return cls(site=data["site"], resources=data["resources"], endpoints=data["endpoints"],
                           nodes=data.get("nodes", {}), root=root)
        return None


def traced_roots(site: str) -> list[Path]:
    """The lab roots this machine's traces name for `site` (aifactory.lab.traces)."""
    return traces.lab_roots(site, network.bridge_name(site))


def _read_pointer(pointer: Path) -> Path:
    """The lab root a pointer notes: an absolute path on one line."""
    try:
        root = Path(read_text(pointer, MAX_POINTER_BYTES).strip())
    except InputFileError as err:
        raise BadInput(f"{pointer}: {err}: remove it (it notes where a lab lives)") from None
    if not root.is_absolute() or "\n" in str(root):
        raise BadInput(f"{pointer}: not an absolute lab root: remove it (it notes where a lab lives)")
    return root


def _read_state(path: Path, site: str) -> dict:
    """A lab's state file: a regular JSON file of bounded size, of this site, each resource a known kind."""
    try:
        data = parse_json(read_text(path, MAX_RECORD_BYTES))
    except InputFileError as err:
        raise BadInput(f"{path}: not a lab state file ({err})") from None
    shape = (isinstance(data, dict) and data.get("site") == site and isinstance(data.get("resources"), list)
             and isinstance(data.get("endpoints"), dict) and isinstance(data.get("nodes", {}), dict)
             and all(isinstance(r, dict) and r.get("kind") in RESOURCE_KINDS for r in data["resources"]))
    if not shape:
        raise BadInput(f"{path}: not the lab state of {site} (site, resources of the kinds {', '.join(RESOURCE_KINDS)}, "
                       "endpoints, nodes): take the lab down by hand and remove the file")
    return data
