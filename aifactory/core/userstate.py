"""Where aifactory keeps per-user state that must be found from any working directory: the bring-up
runs in progress (so a killed run is scrubbed by the next command) and where each site's lab lives."""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    """$AIFACTORY_STATE_DIR, else $XDG_STATE_HOME/aifactory (~/.local/state/aifactory)."""
    if os.environ.get("AIFACTORY_STATE_DIR"):
        return Path(os.environ["AIFACTORY_STATE_DIR"])
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "aifactory"
