"""`aifactory report SITE`: one self-contained HTML page to hand an auditor.

The factory summary; the topology (racks with their compute and switch trays, the fabric, the hybrid
link through Direct Connect and VPN to the Transit Gateway, the hub VPC's endpoints, Bedrock and
SageMaker) drawn by Graphviz and inlined as SVG, each statement a control backs marked by that
control's result (aifactory.reports.claims); the offline plan by component with what moto created
and what was only mocked; each control with its evidence per resource, violating ones first; the last
acceptance results per rack when a bring-up wrote them; when, by what and from which commit it was
made (aifactory.reports.provenance). No script, style sheet, font or image is fetched.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from aifactory.core import userstate
from aifactory.core.inputs import BadInput, InputFileError, read_json
from aifactory.aws.plan import Plan, masked
from aifactory.aws.plan.engine import API_MODEL, MOCK_ONLY, MOTO, REJECTED
from aifactory.aws.plan.evaluate import ControlResult
from aifactory.reports.claims import FAILS, HOLDS, STACK, ClaimState, claim_states
from aifactory.reports.provenance import Provenance, provenance
from aifactory.spec import Factory, rack_group
from aifactory.spec.summary import summary, summary_rows

EVIDENCE_WIDTH = 160  # characters of one property's value shown as evidence
TRAYS_PER_ROW = 9
NAMED_IN_DRAWING = 4  # resources a failing claim names in the drawing (its control's evidence has them all)
# Ink of a claim in the drawing by its state, and the fill behind a failing one (each at least 4.5:1)
CLAIM_INK = {HOLDS: "#1b5e20", FAILS: "#b71c1c"}
UNCHECKED_INK = "#5b6673"
FAIL_FILL = "#ffebee"


class ReportError(Exception):
    """The page cannot be made (Graphviz missing or failing)."""


def default_page(f: Factory) -> Path:
    """Where `aifactory report` writes the page without --output: the site's state directory."""
    return userstate.site_home(f.name) / "report.html"


def acceptance_dir(f: Factory) -> Path:
    """Where `aifactory bringup` leaves the acceptance results of a factory (the acceptance role's
    acceptance_results_dir), in the user's state directory."""
    return userstate.acceptance_dir(f.name)


# --- evidence ------------------------------------------------------------------------------------
def evidence(plan: Plan) -> dict[str, dict[str, dict[str, object]]]:
    """{control id: {resource name: {property: value}}}: what each control read of each resource while
    the plan evaluated it (aifactory.aws.plan.evaluate records it), secrets masked."""
    secret_paths: dict[str, set[str]] = defaultdict(set)
    for r in [*plan.resources, *plan.components]:
        secret_paths[r.name] |= r.secret_paths
    return {c.id: {name: {k: masked(v, secret_paths[name], k) for k, v in props.items()}
                   for name, props in c.evidence.items()}
            for c in plan.controls}


# --- topology ------------------------------------------------------------------------------------
def _label(*lines: str, marks: Sequence[str] = ()) -> str:
    return "<" + "<BR/>".join([*(html.escape(line) for line in lines), *marks]) + ">"


def _marks(states: list[ClaimState], place: str) -> list[str]:
    """The claims shown at one place of the drawing as label lines: the statement while its control
    passed, else the control that failed and the resources it named."""
    lines = []
    for s in (s for s in states if s.claim.place == place):
        ink = CLAIM_INK.get(s.state, UNCHECKED_INK)
        text = html.escape(s.text)
        lines.append(f'<FONT COLOR="{ink}">{f"<B>{text}</B>" if s.state == FAILS else text}</FONT>')
        named = [*s.resources[:NAMED_IN_DRAWING]]
        if len(s.resources) > NAMED_IN_DRAWING:
            named.append(f"and {len(s.resources) - NAMED_IN_DRAWING} more (see {s.claim.control})")
        lines += [f'<FONT COLOR="{ink}">{html.escape(name)}</FONT>' for name in named]
    return lines


def _fails_at(states: list[ClaimState], place: str) -> bool:
    return any(s.state == FAILS and s.claim.place == place for s in states)


def _outline(states: list[ClaimState], place: str) -> str:
    """A cluster's border drawn in the failing ink where one of its claims fails."""
    return f' pencolor="{CLAIM_INK[FAILS]}"; penwidth=2;' if _fails_at(states, place) else ""


def _rack_table(f: Factory, rack: int) -> str:
    nodes = [n for n in f.nodes if n.rack == rack]
    trays = [t for t in f.switch_trays if t.rack == rack]
    short = lambda name: name.rsplit("-", 1)[-1]  # noqa: E731
    width = min(TRAYS_PER_ROW, max(len(nodes), len(trays), 1))
    rows = [f'<TR><TD COLSPAN="{width}" BGCOLOR="#1f3b63"><FONT COLOR="white"><B>{rack_group(rack)}</B> '
            f"{len(nodes)} compute{f' + {len(trays)} switch' if trays else ''} trays</FONT></TD></TR>"]
    for members, colour in ((nodes, "#cfe3ff"), (trays, "#ffe2b8")):
        for i in range(0, len(members), width):
            cells = "".join(f'<TD BGCOLOR="{colour}">{html.escape(short(m.name))}</TD>' for m in members[i:i + width])
            pad = width - len(members[i:i + width])
            filler = f'<TD COLSPAN="{pad}"></TD>' if pad else ""
            rows.append(f"<TR>{cells}{filler}</TR>")
    return '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">' + "".join(rows) + "</TABLE>>"


def topology_dot(plan: Plan) -> str:
    """The factory as a Graphviz graph: on-prem, the hybrid link, the home region; each statement a
    control backs marked by that control's result (aifactory.reports.claims)."""
    f = plan.factory
    states = claim_states(plan.controls, program_finished=not plan.errors)
    by_type = defaultdict(list)
    for r in plan.resources:
        by_type[r.type.rsplit(":", 1)[-1]].append(r)
    region = f.sovereignty.region
    services = sorted(str(r.inputs.get("serviceName", "")).removeprefix(f"com.amazonaws.{region}.")
                      for r in by_type["VpcEndpoint"])
    out = ['digraph factory {', '  rankdir=LR; compound=true; newrank=true; nodesep=0.3; ranksep=0.6;',
           '  graph [fontname="DejaVu Sans", fontsize=12]; edge [color="#555555"];',
           '  node [fontname="DejaVu Sans", fontsize=10, shape=box, style="rounded,filled", fillcolor=white];',
           f'  subgraph cluster_onprem {{ label={_label(f"On premises: {f.name}", f.platform.title)};'
           ' style="rounded,filled"; fillcolor="#eef3fa";']
    for rack in range(1, f.compute.racks + 1):
        out.append(f'    rack{rack} [shape=plaintext, style="", label={_rack_table(f, rack)}];')
    out.append(f'    fabric [label={_label(f.network.fabric + " fabric", "compute network")}, fillcolor="#dde8d5"];')
    out.append(f'    edge_router [label={_label("on-prem edge", f"AS {f.hybrid_link.onprem_asn}", f.network.onprem_cidr)}];')
    out += [f"    rack{rack} -> fabric [dir=none];" for rack in range(1, f.compute.racks + 1)]
    out += [f"    rack{rack} -> edge_router [dir=none, style=dashed];" for rack in range(1, f.compute.racks + 1)]
    out.append("  }")
    out.append(f'  subgraph cluster_link {{ label={_label("hybrid link (private)", marks=_marks(states, "link"))};'
               f' style="rounded,dashed";{_outline(states, "link")}')
    links = []
    for i, dx in enumerate(f.hybrid_link.direct_connect):
        out.append(f'    dx{i} [label={_label("Direct Connect", dx.connection_id, f"VLAN {dx.vlan}, {dx.bandwidth}")}, fillcolor="#f1e4ff"];')
        links.append(f"dx{i}")
    for i, vpn in enumerate(f.hybrid_link.vpn):
        out.append(f'    vpn{i} [label={_label("Site-to-Site VPN", f"peer {vpn.peer_ip}", "IPsec")}, fillcolor="#f1e4ff"];')
        links.append(f"vpn{i}")
    out.append("  }")
    out.append(f'  subgraph cluster_aws {{ label={_label(f"AWS {region} (home region)", f"residency zone {f.sovereignty.residency}", marks=_marks(states, "region"))};'
               f' style="rounded,filled"; fillcolor="#fff6e8";{_outline(states, "region")}')
    out.append(f'    tgw [label={_label("Transit Gateway", f"AS {f.hybrid_link.aws_asn}")}, fillcolor="#ffe2b8"];')
    out.append(f'    subgraph cluster_vpc {{ label={_label("hub VPC " + f.hybrid_link.vpc_cidr, marks=_marks(states, "vpc"))};'
               f' style="rounded,filled"; fillcolor=white;{_outline(states, "vpc")}')
    cells = "".join(f'<TR><TD PORT="{re.sub(r"[^a-z0-9]", "_", s)}" ALIGN="LEFT">{html.escape(s)}</TD></TR>' for s in services)
    endpoint_marks = _marks(states, "endpoints")
    fill = f' BGCOLOR="{FAIL_FILL}"' if _fails_at(states, "endpoints") else ""
    claim_cell = f'<TR><TD ALIGN="LEFT"{fill}>' + '<BR ALIGN="LEFT"/>'.join(endpoint_marks) + "</TD></TR>" if endpoint_marks else ""
    out.append('      endpoints [shape=plaintext, style="", label=<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">'
               f'<TR><TD BGCOLOR="#ffe2b8"><B>interface endpoints</B></TD></TR>{claim_cell}{cells}</TABLE>>];')
    out.append("    }")
    bedrock = f.aws_services.bedrock
    bedrock_outline = f', color="{CLAIM_INK[FAILS]}", penwidth=2' if _fails_at(states, "bedrock") else ""
    out.append(f'    bedrock [label={_label("Amazon Bedrock", f"guardrail (PII {bedrock.guardrail.pii})", *bedrock.models, marks=_marks(states, "bedrock"))}, '
               f'fillcolor="#d9f2ef"{bedrock_outline}];')
    sagemaker = f.aws_services.sagemaker
    sm_lines = (["domain (VPC only)"] if sagemaker.domain else []) + [f"model group {g}" for g in sagemaker.model_groups]
    out.append(f'    sagemaker [label={_label("Amazon SageMaker", *(sm_lines or ["endpoints only"]))}, fillcolor="#d9f2ef"];')
    out.append("  }")
    out += [f"  edge_router -> {link} [dir=both];" for link in links]
    out += [f"  {link} -> tgw [dir=both];" for link in links]
    out.append("  tgw -> endpoints [dir=both, lhead=cluster_vpc];")
    for s in services:
        port = re.sub(r"[^a-z0-9]", "_", s)
        if s.startswith("bedrock"):
            out.append(f"  endpoints:{port} -> bedrock;")
        elif s.startswith("sagemaker"):
            out.append(f"  endpoints:{port} -> sagemaker;")
    out.append("}")
    return "\n".join(out) + "\n"


def graphviz_dot() -> str:
    """Graphviz's `dot`; a ReportError when it is not installed (`aifactory report` asks before it plans)."""
    dot = shutil.which("dot")
    if not dot:
        raise ReportError("Graphviz is not installed (Debian package `graphviz`; scripts/install-report-deps.sh)")
    return dot


def render_svg(dot_source: str) -> str:
    """Graphviz's SVG of the graph, ready to inline (no XML prolog or doctype)."""
    done = subprocess.run([graphviz_dot(), "-Tsvg"], input=dot_source, capture_output=True, text=True)
    if done.returncode != 0:
        raise ReportError(f"dot failed: {done.stderr.strip()}")
    return done.stdout[done.stdout.index("<svg"):]


# --- the page ------------------------------------------------------------------------------------
def is_rack_summary(data: object) -> bool:
    """Whether `data` has the shape of a summary-<rack>.json the acceptance role writes."""
    return (isinstance(data, dict) and isinstance(data.get("rack"), str) and isinstance(data.get("result"), str)
            and all(isinstance(data.get(key, {}), dict) for key in ("hosts", "checks", "could_not_run")))


def last_acceptance(f: Factory, results_dir: Path | None = None) -> list[dict]:
    """The rack summaries the last bring-up's acceptance wrote (summary-<rack>.json), with their time."""
    directory = results_dir or acceptance_dir(f)
    racks = []
    for path in sorted(directory.glob("summary-*.json")):
        try:
            data = read_json(path)
        except InputFileError as err:
            raise BadInput(f"{path}: not an acceptance summary ({err}): remove it or run the acceptance stage again") from None
        if not is_rack_summary(data):
            raise BadInput(f"{path}: not an acceptance summary (an object with the rack, its result, and hosts, checks "
                           "and could_not_run as objects): remove it or run the acceptance stage again")
        data["written"] = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        racks.append(data)
    return racks


def _short(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= EVIDENCE_WIDTH else text[:EVIDENCE_WIDTH - 1] + "…"


def evidence_rows(control: ControlResult, read: dict[str, dict[str, object]]) -> list[tuple[str, list[str], dict[str, object]]]:
    """(resource, the control's findings on it, the properties it read there) for every resource the
    control named or read: those it found violating first, in its order, then those that satisfy it.
    A violating resource whose properties the control did not read shows its type."""
    findings: dict[str, list[str]] = {}
    types: dict[str, str] = {}
    for v in control.violations:
        findings.setdefault(v.resource or STACK, []).append(v.message)
        types.setdefault(v.resource or STACK, v.type or "")
    rows = [(name, messages, read.get(name) or ({"(resource type)": types[name]} if types[name] else {}))
            for name, messages in findings.items()]
    return rows + [(name, [], props) for name, props in read.items() if name not in findings]


def _evidence_table(rows: list[tuple[str, list[str], dict[str, object]]]) -> list[str]:
    e = html.escape
    out = ["<table class=\"evidence\"><tr><th>resource</th><th>result</th><th>property the control read</th><th>value</th></tr>"]
    for name, findings, props in rows:
        cells = list(props.items()) or [("", "")]
        result = ("<span class=\"badge fail\">VIOLATES</span> " + "<br>".join(e(m) for m in findings)) if findings else "satisfies"
        row = "<tr class=\"violating\">" if findings else "<tr>"
        for i, (k, v) in enumerate(cells):
            first = f"<td rowspan=\"{len(cells)}\">{e(name)}</td><td rowspan=\"{len(cells)}\">{result}</td>" if i == 0 else ""
            out.append(f"{row}{first}<td>{e(k)}</td><td><code>{e(_short(v))}</code></td></tr>")
    out.append("</table>")
    return out


CLAIM_BADGES = {HOLDS: ("pass", "HOLDS"), FAILS: ("fail", "FAILS")}


def _claims_table(states: list[ClaimState]) -> list[str]:
    """What the drawing asserts, as text: each statement, its control, and its state on this plan."""
    e = html.escape
    out = ["<table id=\"claims\"><caption>What the drawing asserts, as this plan's controls found it</caption>"
           "<tr><th>statement</th><th>control</th><th>on this plan</th><th>resources the control named</th></tr>"]
    for s in states:
        badge, word = CLAIM_BADGES.get(s.state, ("unchecked", "NOT CHECKED"))
        said = ", ".join(s.resources) if s.resources else s.why
        out.append(f"<tr class=\"claim {badge}\"><td>{e(s.claim.holds)}</td><td><a href=\"#{e(s.claim.control)}\">{e(s.claim.control)}</a></td>"
                   f"<td><span class=\"badge {badge}\">{word}</span></td><td>{e(said)}</td></tr>")
    out.append("</table>")
    return out


def page(plan: Plan, svg: str, found: dict, acceptance: list[dict], made: Provenance) -> str:
    f, s = plan.factory, summary(plan.factory)
    e = html.escape
    counts = Counter(r.checked_by for r in plan.resources)
    failed = [c for c in plan.controls if not c.passed]
    failed_ids = f": {', '.join(c.id for c in failed)}" if failed else ""
    verdict = "clean" if plan.clean else f"{len(failed)} control(s) failed{failed_ids}, {len(plan.errors) + len(plan.resource_errors)} error(s)"
    facts = [
        *summary_rows(s),
        ("plan", f"{len(plan.resources)} AWS resources: {counts[MOTO]} created in moto, {counts[API_MODEL]} checked against "
                 f"the AWS API's model, {counts[MOCK_ONLY]} mock only, "
                 f"{counts[REJECTED]} rejected; {verdict}"),
        ("report", made.line(plan.program.name)),
    ]
    out = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(f.name)}: aifactory report</title>",
           f"<style>{CSS}</style></head><body>",
           f"<h1>{e(f.name)}</h1><p class=\"lead\">{e(f.description)}</p>",
           "<section id=\"summary\"><h2>Factory</h2><table class=\"facts\">"]
    out += [f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in facts]
    out += ["</table></section>", "<section id=\"topology\"><h2>Topology</h2>", f"<figure>{svg}</figure>",
            *_claims_table(claim_states(plan.controls, program_finished=not plan.errors)), "</section>"]

    out.append("<section id=\"controls\"><h2>Sovereignty controls</h2>")
    for c in plan.controls:
        status = "pass" if c.passed else "fail"
        rows = evidence_rows(c, found.get(c.id, {}))
        violating = sum(1 for _, findings, _ in rows if findings)
        out.append(f"<details class=\"control\" id=\"{e(c.id)}\"{'' if c.passed else ' open'}><summary>"
                   f"<span class=\"badge {status}\">{status.upper()}</span> <b>{e(c.id)}</b> {e(c.statement)} "
                   f"<span class=\"muted\">({len(rows)} resources examined{f', {violating} violating' if violating else ''})</span></summary>")
        if c.violations:
            out.append("<ul class=\"violations\">" + "".join(f"<li>{e(v.resource or STACK)}: {e(v.message)}</li>" for v in c.violations) + "</ul>")
        if rows:
            out += _evidence_table(rows)
        out.append("</details>")
    out.append("</section>")

    out.append("<section id=\"plan\"><h2>Plan by component</h2><p>The Pulumi program run offline: moto (a stand-in for AWS) "
               "created what it can; the others' inputs were checked against the AWS API's model (api-model) or by the "
               "controls only (mock only).</p>"
               "<table><tr><th>component</th><th>resources</th><th>moto</th><th>api-model</th><th>mock only</th>"
               "<th>rejected</th></tr>")
    per_component: dict[str, list] = defaultdict(list)
    for r in plan.resources:
        per_component[r.component].append(r)
    for component, members in per_component.items():
        n = Counter(r.checked_by for r in members)
        out.append(f"<tr><td>{e(component)}</td><td>{len(members)}</td><td>{n[MOTO]}</td><td>{n[API_MODEL]}</td><td>{n[MOCK_ONLY]}</td><td>{n[REJECTED]}</td></tr>")
    out.append("</table>")
    for component, members in per_component.items():
        out.append(f"<details><summary>{e(component)}: {len(members)} resources</summary><ul class=\"resources\">")
        out += [f"<li><span class=\"badge {r.checked_by.replace(' ', '-')}\">{e(r.checked_by)}</span> {e(r.name)} "
                f"<code>{e(r.type)}</code>{' - ' + e(r.error) if r.error else ''}</li>" for r in members]
        out.append("</ul></details>")
    if plan.errors:
        out.append("<p class=\"error\">Program errors:</p><ul>" + "".join(f"<li>{e(x)}</li>" for x in plan.errors) + "</ul>")
    out.append("</section>")

    out.append("<section id=\"acceptance\"><h2>Last bring-up acceptance</h2>")
    if not acceptance:
        out.append("<p class=\"muted\">No acceptance results yet: `aifactory bringup` writes them per rack.</p>")
    else:
        out.append("<table><tr><th>rack</th><th>result</th><th>hosts</th><th>checks</th><th>could not run</th><th>written</th></tr>")
        for rack in acceptance:
            hosts = ", ".join(f"{h}: {r}" for h, r in rack.get("hosts", {}).items())
            checks = ", ".join(f"{n} {k}" for k, n in rack.get("checks", {}).items())
            missing = "; ".join(f"{h}: {', '.join(c)}" for h, c in rack.get("could_not_run", {}).items())
            out.append(f"<tr><td>{e(str(rack.get('rack')))}</td><td><span class=\"badge {e(str(rack.get('result')))}\">"
                       f"{e(str(rack.get('result')))}</span></td><td>{e(hosts)}</td><td>{e(checks)}</td><td>{e(missing)}</td>"
                       f"<td>{e(rack['written'])}</td></tr>")
        out.append("</table>")
    out.append("</section>")
    out.append(f"<footer>aifactory report of {e(f.name)}; plan of {e(plan.program.name)}/ against {e(plan.backend)}; "
               f"{e(made.line(plan.program.name))}.</footer></body></html>")
    return "\n".join(out) + "\n"


CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px 32px;color:#1d2733;background:#fff;font-size:14px}
h1{margin:0;color:#1f3b63}h2{border-bottom:2px solid #1f3b63;padding-bottom:4px;margin-top:28px;color:#1f3b63}
.lead{color:#4a5a6a;margin-top:4px}table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #c8d2dc;padding:4px 8px;text-align:left;vertical-align:top}th{background:#eef3fa}
.facts th{width:140px}figure{margin:0;overflow-x:auto}figure svg{max-width:100%;height:auto}
.badge{display:inline-block;border-radius:3px;padding:0 6px;font-size:12px;font-weight:bold;color:#fff;background:#5b6673}
.badge.pass,.badge.moto,.badge.api-model{color:#fff;background:#2e7d32}.badge.fail,.badge.rejected{color:#fff;background:#c62828}
.badge.incomplete,.badge.mock-only{color:#fff;background:#a85400}.muted{color:#5b6673}.error{color:#c62828}
.violating td,.claim.fail td{background:#ffebee}#claims caption{text-align:left;font-weight:bold;padding:4px 0}
details{margin:4px 0}summary{cursor:pointer;padding:3px 0}.control>summary{font-size:14px}
.evidence code{font-size:11px;word-break:break-all}ul.resources{columns:2;font-size:12px}
.violations li{color:#c62828}footer{margin-top:32px;color:#5b6673;font-size:12px}
"""


def build_report(plan: Plan, results_dir: Path | None = None) -> str:
    """The whole page for a plan already made."""
    return page(plan, render_svg(topology_dot(plan)), evidence(plan), last_acceptance(plan.factory, results_dir),
                provenance(plan.program))
