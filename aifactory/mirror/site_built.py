"""What a site builds itself: software its nodes need that no vendor publishes as a package.

nccl-tests, which performance acceptance runs (all_reduce_perf, all_gather_perf), is published by NVIDIA as
source only (github.com/NVIDIA/nccl-tests). The catalog (aifactory/catalog/vendor_packages.yaml, `site_built`)
pins the tag a site builds into a package of its own; `aifactory mirror bom` lists it, and `mirror build
--site-package FILE.deb` puts the site's build into the bundle's repository the catalog names (for nccl-tests
the CUDA one, whose libraries it links against), listed in that repository's signed Packages index with the
file's SHA-256. A site-built package not given is listed as such and left out; nothing else is refused for it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

import yaml

from aifactory.core.inputs import BadInput
from aifactory.mirror.debian import paragraphs
from aifactory.spec import Factory

CATALOG = Path(str(files("aifactory.catalog") / "vendor_packages.yaml"))


@dataclass(frozen=True)
class SiteBuilt:
    """A package the site builds from a vendor's source: the tag pinned, the repository that serves it."""

    name: str
    version: str  # the version the pinned tag builds
    url: str  # the source at the pinned tag
    commit: str  # the tag's commit
    repository: str  # the key of the bundle repository it is served from (installs.Repository.key)
    wanted_by: str


@dataclass(frozen=True)
class Given:
    """A site's build of one, as --site-package names it: its control fields, SHA-256 and size."""

    path: Path
    fields: dict[str, str]
    sha256: str
    size: int

    @property
    def name(self) -> str:
        return self.fields["Package"]


@cache
def _catalog() -> tuple[dict, ...]:
    return tuple(yaml.safe_load(CATALOG.read_text())["site_built"])


def wanted(f: Factory) -> tuple[SiteBuilt, ...]:
    """The site-built packages the site's nodes need (those of its software stack)."""
    return tuple(SiteBuilt(e["name"], e["version"], f"{e['repository_url']}/tree/{e['tag']}", e["commit"],
                           e["repository"], e["wanted_by"])
                 for e in _catalog() if e["stack"] == f.platform.software_stack)


def read(path: Path) -> Given:
    """A .deb's control fields (dpkg-deb, as on any Debian or Ubuntu staging host), SHA-256 and size;
    BadInput when it is not a readable package."""
    if not path.is_file():
        raise BadInput(f"--site-package {path}: no such file")
    if shutil.which("dpkg-deb") is None:
        raise BadInput("--site-package needs dpkg-deb (Debian's dpkg) to read the package's control fields")
    done = subprocess.run(["dpkg-deb", "--field", str(path)], capture_output=True, text=True, check=False)
    found = paragraphs(done.stdout) if done.returncode == 0 else []
    if not found or not {"Package", "Version", "Architecture"} <= found[0].keys():
        raise BadInput(f"--site-package {path}: not a Debian package ({(done.stderr.strip() or 'no control fields')[:200]})")
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as package:
        for block in iter(lambda: package.read(1024 * 1024), b""):
            digest.update(block)
            size += len(block)
    return Given(path, found[0], digest.hexdigest(), size)


def match(f: Factory, given: list[Given], arch: str) -> dict[str, Given]:
    """Each wanted site-built package's given build, by name; BadInput naming every given package that is not
    one of the site's site-built packages, not of its architecture, or given twice."""
    names = {w.name for w in wanted(f)}
    problems, out = [], {}
    for g in given:
        if g.name not in names:
            problems.append(f"--site-package {g.path}: {g.name} is not a package this site builds itself "
                            f"({', '.join(sorted(names)) or 'none for its software stack'})")
        elif g.fields["Architecture"] not in (arch, "all"):
            problems.append(f"--site-package {g.path}: built for {g.fields['Architecture']}, the site's nodes are {arch}")
        elif g.name in out:
            problems.append(f"--site-package {g.path}: {g.name} given twice")
        else:
            out[g.name] = g
    if problems:
        raise BadInput("; ".join(problems))
    return out


def filename(g: Given) -> str:
    """Its file name in the bundle's repository, as Debian names packages."""
    version = g.fields["Version"].split(":", 1)[-1]
    return f"{g.name}_{version}_{g.fields['Architecture']}.deb"


def stanza(g: Given, path_in_repository: str) -> dict[str, str]:
    """Its paragraph in the repository's Packages index: the control fields, then where it lies and its hash."""
    return {**g.fields, "Filename": path_in_repository, "Size": str(g.size), "SHA256": g.sha256}
