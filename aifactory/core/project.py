"""Where the project's non-Python parts are: the playbooks, ansible.cfg, the Pulumi project files
(Pulumi.yaml and the example stacks), the policy pack and the Pulumi program.

Running from a checkout (an editable install), they are the checkout's own; an installed package
carries a copy of them in `aifactory/_project/` (setup.py), and the Pulumi program is the installed
`infra` package.
"""

from __future__ import annotations

import importlib.util
from importlib.resources import files
from pathlib import Path

SHIPPED = "_project"  # the folder of the package that holds the shipped copy


def package_dir() -> Path:
    """The directory of the imported aifactory package."""
    return Path(str(files("aifactory")))


def checkout() -> Path | None:
    """The checkout aifactory runs from, or None for an installed package."""
    top = package_dir().parent
    return top if (top / "pyproject.toml").is_file() and (top / "playbooks" / "site.yml").is_file() else None


def root() -> Path:
    """The directory that holds ansible.cfg, playbooks/, policies/ and the Pulumi project files."""
    return checkout() or package_dir() / SHIPPED


def playbooks() -> Path:
    return root() / "playbooks"


def ansible_cfg() -> Path:
    return root() / "ansible.cfg"


def program() -> Path:
    """The Pulumi program (infra/): the checkout's, else the installed `infra` package's directory."""
    top = checkout()
    if top:
        return top / "infra"
    spec = importlib.util.find_spec("infra")
    return Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else root() / "infra"
