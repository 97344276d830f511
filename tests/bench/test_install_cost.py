"""The install bench runs what the Makefile runs, and counts the warnings an install prints."""

from __future__ import annotations

import re
from pathlib import Path

from bench import install_cost
from tests.conftest import REPO


def test_the_uv_install_is_the_makefiles():
    makefile = (REPO / "Makefile").read_text()
    script = install_cost.install_script("uv", "python3", Path("/tmp/v"))
    assert f"uv=={install_cost.UV_VERSION}" in script and re.search(rf"(?m)^UV_VERSION\s*:=\s*{install_cost.UV_VERSION}$", makefile)
    assert "uv pip install --compile-bytecode --python /tmp/v/bin/python -c" in script \
        and "uv pip install --compile-bytecode --python $(BIN)/python -c" in makefile
    assert "uv" not in install_cost.install_script("pip", "python3", Path("/tmp/v"))


def test_warnings_are_counted_by_line():
    text = "Installed 80 packages\nSetuptoolsDeprecationWarning: License classifiers are deprecated\nok\nWARNING: x\n"
    assert install_cost.warnings_in(text) == ["SetuptoolsDeprecationWarning: License classifiers are deprecated", "WARNING: x"]


def test_rendered_ratio_and_rows():
    one = {"median": 2.0, "min": 1.0, "max": 3.0, "runs": 2}
    data = {"pip": {"wall_s": one, "cpu_s": one, "warning_count": 3}, "uv": {"wall_s": one, "cpu_s": one, "warning_count": 0},
            "pip_over_uv_wall": 1.0, "python": "Python 3.11.7", "uv_version": "0.13.9"}
    lines = install_cost.render(data)
    assert "pip over uv (wall, medians): 1.0x." in lines[0]
    assert [line.split(" | ")[-1] for line in lines if line.startswith("| pip") or line.startswith("| uv")] == ["3 |", "0 |"]
