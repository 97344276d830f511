"""A site's bill of materials: every artefact its nodes install, resolved from the upstream indexes.

The roles' packages (aifactory.mirror.installs) at the versions the spec and the roles pin, the newest
the indexes hold otherwise, with their dependency closure; each with version, architecture, repository,
source URL, licence where the index gives one, and the SHA-256 the index lists. Packages every installed
node of the distribution has (Priority required or important, as debootstrap installs them, or Essential)
are not followed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from aifactory.mirror.debian import closure, relations
from aifactory.mirror.indexes import Index
from aifactory.mirror.installs import Download, SiteInstalls
from aifactory.mirror.site_built import Given, SiteBuilt

PRESENT_PRIORITIES = ("required", "important")
NOT_PINNED = "trust on first fetch, not pinned"  # a download with no pinned SHA-256 (table, bundle manifest)
SITE_BUILT = "site-built"  # Component.repository of a package the site builds itself (site_built)
NOT_GIVEN = "site-built, not given"  # the table's hash column for one whose build was not given
DEPENDENCY = "dependency of "  # Component.wanted_by of a package a dependency brought in


@dataclass(frozen=True)
class Component:
    """One artefact of the bill of materials."""

    name: str
    version: str
    architecture: str
    repository: str  # os, cuda, doca, neuron; download for a file fetched by URL; site-built
    wanted_by: str  # the role that installs it, or `dependency of <package>`
    url: str
    sha256: str
    license: str


@dataclass(frozen=True)
class Bom:
    """The bill of materials of one site; `missing` names what no index has (the BOM is then incomplete)."""

    site: str
    node_os: str
    architecture: str
    components: tuple[Component, ...]
    per_kernel: tuple[str, ...]
    indexes: tuple[dict, ...]
    missing: tuple[str, ...]

    def as_dict(self) -> dict:
        return asdict(self)


def _base_system(indexes: list[Index]) -> set[str]:
    """What every installed node of the distribution has: its required, important and essential packages."""
    return {p["Package"] for i in indexes if i.repository.key == "os" for p in i.packages
            if p.get("Priority") in PRESENT_PRIORITIES or p.get("Essential") == "yes"}


def packages(installs: SiteInstalls, indexes: list[Index]) -> tuple[list[tuple[dict, Index]], list[str]]:
    """The index paragraphs of every package the site installs, each with the index it comes from, and
    what no index has (the BOM's packages; `mirror build` fetches exactly these)."""
    candidates: dict[str, list[dict]] = {}
    origin: dict[int, Index] = {}
    for index in indexes:
        for p in index.packages:
            if "Package" in p and p.get("Architecture", installs.arch) in (installs.arch, "all"):
                candidates.setdefault(p["Package"], []).append(p)
                origin[id(p)] = index
    missing: list[str] = []
    chosen = closure([(w.name, w.pin) for w in installs.packages], candidates, _base_system(indexes), missing)
    return [(p, origin[id(p)]) for p in chosen], missing


def build(site: str, installs: SiteInstalls, indexes: list[Index],
          site_built: tuple[tuple[SiteBuilt, Given | None], ...] = ()) -> Bom:
    """The site's bill of materials from `indexes` (every index of each repository its packages come from), and
    the packages the site builds itself with the build given of each (None: not given; listed at the pinned
    version, without a hash)."""
    chosen, missing = packages(installs, indexes)
    roles = {w.name: w.role for w in installs.packages}
    needed_by = _needed_by([p for p, _index in chosen], set(roles))
    components = [Component(p["Package"], p.get("Version", ""), p.get("Architecture", installs.arch),
                            index.repository.key,
                            roles.get(p["Package"]) or DEPENDENCY + needed_by.get(p["Package"], "?"),
                            index.repository.file_url(index.url, p.get("Filename", "")),
                            p.get("SHA256", ""), p.get("License", "")) for p, index in chosen]
    components += [_download(d) for d in installs.downloads]
    components += [_site_built(wanted, given, installs.arch) for wanted, given in site_built]
    return Bom(site, installs.node_os, installs.arch, tuple(components), installs.per_kernel,
               tuple({"repository": i.repository.key, "url": i.url, "sha256": i.sha256} for i in indexes),
               tuple(missing))


def _needed_by(chosen: list[dict], roots: set[str]) -> dict[str, str]:
    """Package -> the first chosen package whose Depends brought it in."""
    out: dict[str, str] = {}
    for p in chosen:
        for field in ("Pre-Depends", "Depends"):
            for group in relations(p.get(field, "")):
                for name, _r, _v in group:
                    if name not in roots:
                        out.setdefault(name, p["Package"])
    return out


def _download(d: Download) -> Component:
    return Component(d.name, d.version, d.architecture, "download", d.role, d.url, d.sha256, "")


def _site_built(wanted: SiteBuilt, given: Given | None, arch: str) -> Component:
    if given is None:
        return Component(wanted.name, wanted.version, arch, SITE_BUILT, wanted.wanted_by, wanted.url, "", "")
    return Component(wanted.name, given.fields["Version"], given.fields["Architecture"], SITE_BUILT, wanted.wanted_by,
                     wanted.url, given.sha256, "")


# --- output ---------------------------------------------------------------------------------------------
TABLE_HEADERS = ("package", "version", "arch", "repository", "wanted by", "sha256")


def table_rows(bom: Bom) -> list[tuple[str, ...]]:
    return [(c.name, c.version, c.architecture, c.repository, c.wanted_by,
             c.sha256[:12] or {"download": NOT_PINNED, SITE_BUILT: NOT_GIVEN}.get(c.repository, "-"))
            for c in bom.components]


def as_json(bom: Bom) -> str:
    return json.dumps(bom.as_dict(), indent=2)
