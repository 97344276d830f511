"""What `make demo` installs, cold: pip against uv, side by side in one run.

Each run makes a fresh virtual environment with the same Python and installs what `make demo` needs (the
package, editable, with its runtime dependencies, constrained by ci/requirements.lock) from PyPI with an
empty cache of its own, so that both installers download everything: `pip install` as the Makefile did
before, and `pip install uv` followed by `uv pip install` as it does now (uv's own install is counted).
The two alternate run by run; the ratio is of medians taken in this one run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.measure import REPO, run_child, spread

LOCK = REPO / "ci" / "requirements.lock"
UV_VERSION = re.search(r"(?m)^UV_VERSION\s*:=\s*(\S+)", (REPO / "Makefile").read_text()).group(1)
INSTALLERS = ("pip", "uv")
WARNING = re.compile(r"(?i)deprecat|warning")


def install_script(installer: str, python: str, venv: Path) -> str:
    """The shell lines one cold install runs (the Makefile's, for uv; the Makefile's earlier ones, for pip)."""
    bin_ = venv / "bin"
    lines = [f"{python} -m venv {venv}"]
    if installer == "pip":
        lines += [f"{bin_}/pip install --quiet --upgrade pip", f"{bin_}/pip install --quiet -c {LOCK} -e {REPO}"]
    else:
        lines += [f"{bin_}/python -m pip install --quiet --disable-pip-version-check uv=={UV_VERSION}",
                  f"{bin_}/uv pip install --compile-bytecode --python {bin_}/python -c {LOCK} -e {REPO}"]
    return " && ".join(lines)


def warnings_in(text: str) -> list[str]:
    """The lines of an install's output that warn (setuptools' deprecation banners, pip's notices)."""
    return [line.strip() for line in text.splitlines() if WARNING.search(line)]


def measure(python: str = getattr(sys, '_base_executable', sys.executable), repeats: int = 1, progress=print) -> dict:
    """Cold installs, `repeats` of each installer, alternating: wall time, CPU, the warnings each printed."""
    walls: dict[str, list[float]] = {i: [] for i in INSTALLERS}
    cpus: dict[str, list[float]] = {i: [] for i in INSTALLERS}
    warned: dict[str, list[str]] = {i: [] for i in INSTALLERS}
    for n in range(repeats):
        for installer in INSTALLERS:
            work = Path(tempfile.mkdtemp(prefix=f"install-{installer}-"))
            env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "PIP_CACHE_DIR": str(work / "pip-cache"),
                   "UV_CACHE_DIR": str(work / "uv-cache"), "LANG": "C.UTF-8"}
            try:
                sample = run_child(["bash", "-c", install_script(installer, python, work / "venv")], env=env)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            if sample.rc != 0:
                raise RuntimeError(f"{installer} install failed (exit {sample.rc}): {sample.stderr[-2000:]}")
            walls[installer].append(sample.wall_s)
            cpus[installer].append(sample.cpu_s)
            warned[installer] = warnings_in(sample.stdout + sample.stderr)
            progress(f"install {installer} run {n + 1}/{repeats}: {sample.wall_s:.1f} s")
    out = {i: {"wall_s": spread(walls[i]), "cpu_s": spread(cpus[i]), "warnings": warned[i][:5],
               "warning_count": len(warned[i])} for i in INSTALLERS}
    out["pip_over_uv_wall"] = round(out["pip"]["wall_s"]["median"] / out["uv"]["wall_s"]["median"], 2)
    out["python"] = subprocess.run([python, "-V"], capture_output=True, text=True).stdout.strip()
    out["uv_version"] = UV_VERSION
    return out


def render(data: dict) -> list[str]:
    """RESULTS.md lines for this part."""
    def cell(d: dict) -> str:
        return f"{d['median']} s ({d['min']}-{d['max']}, n={d['runs']})"
    when = data.get("measured", {})
    lines = [f"Cold installs of what `make demo` needs ({data['python']}; empty caches, everything from PyPI). "
             f"pip over uv (wall, medians): {data['pip_over_uv_wall']}x."
             + (f" Measured at {when['date']} (load average at start {', '.join(map(str, when['load_at_start']))})."
                if when else ""), "",
             "| installer | wall | CPU | warning lines printed |", "|---|---|---|---|"]
    for i in INSTALLERS:
        lines.append(f"| {'pip' if i == 'pip' else 'uv ' + data['uv_version'] + ' (pip installs it first)'} | "
                     f"{cell(data[i]['wall_s'])} | {cell(data[i]['cpu_s'])} | {data[i]['warning_count']} |")
    return lines


if __name__ == "__main__":
    import json
    print(json.dumps(measure(repeats=int(sys.argv[1]) if len(sys.argv) > 1 else 1), indent=2))
