"""Where this machine says a site's lab is recorded, for a lab whose state file is not where it is looked for:
a lab made under another `AIFACTORY_LAB_DIR` or state directory, or left up by a process that was killed (a CI
run cut off at its time limit leaves its labs' bridges, namespaces and nodes up).

Two traces name the lab root: the bridge's alias, which `lab up` sets to the lab's state file, and, for a lab
made before the bridge carried it, the nodes' overlay mounts (`aifactory-lab-<node>` on
`<lab root>/<site>/nodes/<node>/root`). A trace only says where to read a state file; `lab down` still removes
exactly what that file records (aifactory.lab.state), nothing by name pattern. Both are read as input: an
absolute path of the expected shape, else ignored.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path, PurePosixPath

STATE_FILE = "state.json"  # a lab's record under <lab root>/<site>/ (aifactory.lab.state)


def bridge_alias(bridge: str) -> str:
    """The alias of the link `bridge`, "" when it has none or does not exist."""
    try:
        done = subprocess.run(["ip", "-j", "link", "show", "dev", bridge], capture_output=True, text=True)
    except OSError:  # no iproute2 here: no lab either
        return ""
    if done.returncode != 0:
        return ""
    try:
        links = json.loads(done.stdout)
    except ValueError:
        return ""
    alias = links[0].get("ifalias", "") if isinstance(links, list) and links and isinstance(links[0], dict) else ""
    return alias if isinstance(alias, str) else ""


def root_of_state_file(path: str, site: str) -> Path | None:
    """The lab root of `<root>/<site>/state.json`; None for any other text."""
    p = PurePosixPath(path)
    if not p.is_absolute() or ".." in p.parts or p.name != STATE_FILE or p.parent.name != site:
        return None
    return Path(p.parent.parent)


def root_of_node_mount(source: str, mount_point: str, site: str) -> Path | None:
    """The lab root of a node's overlay: source `aifactory-lab-<node>` on `<root>/<site>/nodes/<node>/root`."""
    p = PurePosixPath(mount_point)
    if (not p.is_absolute() or ".." in p.parts or len(p.parts) < 5 or p.name != "root"
            or p.parent.parent.name != "nodes" or p.parent.parent.parent.name != site
            or source != f"aifactory-lab-{p.parent.name}"):
        return None
    return Path(p.parents[3])


def lab_roots(site: str, bridge: str, mounts: str | None = None) -> list[Path]:
    """The lab roots this machine's traces name for `site` (its bridge's alias first), without repeats."""
    if mounts is None:
        mounts = Path("/proc/mounts").read_text() if Path("/proc/mounts").exists() else ""
    found = [root_of_state_file(bridge_alias(bridge), site)]
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "overlay":
            # /proc/mounts escapes a space in a path as \040; a lab root with one is not recognised (found: None).
            found.append(root_of_node_mount(fields[0], fields[1], site))
    return list(dict.fromkeys(root for root in found if root is not None))
