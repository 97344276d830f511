"""An installed (not editable) aifactory works from anywhere: the wheel carries the playbooks, ansible.cfg,
the Pulumi project files, the policy pack and the Pulumi program, and finds no checkout.

How it stays fast: the wheel is built with `pip wheel --no-deps` from a copy of the sources (pip's build
isolation fetches setuptools from PyPI, so this needs PyPI as `make test` does). It is installed with
`pip install --no-deps` into a new venv made without pip, whose site-packages holds one `.pth` file naming
the test run's own site-packages: the dependencies (pip among them) are reached there, installed once,
while the editable aifactory's finder there is not used (a `.pth` file only runs from a site directory,
and that directory is not one for the new venv), so `import aifactory` finds the installed wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, site_dir

pytestmark = pytest.mark.wheel

SOURCES = ("pyproject.toml", "setup.py", "README.md", "ansible.cfg", "aifactory", "infra", "playbooks", "policies")
SITE = "lab-b200"


def run(argv: list, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv with the wheel installed: its bin/ directory."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy: a build in the checkout would leave build/ there, stale files and all
    src.mkdir()
    for name in [*SOURCES, *(p.name for p in REPO.glob("Pulumi*.yaml"))]:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, src / name)
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp / "dist", src], tmp, dict(os.environ))
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp / "dist").glob("aifactory-*.whl")
    venv = tmp / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", venv], tmp, dict(os.environ))
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    own_site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp, dict(os.environ))
    Path(own_site.stdout.strip(), "aifactory-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel], tmp, dict(os.environ))
    assert done.returncode == 0, done.stderr[-3000:]
    return venv / "bin"


@pytest.fixture
def outside(tmp_path) -> tuple[Path, dict]:
    """A working directory outside the checkout holding a copy of an example site, and an environment
    with a state directory of its own and nothing that points at the checkout."""
    work = tmp_path / "work"
    shutil.copytree(site_dir(SITE), work / SITE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["AIFACTORY_STATE_DIR"] = str(tmp_path / "state")
    return work, env


def test_the_installed_package_is_the_one_imported_and_finds_its_shipped_project(installed, outside):
    work, env = outside
    probe = ("import json, aifactory, infra; from aifactory.core import project; "
             "print(json.dumps({'aifactory': aifactory.__file__, 'infra': infra.__file__, "
             "'checkout': str(project.checkout()), 'root': str(project.root()), 'program': str(project.program())}))")
    done = run([installed / "python", "-c", probe], work, env)
    assert done.returncode == 0, done.stderr
    where = json.loads(done.stdout)
    venv = str(installed.parent)
    assert all(where[k].startswith(venv) for k in ("aifactory", "infra", "root", "program")), where
    assert not any(str(REPO) in where[k] for k in ("aifactory", "infra", "root", "program")), where
    assert where["checkout"] == "None"
    root = Path(where["root"])
    assert (root / "ansible.cfg").is_file() and (root / "playbooks" / "site.yml").is_file()
    assert (root / "playbooks" / "roles" / "nvidia_gpu" / "meta" / "argument_specs.yml").is_file()
    assert (root / "policies" / "__main__.py").is_file() and (root / "Pulumi.yaml").is_file()
    (wheel,) = (installed.parents[1] / "dist").glob("aifactory-*.whl")
    shipped = zipfile.ZipFile(wheel).namelist()
    assert "aifactory/_project/playbooks/site.yml" in shipped and "infra/__main__.py" in shipped
    assert "aifactory/lab/firmware/firmware-generic.json" in shipped  # the BMC stand-in's firmware inventory
    assert not [name for name in shipped if "__pycache__" in name or name.endswith(("setup.py", ".pyc"))]


def test_validate_plan_and_lab_help_run_from_outside_the_checkout(installed, outside):
    work, env = outside
    validated = run([installed / "aifactory", "validate", SITE], work, env)
    assert validated.returncode == 0, validated.stderr
    planned = run([installed / "aifactory", "plan", SITE, "--format", "json"], work, env)
    assert planned.returncode == 0, planned.stderr[-3000:]
    plan = json.loads(planned.stdout)
    assert plan["clean"] is True and plan["summary"]["moto"] > 0
    helped = run([installed / "aifactory", "lab", "--help"], work, env)
    assert helped.returncode == 0 and "up" in helped.stdout, helped.stderr
