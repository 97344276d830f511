"""The Grafana dashboards: their queries parse in promtool and read only metrics the project provides."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from aifactory.cli import main
from aifactory.monitoring import dashboards as dash, metrics
from aifactory.spec import load_spec
from tests.conftest import put, site_dir
from tests.monitoring.test_alert_rules import PROMTOOL, SITES, needs_promtool, without_slurm
from tests.spec.conftest import write_site  # noqa: F401 - a fixture

# What Grafana puts in a query's place before Prometheus sees it.
GRAFANA_INTERVALS = {"$__rate_interval": "2m"}
PROVIDED = {v.name for v in vars(metrics).values() if isinstance(v, metrics.Metric)} | {
    n.name for n in metrics.NVLINK_ERRORS}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
                "offset", "inf", "nan"}


def queries(dashboard: dict) -> list[str]:
    """Every PromQL of a dashboard: its panels' targets and the selectors of its label_values variables."""
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    variables = [re.fullmatch(r"label_values\((.*), \w+\)", v["definition"]).group(1)
                 for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return exprs + variables


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: its identifiers less functions, keywords, grouping labels."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)        # string contents
    text = re.sub(r"\{[^}]*\}", "", text)                   # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)                  # ranges
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = re.findall(r"(?<![\w.$])([A-Za-z_:][\w:]*)\b(?!\s*\()", text)
    return {n for n in names if n.lower() not in PROMQL_WORDS}


def all_dashboards() -> dict[str, list[dict]]:
    return {site: dash.dashboards(load_spec(site_dir(site))) for site in SITES}


def test_the_metric_finder_sees_through_functions_matchers_and_grouping():
    assert metric_names('sum by (node, gpu) (increase(a_total{x=~"b|c"}[$__rate_interval])) / on (node) b_bytes '
                        '> bool 3') == {"a_total", "b_bytes"}
    assert metric_names(f"count by (severity) ({metrics.ALERTS.select(alertstate='firing')})") == {"ALERTS"}


@pytest.mark.parametrize("site", SITES)
def test_every_metric_a_dashboard_reads_is_provided_by_the_project(site):
    for board in dash.dashboards(load_spec(site_dir(site))):
        used = set().union(*(metric_names(q) for q in queries(board)))
        assert used and used <= PROVIDED, (board["uid"], sorted(used - PROVIDED))


def test_an_unprovided_metric_is_found():
    board = dash.dashboards(load_spec(site_dir("lab-b200")))[0]
    board["panels"][0]["targets"][0]["expr"] = "sum(DCGM_FI_DEV_NO_SUCH_FIELD)"
    assert set().union(*(metric_names(q) for q in queries(board))) - PROVIDED == {"DCGM_FI_DEV_NO_SUCH_FIELD"}


@needs_promtool
@pytest.mark.parametrize("site", SITES)
def test_promtool_parses_every_query(tmp_path, site):
    exprs = [q for board in dash.dashboards(load_spec(site_dir(site))) for q in queries(board)]
    for variable, value in GRAFANA_INTERVALS.items():
        exprs = [e.replace(variable, value) for e in exprs]
    rules = {"groups": [{"name": "dashboards", "rules": [{"record": f"dashboard:query_{i}", "expr": e}
                                                         for i, e in enumerate(exprs)]}]}
    (tmp_path / "queries.yml").write_text(yaml.safe_dump(rules))
    result = subprocess.run([PROMTOOL, "check", "rules", str(tmp_path / "queries.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(exprs)} rules found" in result.stdout


@needs_promtool
def test_promtool_refuses_a_query_that_does_not_parse(tmp_path):
    rules = {"groups": [{"name": "dashboards", "rules": [{"record": "dashboard:query_0", "expr": "sum by (node ("}]}]}
    (tmp_path / "queries.yml").write_text(yaml.safe_dump(rules))
    result = subprocess.run([PROMTOOL, "check", "rules", str(tmp_path / "queries.yml")], capture_output=True, text=True)
    assert result.returncode != 0 and "dashboard:query_0" in result.stdout + result.stderr


def test_uids_are_unique_stable_and_named_after_the_factory():
    first, again = all_dashboards(), all_dashboards()
    uids = [board["uid"] for boards in first.values() for board in boards]
    assert len(uids) == len(set(uids)) and all(len(u) <= dash.UID_MAX for u in uids)
    assert uids == [board["uid"] for boards in again.values() for board in boards]
    assert {b["uid"] for b in first["paris-gb200"]} == {"paris-gb200-overview", "paris-gb200-accelerators",
                                                        "paris-gb200-node"}
    assert all(b["title"].startswith("paris-gb200: ") for b in first["paris-gb200"])


def test_a_long_factory_name_gets_a_short_uid_of_its_own():
    long_name = "a" * 50
    uid = dash.dashboard_uid(long_name, "accelerators")
    assert len(uid) <= dash.UID_MAX and uid.endswith("-accelerators")
    assert uid == dash.dashboard_uid(long_name, "accelerators")
    assert uid != dash.dashboard_uid(long_name + "b", "accelerators")


def test_every_dashboard_is_grafana_json_with_a_datasource_variable():
    for board in [b for boards in all_dashboards().values() for b in boards]:
        assert json.loads(json.dumps(board)) == board and board["schemaVersion"] == 39
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))
        for p in board["panels"]:
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert all(t["datasource"] == p["datasource"] for t in p["targets"])


def test_per_node_dashboards_follow_the_node_and_rack_variables():
    for board in all_dashboards()["lab-gb200"][1:]:
        assert {"node", "rack"} <= {v["name"] for v in board["templating"]["list"]}
        for expr in [t["expr"] for p in board["panels"] for t in p["targets"]]:
            assert 'node=~"$node"' in expr and 'rack=~"$rack"' in expr, expr


def test_trainium_gets_neuron_panels_and_no_dcgm_ones():
    used = {site: set().union(*(metric_names(q) for b in boards for q in queries(b)))
            for site, boards in all_dashboards().items()}
    neuron = {metrics.NEURONCORE_UTILIZATION.name, metrics.NEURON_HW_ECC_EVENTS.name}
    dcgm = {metrics.GPU_UTIL.name, metrics.XID_ERRORS_COUNT.name, metrics.ECC_DBE_VOL_TOTAL.name,
            metrics.NVLINK_LINK_STATUS.name, *(n.name for n in metrics.NVLINK_ERRORS)}
    assert neuron <= used["ohio-trn3"] and not any(n.startswith("DCGM_") for n in used["ohio-trn3"])
    assert dcgm <= used["paris-gb200"] and not neuron & used["paris-gb200"]


def test_thresholds_come_from_the_spec_and_the_alert_rules(write_site):  # noqa: F811 - the fixture
    f = load_spec(write_site("lab-b200", put("storage.scratch.mount", "/data/scratch")))
    overview, accelerators, node = dash.dashboards(f)
    steps = {p["title"]: p["fieldConfig"]["defaults"]["thresholds"]["steps"] for p in overview["panels"]}
    assert steps["Nodes up"][-1]["value"] == f.node_count
    gpus = next(p for p in accelerators["panels"] if p["title"] == "GPUs answering per node")
    assert gpus["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] == 8  # HGX B200: 8 GPUs a node
    scratch = next(p for p in node["panels"] if p["title"].startswith("Scratch"))
    assert 'mountpoint="/data/scratch"' in scratch["targets"][0]["expr"]
    assert scratch["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] == 0.9


def test_without_slurm_the_overview_has_no_slurm_panels(write_site):  # noqa: F811 - the fixture
    f = load_spec(write_site("lab-b200", without_slurm))
    titles = [p["title"] for p in dash.dashboards(f)[0]["panels"]]
    assert "Nodes up by rack" in titles and not [t for t in titles if "Slurm" in t]


def test_the_command_writes_the_dashboards(tmp_path, capsys):
    assert main(["monitoring", "inventories/ohio-trn3", "--out", str(tmp_path / "out")]) == 0
    written = sorted(p.name for p in (tmp_path / "out" / "dashboards").iterdir())
    assert written == ["ohio-trn3-accelerators.json", "ohio-trn3-node.json", "ohio-trn3-overview.json"]
    board = json.loads((tmp_path / "out" / "dashboards" / "ohio-trn3-accelerators.json").read_text())
    assert board == dash.dashboards(load_spec(site_dir("ohio-trn3")))[1]
    assert str(tmp_path / "out" / "dashboards" / "ohio-trn3-node.json") in capsys.readouterr().out
