"""Debian control data as pure functions: deb822 paragraphs, Release hashes, version order, dependency closure.

The one implementation the lab's mirror stand-in (aifactory/lab/mirror.py) and the bill of materials
(aifactory/mirror/bom.py) share; nothing here reads a file or the network.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable


class MirrorIndexError(RuntimeError):
    """An index lacks what was asked of it; the message names the package or file."""


def paragraphs(text: str) -> list[dict[str, str]]:
    """Deb822 paragraphs (Packages, dpkg status) as dicts; continuation lines are kept joined."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line and not line.startswith("#"):
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if fields:
            out.append(fields)
    return out


def release_sha256(inrelease: str) -> dict[str, tuple[str, int]]:
    """path -> (sha256, size) from a Release/InRelease file's SHA256 section."""
    section = re.search(r"^SHA256:\n((?: .*\n?)+)", inrelease, re.M)
    if not section:
        raise MirrorIndexError("InRelease has no SHA256 section")
    files = {}
    for line in section.group(1).splitlines():
        digest, size, path = line.split()
        files[path] = (digest, int(size))
    return files


# --- versions (deb-version(7), dpkg's ordering) ------------------------------------------------------
def _order(char: str) -> int:
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256 if char else 0


def _compare_part(a: str, b: str) -> int:
    """dpkg's comparison of an upstream version or revision: non-digits by _order, digit runs as numbers."""
    while a or b:
        a_text, a = re.match(r"([^0-9]*)(.*)", a).groups()
        b_text, b = re.match(r"([^0-9]*)(.*)", b).groups()
        for i in range(max(len(a_text), len(b_text))):
            diff = _order(a_text[i:i + 1]) - _order(b_text[i:i + 1])
            if diff:
                return diff
        a_num, a = re.match(r"([0-9]*)(.*)", a).groups()
        b_num, b = re.match(r"([0-9]*)(.*)", b).groups()
        diff = int(a_num or 0) - int(b_num or 0)
        if diff:
            return diff
    return 0


def compare_versions(a: str, b: str) -> int:
    """<0, 0 or >0 as Debian version `a` sorts before, equal to or after `b` ([epoch:]upstream[-revision])."""
    def split(v: str) -> tuple[int, str, str]:
        epoch, _, rest = v.rpartition(":") if ":" in v else ("0", "", v)
        upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
        return int(epoch or 0), upstream, revision

    (ea, ua, ra), (eb, ub, rb) = split(a), split(b)
    return (ea - eb) or _compare_part(ua, ub) or _compare_part(ra, rb)


_RELATIONS: dict[str, Callable[[int, int], bool]] = {
    "=": operator.eq, ">=": operator.ge, "<=": operator.le, ">>": operator.gt, "<<": operator.lt,
    ">": operator.ge, "<": operator.le}  # `>`/`<` are dpkg's obsolete spellings of >= and <=


def satisfies(version: str, relation: str | None, wanted: str | None) -> bool:
    """Whether `version` meets a Depends relation such as (>= 1.2); no relation: any version."""
    return relation is None or _RELATIONS[relation](compare_versions(version, wanted or ""), 0)


# --- relations ------------------------------------------------------------------------------------
Alternative = tuple[str, str | None, str | None]  # name, relation, version


def relations(field: str) -> list[list[Alternative]]:
    """A Depends-style field as alternatives: 'a (>= 1) | b:any, c' -> [[(a, >=, 1), (b, None, None)], [(c, ...)]]."""
    groups = []
    for group in filter(None, (g.strip() for g in field.split(","))):
        alternatives = []
        for alt in group.split("|"):
            m = re.match(r"\s*([^\s(:\[]+)(?::\S+)?\s*(?:\(\s*([<>=]+)\s*([^)\s]+)\s*\))?", alt)
            alternatives.append((m.group(1), m.group(2), m.group(3)))
        groups.append(alternatives)
    return groups


def _names(field: str) -> list[list[str]]:
    """A Depends-style field as alternatives of bare package names: 'a (>= 1) | b:any, c' -> [[a, b], [c]]."""
    return [[name for name, _rel, _ver in group] for group in relations(field)]


def installed(status_text: str) -> set[str]:
    """Package names installed in a dpkg status file, and the virtual names they provide."""
    names = set()
    for p in paragraphs(status_text):
        if p.get("Status", "").endswith(" installed"):
            names.add(p["Package"])
            names.update(n for group in _names(p.get("Provides", "")) for n in group)
    return names


# --- dependency closure ---------------------------------------------------------------------------
def newest(candidates: list[dict], relation: str | None = None, version: str | None = None,
           prefix: str = "") -> dict | None:
    """The newest of a package's index paragraphs whose Version meets `relation version` and starts with
    `prefix` (a pin: the spec's driver version, a Neuron release's package version); None if none does."""
    fitting = [p for p in candidates if "Version" not in p  # an index without versions (tests, a partial one)
               or (p["Version"].startswith(prefix) and satisfies(p["Version"], relation, version))]
    best = None
    for p in fitting:
        if best is None or compare_versions(p.get("Version", ""), best.get("Version", "")) > 0:
            best = p
    return best


def closure(wanted: list[tuple[str, str]], candidates: dict[str, list[dict]], present: set[str],
            missing: list[str] | None = None) -> list[dict]:
    """The index paragraphs to fetch so that `wanted` ((name, version prefix) pairs) installs on a system
    with `present`: each wanted package's newest fitting version and, breadth first, every dependency not
    already satisfied (its first alternative some index has, at the newest version its relation allows).
    A package no index has, or no version of which fits, raises MirrorIndexError naming it, or with
    `missing` is appended there and left out."""
    providers: dict[str, str] = {}
    for name, versions in candidates.items():
        for p in versions:
            for group in _names(p.get("Provides", "")):
                providers.setdefault(group[0], name)
    chosen: dict[str, dict] = {}
    queue: list[tuple[str, str | None, str | None, str, str]] = [(n, None, None, pin, "") for n, pin in wanted]
    while queue:
        name, relation, version, pin, needed_by = queue.pop(0)
        real = name if name in candidates else providers.get(name)
        by = f" (needed by {needed_by})" if needed_by else ""
        if real is None:
            _lacking(f"{name} is in no index of the mirror{by}", missing)
            continue
        if real in chosen:
            continue
        if real != name:  # a virtual package: any provider's version will do
            relation = version = None
        picked = newest(candidates[real], relation, version, pin)
        if picked is None:
            wanted_version = " ".join(filter(None, (relation, version))) or f"{pin}*"
            _lacking(f"{real} {wanted_version} is in no index of the mirror{by} (versions there: "
                     + ", ".join(p.get("Version", "?") for p in candidates[real]) + ")", missing)
            continue
        chosen[real] = picked
        for field in ("Pre-Depends", "Depends"):
            for alternatives in relations(picked.get(field, "")):
                if any(a in present or a in chosen for a, _r, _v in alternatives):
                    continue
                known = next((a for a in alternatives if a[0] in candidates or a[0] in providers), alternatives[0])
                queue.append((*known, "", real))
    return list(chosen.values())


def _lacking(message: str, missing: list[str] | None) -> None:
    if missing is None:
        raise MirrorIndexError(message)
    if message not in missing:
        missing.append(message)


def resolve(wanted: tuple[str, ...], available: dict[str, dict], present: set[str]) -> list[dict]:
    """closure() over indexes with one version of each package (name -> paragraph), nothing pinned."""
    return closure([(name, "") for name in wanted], {n: [p] for n, p in available.items()}, present)
