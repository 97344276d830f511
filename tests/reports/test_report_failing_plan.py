"""The HTML report on a fabricated failing plan (no Graphviz or Chromium): the topology marks the
statement a failed control backs as failing, the control's evidence lists the resource that broke it,
the badges are readable (contrast computed from the page's own CSS), and the page says when, by what
and from which commit it was made."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timezone

import pytest

from aifactory.aws.plan import Plan
from aifactory.aws.plan.controls import CONTROLS
from aifactory.aws.plan.engine import MOTO, PlannedResource
from aifactory.aws.plan.evaluate import ControlResult, Violation
from aifactory.cli import main
from aifactory.reports import html as report_html
from aifactory.reports.claims import CLAIMS
from aifactory.reports.provenance import Provenance, provenance
from aifactory.spec import load_spec
from tests.reports.contrast import AA_TEXT, contrast, declared, rules
from tests.reports.conftest import REPO

IGW = "aws:ec2/internetGateway:InternetGateway"
SUBNET = "aws:ec2/subnet:Subnet"
MADE = Provenance(datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc), "9.8.7", "c0ffee" * 6 + "abcd", True)


def fabricated_plan(failing: set[str] = frozenset(), errors: list[str] = (), controls: bool = True) -> Plan:
    """lab-b200 with an internet gateway and a private subnet; the controls in `failing` name the
    gateway (as SOV-01 does: it reads none of its properties), the others pass; SOV-01 read the subnet."""
    igw = PlannedResource("urn:igw", IGW, "hub-igw", "(stack)", {"vpcId": "vpc-1"}, {"vpcId": "vpc-1"}, "igw-1", MOTO)
    subnet = PlannedResource("urn:subnet", SUBNET, "lab-b200-private-1", "HubNetwork", {"mapPublicIpOnLaunch": False},
                             {"mapPublicIpOnLaunch": False}, "subnet-1", MOTO)
    results = []
    for control_id in dict.fromkeys(c.id for c in CONTROLS) if controls else ():
        violations = [Violation("hub-igw", IGW, f"{control_id} finding on the gateway")] if control_id in failing else []
        read = {"lab-b200-private-1": {"mapPublicIpOnLaunch": False}} if control_id == "SOV-01" else {}
        results.append(ControlResult(control_id, f"statement of {control_id}", violations, read))
    return Plan(load_spec(REPO / "inventories" / "lab-b200"), REPO / "infra", "moto (worker process)", [igw, subnet], [],
                results, list(errors), [], "123456789012")


def vpc_label(dot: str) -> str:
    return re.search(r"subgraph cluster_vpc \{ label=(<.*?>);", dot).group(1)


def page_of(plan: Plan) -> str:
    return report_html.page(plan, "<svg></svg>", report_html.evidence(plan), [], MADE)


# --- the topology --------------------------------------------------------------------------------
def test_the_drawing_marks_the_failed_control_where_it_fails():
    dot = report_html.topology_dot(fabricated_plan({"SOV-01"}))
    label = vpc_label(dot)
    assert "SOV-01 FAILED" in label and "hub-igw" in label
    assert "no internet path" not in dot  # nowhere in the drawing is the broken statement shown as holding
    assert re.search(r'subgraph cluster_vpc \{[^\n]*pencolor="#b71c1c"', dot)  # its cluster outlined
    assert "private interface endpoints only (SOV-02 passed)" in dot  # the others still hold


def test_every_claim_holds_on_a_clean_plan_and_fails_with_its_control():
    clean = report_html.topology_dot(fabricated_plan())
    assert "no internet path (SOV-01 passed)" in vpc_label(clean) and "FAILED" not in clean
    for claim in CLAIMS:
        failing = report_html.topology_dot(fabricated_plan({claim.control}))
        assert f"{claim.holds} ({claim.control} passed)" not in failing, claim.control
        assert f"{claim.control} FAILED: {claim.fails}" in failing, claim.control


@pytest.mark.parametrize("plan", [fabricated_plan(controls=False), fabricated_plan(errors=["the program failed: boom"])],
                         ids=["no control results", "the program failed"])
def test_a_claim_is_not_shown_holding_without_a_finished_check(plan):
    dot = report_html.topology_dot(plan)
    assert "passed)" not in dot and "SOV-01 not checked" in dot
    claims = page_of(plan).split('id="claims"')[1].split("</table>")[0]
    assert "HOLDS" not in claims and claims.count("NOT CHECKED") == len(CLAIMS)


def test_the_page_lists_the_claims_with_the_resources_the_control_named():
    text = page_of(fabricated_plan({"SOV-01"}))
    row = re.search(r'<tr class="claim[^"]*"><td>no internet path</td>.*?</tr>', text).group(0)
    assert 'href="#SOV-01"' in row and ">FAILS<" in row and "hub-igw" in row


# --- the evidence --------------------------------------------------------------------------------
def test_the_evidence_lists_the_violating_resource_and_those_that_satisfy():
    text = page_of(fabricated_plan({"SOV-01"}))
    table = text[text.index('id="SOV-01"'):].split('<table class="evidence">')[1].split("</table>")[0]
    rows = re.findall(r"<tr[^>]*>.*?</tr>", table)
    igw = next(r for r in rows if "hub-igw" in r)
    assert "VIOLATES" in igw and "SOV-01 finding on the gateway" in igw and IGW in igw
    subnet = next(r for r in rows if "lab-b200-private-1" in r)
    assert "satisfies" in subnet and "mapPublicIpOnLaunch" in subnet
    assert rows.index(igw) < rows.index(subnet)  # what broke the control first
    assert "(2 resources examined, 1 violating)" in text


def test_a_violation_of_the_whole_stack_has_its_row():
    control = ControlResult("SOV-03", "region pinning", [Violation(None, None, "no policy denies other regions")])
    assert report_html.evidence_rows(control, {}) == [("(the stack)", ["no policy denies other regions"], {})]


# --- contrast ------------------------------------------------------------------------------------
def test_every_badge_the_page_uses_is_readable():
    text = page_of(fabricated_plan({"SOV-01"}))
    used = {frozenset(c.split()) for c in re.findall(r'class="(badge[^"]*)"', text)}
    assert {frozenset({"badge", "fail"}), frozenset({"badge", "pass"})} <= used
    css = report_html.CSS
    for selector, _ in rules(css):  # every rule that could style a badge is one the cascade helper reads
        subject = re.split(r"[\s>+~]+", selector)[-1]
        if re.search(r"\.(badge|pass|fail|moto|rejected|incomplete|mock-only|unchecked)\b|^(span|\*)", subject):
            assert re.fullmatch(r"(\.[\w-]+)+", selector), selector
    for classes in used | {frozenset({"badge", state}) for state in ("moto", "rejected", "incomplete", "mock-only", "unchecked")}:
        colour, background = declared(css, set(classes), "color"), declared(css, set(classes), "background")
        assert contrast(colour, background) >= AA_TEXT, (sorted(classes), colour, background)


def test_the_drawings_claim_marks_are_readable_on_what_they_sit_on():
    dot = report_html.topology_dot(fabricated_plan({c.control for c in CLAIMS}))
    inks = set(re.findall(r'<FONT COLOR="(#[0-9a-f]{6})">', dot)) - {"white"}
    fills = set(re.findall(r'fillcolor="?(#[0-9a-f]{6})', dot)) | set(re.findall(r'BGCOLOR="(#[0-9a-f]{6})"', dot)) | {"#ffffff"}
    assert report_html.CLAIM_INK["fails"] in inks
    for ink in inks:
        for fill in fills - {"#1f3b63"}:  # the rack header is white on navy, no claim sits there
            assert contrast(ink, fill) >= AA_TEXT, (ink, fill)


# --- provenance and where the page goes ----------------------------------------------------------
def test_the_page_says_when_by_what_and_from_which_commit():
    text = page_of(fabricated_plan())
    line = "generated 2026-03-04 05:06:07 UTC by aifactory 9.8.7 from infra/ at commit " + MADE.commit + " with uncommitted changes"
    assert line in text.split('id="summary"')[1].split("</section>")[0] and line in text.split("<footer>")[1]


def test_provenance_reads_the_programs_commit_and_changes(tmp_path):
    outside = provenance(tmp_path)
    assert outside.commit is None and outside.generated.tzinfo is timezone.utc
    program = tmp_path / "repo" / "infra"
    program.mkdir(parents=True)
    (program / "__main__.py").write_text("# a program\n")
    git = ["git", "-C", str(program.parent), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "program"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert (provenance(program).commit, provenance(program).modified) == (head, False)
    (program / "__main__.py").write_text("# a program, changed\n")
    assert provenance(program).modified


def test_the_page_goes_to_the_sites_state_directory_unless_output_is_given(tmp_path, monkeypatch, capsys):
    state = tmp_path / "state"
    monkeypatch.setenv("AIFACTORY_STATE_DIR", str(state))
    monkeypatch.chdir(tmp_path)
    plan = fabricated_plan({"SOV-01"})
    monkeypatch.setattr("aifactory.commands.report.make_plan", lambda spec, program, progress: plan)
    monkeypatch.setattr("aifactory.commands.report.build_report", lambda p, acceptance: page_of(p))
    monkeypatch.setattr("aifactory.commands.report.graphviz_dot", lambda: "dot")  # build_report, which needs it, is replaced
    assert main(["report", str(REPO / "inventories" / "lab-b200")]) == 0
    written = state / "sites" / "lab-b200" / "report.html"
    assert "hub-igw" in written.read_text() and str(written) in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["state"]  # nothing left where it ran
    assert main(["report", str(REPO / "inventories" / "lab-b200"), "-o", str(tmp_path / "page.html")]) == 0
    assert (tmp_path / "page.html").read_text() == written.read_text()
    assert str(tmp_path / "page.html") in capsys.readouterr().out


def test_without_graphviz_the_report_says_so_before_it_plans(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` on it
    planned = []
    monkeypatch.setattr("aifactory.commands.report.make_plan", lambda *a, **kw: planned.append(a))
    assert main(["report", str(REPO / "inventories" / "lab-b200"), "-o", str(tmp_path / "page.html")]) == 1
    assert "Graphviz is not installed" in capsys.readouterr().err
    assert planned == [] and not (tmp_path / "page.html").exists()


def test_a_bad_site_exits_2_even_without_graphviz(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` on it
    (tmp_path / "factory.yaml").write_text("name: [not, a, name]\n")
    assert main(["report", str(tmp_path), "-o", str(tmp_path / "page.html")]) == 2
    err = capsys.readouterr().err
    assert "name" in err and "Graphviz" not in err
