"""`aifactory report`: the paris-gb200 page (a clean plan) and a lab-b200 page with an internet gateway
added to its program (a failing plan) render in headless Chromium with the topology, every control and
what the drawing asserts as the plan found it, in colours that read (WCAG AA, as Chromium computes
them). Needs Graphviz and Chromium (Debian packages; `make lab-deps` installs them as root)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import pytest
from PIL import Image

from aifactory import __version__
from aifactory.cli import main
from aifactory.aws.plan.controls import CONTROLS
from aifactory.reports.claims import CLAIMS
from tests.reports.conftest import REPO
from tests.reports.contrast import AA_TEXT, contrast

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


@pytest.fixture(scope="module")
def failing_page(tmp_path_factory):
    """The lab-b200 report of a copy of infra/ (outside the checkout) that adds an internet gateway on
    the hub VPC: SOV-01 fails on it."""
    tmp = tmp_path_factory.mktemp("failing")
    program = tmp / "infra"
    shutil.copytree(REPO / "infra", program, ignore=shutil.ignore_patterns("__pycache__"))
    main_py = program / "__main__.py"
    text = main_py.read_text()
    assert "for _name, _value in build(_factory).items():" in text
    main_py.write_text(text.replace("for _name, _value in build(_factory).items():",
                                    "import pulumi_aws\n_exports = build(_factory)\n"
                                    "pulumi_aws.ec2.InternetGateway(\"hub-igw\", vpc_id=_exports[\"vpc_id\"])\n"
                                    "for _name, _value in _exports.items():"))
    page = tmp / "lab-b200.html"
    assert main(["report", str(REPO / "inventories" / "lab-b200"), "--program", str(program), "-o", str(page),
                 "--acceptance", str(tmp)]) == 0
    return page


# Added to a copy of a page: what Chromium computed for each badge and each text of the drawing (its
# fill, and the fill of the last opaque shape drawn under its middle), as JSON in <pre id="computed">.
COMPUTED_COLOURS = """<script>(() => {
  const fill = el => getComputedStyle(el).fill;
  const opaque = c => c && c !== "none" && !/^rgba\\(.*, 0\\)$/.test(c);
  const out = {badges: [], texts: []};
  for (const b of document.querySelectorAll(".badge")) {
    const s = getComputedStyle(b);
    out.badges.push({text: b.textContent, color: s.color, background: s.backgroundColor});
  }
  const svg = document.querySelector("#topology svg");
  const shapes = [...svg.querySelectorAll("polygon, path, ellipse, rect")];
  for (const t of svg.querySelectorAll("text")) {
    const box = t.getBBox(), x = box.x + box.width / 2, y = box.y + box.height / 2;
    let behind = null;
    for (const s of shapes) {
      if (!(s.compareDocumentPosition(t) & Node.DOCUMENT_POSITION_FOLLOWING)) break;
      const b = s.getBBox();
      if (opaque(fill(s)) && b.x <= x && x <= b.x + b.width && b.y <= y && y <= b.y + b.height) behind = fill(s);
    }
    out.texts.push({text: t.textContent, fill: fill(t), background: behind});
  }
  const pre = document.createElement("pre");
  pre.id = "computed";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();</script>"""


def rendered(page, tmp_path) -> tuple[str, dict]:
    """The DOM Chromium rendered, and the colours it computed (COMPUTED_COLOURS)."""
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", COMPUTED_COLOURS + "</body>"))
    dom = chromium(probe, tmp_path, "--dump-dom").stdout
    return dom, json.loads(html.unescape(re.search(r'<pre id="computed">(.*?)</pre>', dom, re.S).group(1)))


def assert_readable(colours: dict) -> None:
    """Every badge and every text of the drawing at WCAG AA contrast on what it sits on."""
    assert colours["badges"] and colours["texts"]
    for badge in colours["badges"]:
        assert not badge["background"].startswith("rgba"), badge  # its own, opaque background
        assert contrast(badge["color"], badge["background"]) >= AA_TEXT, badge
    for text in colours["texts"]:
        assert contrast(text["fill"], text["background"] or "#ffffff") >= AA_TEXT, text


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


def test_clean_plan_as_rendered_holds_every_claim_in_readable_colours(paris_page, tmp_path):
    dom, colours = rendered(paris_page, tmp_path)
    drawn = [t["text"] for t in colours["texts"]]
    for claim in CLAIMS:
        assert f"{claim.holds} ({claim.control} passed)" in drawn, claim.control
    claims = dom[dom.index('id="claims"'):dom.index('id="controls"')]
    assert claims.count(">HOLDS<") == len(CLAIMS) and "FAILS" not in claims
    assert_readable(colours)
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert re.search(rf"generated \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC by aifactory {re.escape(__version__)} from infra/ at commit {head}",
                     dom[dom.index('id="summary"'):dom.index('id="topology"')])


def test_failing_plan_as_rendered_marks_the_topology_and_lists_the_resource(failing_page, tmp_path):
    dom, colours = rendered(failing_page, tmp_path)
    drawn = [t["text"] for t in colours["texts"]]
    assert "SOV-01 FAILED: an internet path" in drawn and "hub-igw" in drawn
    assert not [t for t in drawn if "no internet path" in t]  # the broken statement is not drawn as holding
    row = re.search(r'<tr class="claim[^"]*"><td>no internet path</td>.*?</tr>', dom).group(0)
    assert ">FAILS<" in row and "hub-igw" in row
    sov01 = dom[dom.index('<details class="control" id="SOV-01"'):]
    sov01 = sov01[:sov01.index("</details>")]
    assert re.search(r'<span class="badge fail">FAIL</span>', sov01)
    evidence = sov01[sov01.index('class="evidence"'):]
    assert re.search(r"<td[^>]*>hub-igw</td><td[^>]*><span class=\"badge fail\">VIOLATES</span>", evidence)
    assert "satisfies" in evidence  # the resources that satisfy it are still listed
    assert "from infra/ (not in a git checkout: commit unknown)" in dom
    assert_readable(colours)
