"""Where aifactory keeps state and records, found from any working directory and without the checkout.

One home, the user's state directory (`state_dir()`): the bring-up runs in progress (so a killed run is
scrubbed by the next command), where each site's lab lives (`labs/`), and per site (`sites/<site>/`)
its bring-up run directories, acceptance results and day-2 records. Records an older aifactory left in
the checkout (`.aifactory/`, `.lab/`) are moved here by `migrate_legacy`, or refused with what to do.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from aifactory.core.inputs import MAX_RECORD_BYTES, InputFileError, read_json


def state_dir() -> Path:
    """$AIFACTORY_STATE_DIR, else $XDG_STATE_HOME/aifactory (~/.local/state/aifactory). A relative
    XDG_STATE_HOME is ignored, as the XDG Base Directory specification asks."""
    if os.environ.get("AIFACTORY_STATE_DIR"):
        return Path(os.environ["AIFACTORY_STATE_DIR"])
    xdg = os.environ.get("XDG_STATE_HOME")
    return Path(xdg if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "state") / "aifactory"


def _named_directories() -> list[tuple[str, str]]:
    """(variable, value) of each variable that names one of aifactory's directories: the state directory's
    (state_dir) and the labs' (aifactory.lab.state.lab_root)."""
    named = []
    if os.environ.get("AIFACTORY_STATE_DIR"):
        named.append(("AIFACTORY_STATE_DIR", os.environ["AIFACTORY_STATE_DIR"]))
    elif os.path.isabs(os.environ.get("XDG_STATE_HOME") or ""):
        named.append(("XDG_STATE_HOME", os.environ["XDG_STATE_HOME"]))
    if os.environ.get("AIFACTORY_LAB_DIR"):
        named.append(("AIFACTORY_LAB_DIR", os.environ["AIFACTORY_LAB_DIR"]))
    return named


def directory_problem() -> tuple[str, str] | None:
    """(variable, why) for a directory the environment names that cannot hold aifactory's state; None when
    each is usable: an absolute path that is a directory or can be made one (its nearest existing ancestor
    is a directory)."""
    for variable, value in _named_directories():
        if not os.path.isabs(value):
            return variable, "not an absolute path (it names a directory found from any working directory)"
        for path in (Path(value), *Path(value).parents):
            try:
                mode = path.stat().st_mode
            except (FileNotFoundError, NotADirectoryError):
                continue  # not there yet: the nearest existing parent must be a directory
            except OSError as err:  # a name too long, a symlink loop, no permission
                return variable, err.strerror or str(err)
            if not stat.S_ISDIR(mode):
                return variable, "not a directory" + ("" if str(path) == value else f" ({path} is not one)")
            break
    return None


def site_home(site: str) -> Path:
    """Everything aifactory records about one site."""
    return state_dir() / "sites" / site


def bringup_runs(site: str) -> Path:
    """The site's bring-up run directories (one per run, by timestamp)."""
    return site_home(site) / "bringup"


def acceptance_dir(site: str) -> Path:
    """The acceptance results of the site's last bring-up (the acceptance role's acceptance_results_dir)."""
    return site_home(site) / "acceptance"


def day2_record(site: str, procedure: str) -> Path:
    """The JSON record of a day-2 procedure (rollout, replace) on the site."""
    return site_home(site) / "day2" / f"{procedure}.json"


def fact_cache_dir() -> Path:
    """Ansible's fact cache shared by every run (facts are keyed by host)."""
    return state_dir() / "ansible-facts"


def labs_dir() -> Path:
    """Where labs keep their state by default: one directory per site."""
    return state_dir() / "labs"


class LegacyStateError(Exception):
    """Records in an old place cannot be moved: the message says what to do."""


def legacy_moves(checkout: Path) -> list[tuple[Path, Path]]:
    """(old, new) for each record an older aifactory kept in the checkout: `.aifactory/acceptance/<site>/`,
    `.aifactory/{rollout,replace}/<site>.json` and the labs under `.lab/<site>/`."""
    old = checkout / ".aifactory"
    moves = [(d, acceptance_dir(d.name)) for d in sorted((old / "acceptance").glob("*")) if d.is_dir()]
    for procedure in ("rollout", "replace"):
        moves += [(f, day2_record(f.stem, procedure)) for f in sorted((old / procedure).glob("*.json"))]
    moves += [(d, labs_dir() / d.name) for d in sorted((checkout / ".lab").glob("*")) if (d / "state.json").is_file()]
    return moves


def _live_lab(old: Path) -> bool:
    try:
        return bool(read_json(old / "state.json", MAX_RECORD_BYTES).get("resources"))
    except (InputFileError, AttributeError):
        return False


def migrate_legacy(checkout: Path | None) -> list[str]:
    """Move the checkout's old records into the state directory; a line per move. Refused (nothing
    moved) when a record is already at its new place or a lab there is still up."""
    moves = legacy_moves(checkout) if checkout else []
    for old, new in moves:
        if new.exists():
            raise LegacyStateError(f"{old} is an old record and {new} exists too: keep one (remove or merge "
                                   f"{old}) and run again")
        if old.parent.name == ".lab" and _live_lab(old):
            raise LegacyStateError(f"a lab is up with its state in {old} (the old place): take it down with "
                                   f"`AIFACTORY_LAB_DIR={old.parent} aifactory lab down {old.name}`, then run again")
    lines = []
    for old, new in moves:
        new.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(old, new)
        lines.append(f"moved {old} to {new} (aifactory keeps its records in {state_dir()})")
    return lines
