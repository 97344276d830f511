"""`aifactory report`: the paris-gb200 page renders in headless Chromium with the topology and every
control. Needs Graphviz and Chromium (Debian packages; `make lab-deps` installs them as root)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from PIL import Image

from aifactory.cli import main
from aifactory.aws.plan.controls import CONTROLS
from tests.reports.conftest import REPO

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and shutil.which("dot")),
    reason="needs Graphviz and Chromium: run scripts/install-report-deps.sh as root (make lab-deps does)")
CONTROL_IDS = sorted({c.id for c in CONTROLS})


@pytest.fixture(scope="module")
def paris_page(tmp_path_factory):
    """The paris-gb200 report, with one rack's acceptance summary as a bring-up leaves it."""
    tmp = tmp_path_factory.mktemp("report")
    results = tmp / "acceptance"
    results.mkdir()
    (results / "summary-rack01.json").write_text(json.dumps({
        "rack": "rack01", "result": "incomplete", "hosts": {"paris-gb200-r001-n01": "incomplete"},
        "counts": {"pass": 0, "fail": 0, "incomplete": 1, "no result": 0},
        "checks": {"pass": 9, "fail": 0, "skipped": 2},
        "could_not_run": {"paris-gb200-r001-n01": ["dcgm_diag", "nvlink"]}}))
    page = tmp / "paris-gb200.html"
    assert main(["report", str(REPO / "inventories" / "paris-gb200"), "-o", str(page), "--acceptance", str(results)]) == 0
    return page


def chromium(page, tmp_path, *options: str) -> subprocess.CompletedProcess:
    """Headless Chromium on the page, offline (a page that fetched anything would show it broken)."""
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--proxy-server=127.0.0.1:9", f"--user-data-dir={tmp_path / 'profile'}", *options, page.as_uri()],
                          capture_output=True, text=True, timeout=180, check=True)


def test_page_is_self_contained(paris_page):
    text = paris_page.read_text()
    assert not re.search(r"<script|<link|<img|<iframe|url\(|@import", text, re.I)
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", text, re.I)


def test_rendered_dom_has_topology_controls_and_acceptance(paris_page, tmp_path):
    dom = chromium(paris_page, tmp_path, "--dump-dom").stdout
    topology = dom[dom.index('id="topology"'):dom.index('id="controls"')]
    assert "<svg" in topology
    for label in ("rack01", "rack04", "Transit Gateway", "dxcon-ffa1b2c3", "peer 198.51.100.10", "bedrock-runtime",
                  "Amazon Bedrock", "Amazon SageMaker", "infiniband-xdr fabric"):
        assert label in topology, label
    for control_id in CONTROL_IDS:
        assert re.search(rf'<details class="control" id="{control_id}">.*?PASS.*?{control_id}', dom, re.S), control_id
    assert "paris-gb200-data-key" in dom[dom.index('id="SOV-04"'):dom.index('id="SOV-05"')]  # evidence per resource
    acceptance = dom[dom.index('id="acceptance"'):]
    assert "rack01" in acceptance and "incomplete" in acceptance and "dcgm_diag, nvlink" in acceptance


def test_screenshot_shows_the_page(paris_page, tmp_path):
    shot = tmp_path / "page.png"
    chromium(paris_page, tmp_path, "--window-size=1400,1100", f"--screenshot={shot}")
    image = Image.open(shot).convert("RGB")
    assert image.size == (1400, 1100)
    colours = image.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50  # text and a drawing, not a blank or error page
    # the topology's on-prem cluster fill (#eef3fa) and the racks' tray cells (#cfe3ff) are painted
    pixels = set(image.getdata())
    assert (0xEE, 0xF3, 0xFA) in pixels and (0xCF, 0xE3, 0xFF) in pixels
