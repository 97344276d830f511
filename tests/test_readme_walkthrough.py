"""The README's walk-through, run: every `aifactory` command line its "Using it for real", "Day 2" and "In CI"
sections show (parsed from README.md) either runs here, as the README writes it, and exits as the README says, or
is skipped with the reason named below (it needs AWS, or connects to a site's machines). A command line added to,
changed in or removed from those sections fails the first test until WALK follows it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

SECTIONS = ("Using it for real", "Day 2: grow, upgrade, replace", "In CI and in front of auditors")
SITE = "lab-b200"  # stands for <site>: the example that plans fastest
NEEDS_AWS = "talks to the customer's AWS account (credentials, network)"
CONNECTS = "connects to the site's nodes and BMCs (SSH, Redfish), which only the site has"
CHANGES = "changes the site's machines for real"


class Skip(str):
    """Why the walk-through does not run a command line."""


# Each command line as the README shows it (its comment dropped, continued lines joined): the exit code the README
# promises for a shipped example (an example plans clean and is valid), or why it is not run here.
WALK: dict[str, int | Skip] = {
    ".venv/bin/aifactory validate inventories/<site>": 0,
    ".venv/bin/aifactory validate inventories/*/": 0,
    ".venv/bin/aifactory schema > factory.schema.json": 0,
    ".venv/bin/aifactory plan inventories/<site>": 0,
    ".venv/bin/aifactory plan inventories/<site> --format json": 0,
    ".venv/bin/aifactory plan inventories/*/": 0,
    ".venv/bin/aifactory bootstrap inventories/paris-gb200": Skip(NEEDS_AWS),
    "aifactory verify inventories/paris-gb200": Skip(NEEDS_AWS),
    "aifactory bringup inventories/paris-gb200 --stack-outputs inventories/paris-gb200/stack-outputs.json --check":
        Skip(CONNECTS),
    "aifactory bringup inventories/paris-gb200 --stack-outputs inventories/paris-gb200/stack-outputs.json": Skip(CHANGES),
    "aifactory bringup inventories/paris-gb200 --stages drivers --limit rack02": Skip(CHANGES),
    "aifactory bringup inventories/paris-gb200 --batches": 0,
    "aifactory bringup inventories/paris-gb200 --batches --fresh --format json": 0,
    "aifactory rollout inventories/paris-gb200 --stage drivers --check": Skip(CONNECTS),
    "aifactory rollout inventories/paris-gb200 --stage drivers --stack-outputs inventories/paris-gb200/stack-outputs.json":
        Skip(CHANGES),
    "aifactory rollout inventories/paris-gb200 --stage drivers --max-batches 2": Skip(CHANGES),
    "aifactory rollout inventories/paris-gb200 --stage drivers --resume": Skip(CHANGES),
    "aifactory diff inventories/paris-gb200 --against origin/main": 0,
    "aifactory bringup inventories/paris-gb200 --limit '~^paris-gb200-r005-' "
    "--stack-outputs inventories/paris-gb200/stack-outputs.json": Skip(CHANGES),
    "aifactory replace inventories/paris-gb200 paris-gb200-r002-n07 --check": Skip(CONNECTS),
    "aifactory replace inventories/paris-gb200 paris-gb200-r002-n07 --host-key new-tray-host-key.pub": Skip(CHANGES),
    "aifactory validate inventories/<site> --format sarif": 0,
    "aifactory plan inventories/<site> --format junit": 0,
    "aifactory plan inventories/<site> --sarif p.sarif --junit p.xml": 0,
    "aifactory plan inventories/*/ --sarif p.sarif --junit p.xml": 0,
    "aifactory diff inventories/<site> --against origin/main": 0,
    "aifactory diff inventories/<site> --against saved-plan.json": 0,
    "aifactory report inventories/<site> -o report.html": 0,
}


def readme_commands() -> list[str]:
    """The `aifactory` command lines in the README's code blocks of SECTIONS, in order."""
    sections = {s.split("\n", 1)[0]: s for s in re.split(r"(?m)^## ", (REPO / "README.md").read_text())[1:]}
    lines = []
    for title in SECTIONS:
        for block in re.findall(r"```(?:sh|bash)?\n(.*?)```", sections[title], re.S):
            for line in block.replace("\\\n", " ").splitlines():
                command = re.sub(r"\s+#.*$", "", line).strip()
                if re.match(r"(\.venv/bin/)?aifactory\b", command):
                    lines.append(re.sub(r"\s+", " ", command))
    return lines


def test_the_walk_through_follows_the_readme():
    assert readme_commands() == list(WALK)


def why_not_here(command: str) -> str | None:
    """Why a command line that runs offline cannot run in this checkout, or None."""
    if "origin/main" in command and subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", "-q", "origin/main"],
                                                    capture_output=True).returncode != 0:
        return "this checkout has no origin/main (a clone of the project has)"
    if "report" in command.split()[1:2] and not shutil.which("dot"):
        return "Graphviz is not installed (scripts/install-report-deps.sh)"
    return None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """Where the commands run: the examples under inventories/ (a link), the files they write stay here; a
    saved plan for `diff --against saved-plan.json`, as `plan --format json > saved-plan.json` writes it."""
    work = tmp_path_factory.mktemp("walk")
    (work / "inventories").symlink_to(REPO / "inventories")
    with (work / "saved-plan.json").open("w") as saved:
        subprocess.run([sys.executable, "-m", "aifactory.cli", "plan", f"inventories/{SITE}", "--format", "json"],
                       cwd=work, stdout=saved, check=True, timeout=600)
    return work


@pytest.mark.parametrize("command", list(WALK))
def test_a_readme_command_exits_as_the_readme_says(command, workdir):
    expected = WALK[command]
    if isinstance(expected, Skip):
        pytest.skip(f"not run here: it {expected}")
    reason = why_not_here(command)
    if reason:
        pytest.skip(reason)
    shell = re.sub(r"^(\.venv/bin/)?aifactory\b", f"{sys.executable} -m aifactory.cli", command).replace("<site>", SITE)
    done = subprocess.run(["bash", "-c", shell], cwd=workdir, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == expected, done.stdout[-2000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    warnings = re.findall(r"(?mi)^\s*warning\b.*$", done.stdout + done.stderr)
    assert warnings == [], "a shipped example prints warnings"
