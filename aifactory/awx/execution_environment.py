"""The execution environment an AWX job of this factory runs in, as ansible-builder's definition (version 3):
the project installed with its own dependencies (the inventory plugin and the filter plugins import
`aifactory`; the `ansible` package brings the collections the roles use), ansible-core and ansible-runner
within the project's own pins, on the Python the project requires.

The project is installed from the repository AWX syncs it from (`aifactory @ git+URL@BRANCH`), given at build
time as the build argument SOURCE_ARG; `--scm-url` makes that its default."""

from __future__ import annotations

import re
from importlib.metadata import metadata, requires

BASE_IMAGE = "quay.io/centos/centos:stream9"
SOURCE_ARG = "AIFACTORY_SOURCE"
PACKAGE = "aifactory"


def pinned(package: str) -> str:
    """The project's requirement on a package, as its installed metadata says it (pyproject.toml's pin)."""
    for requirement in requires(PACKAGE) or []:
        name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
        if name.lower() == package:
            return requirement
    return package


def lowest_python() -> str:
    """The lowest Python minor version the project supports (Requires-Python's lower bound), as `3.N`."""
    found = re.search(r">=\s*(3\.\d+)", metadata(PACKAGE).get("Requires-Python") or "")
    return found.group(1) if found else "3"


def pip_source(scm_url: str, scm_branch: str) -> str:
    """The pip requirement that installs the project from its repository; empty without a URL."""
    return f"{PACKAGE} @ git+{scm_url}@{scm_branch}" if scm_url else ""


def definition(scm_url: str, scm_branch: str) -> dict:
    """execution-environment.yml (ansible-builder 3)."""
    python = f"python{lowest_python()}"
    source = pip_source(scm_url, scm_branch)
    return {
        "version": 3,
        "images": {"base_image": {"name": BASE_IMAGE}},
        "dependencies": {
            "python_interpreter": {"package_system": python, "python_path": f"/usr/bin/{python}"},
            "ansible_core": {"package_pip": pinned("ansible-core")},
            "ansible_runner": {"package_pip": pinned("ansible-runner")},
            "system": ["git [platform:rpm]"],
        },
        "additional_build_steps": {"append_final": [
            f'ARG {SOURCE_ARG}="{source}"',
            f'RUN test -n "${SOURCE_ARG}" || {{ echo "give the project to install: --build-arg '
            f"{SOURCE_ARG}='{PACKAGE} @ git+URL@BRANCH'\" >&2; exit 1; }}",
            f'RUN $PYCMD -m pip install --no-cache-dir "${SOURCE_ARG}"',
        ]},
    }
