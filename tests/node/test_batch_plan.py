"""The batch plan by situation (aifactory.node.batch_plan): a first bring-up converges in at most three driver
batches, nodes in service keep the rollout's rack by rack, `bringup --batches` prints the plan and runs nothing,
and a real bringup hands the plan to drivers.yml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from aifactory.cli import main
from aifactory.node.batch_plan import MAX_FAIL_VAR, drivers_plan, in_service_from_records
from aifactory.node.batches import SERIAL_VAR
from aifactory.spec import load_spec
from aifactory.spec.naming import rack_group
from bench.specs import scaled_plan_site
from tests.conftest import REPO, site_dir
from tests.node.test_bringup import fake_runner


@pytest.fixture(scope="module")
def hundred_racks(tmp_path_factory) -> Path:
    """paris-gb200 with 100 racks (1,800 trays), in tmp_path."""
    site = tmp_path_factory.mktemp("sites") / "paris-100"
    scaled_plan_site(100, site)
    return site


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("AIFACTORY_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def record_verdicts(state: Path, site: str, nodes: list[str], result: str = "pass") -> None:
    """Acceptance verdicts as the acceptance role writes them to the site's acceptance directory."""
    directory = state / "sites" / site / "acceptance"
    directory.mkdir(parents=True, exist_ok=True)
    for node in nodes:
        (directory / f"{node}.json").write_text(json.dumps({"result": result, "checks": []}))


def json_plan(capsys, *args: str) -> dict:
    assert main(["bringup", *args, "--batches", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def drivers_of(plan: dict) -> dict:
    return next(s for s in plan["stages"] if s["stage"] == "drivers")


def test_a_first_bringup_of_100_racks_has_at_most_3_driver_batches_and_a_failure_policy(hundred_racks, state, capsys):
    f = load_spec(hundred_racks)
    record_verdicts(state, f.name, [n.name for n in f.nodes[:18]])  # records that --fresh must ignore
    plan = json_plan(capsys, str(hundred_racks), "--fresh")
    drivers = drivers_of(plan)
    sizes = [b["size"] for b in drivers["batches"]]
    assert plan["situation"] == "fresh" and plan["in_service"] == []
    assert sizes == [1, 17, 1782] and drivers["max_fail_percentage"] == 5
    assert [b["nodes"] for b in drivers["batches"]][0] == [f.nodes[0].name]
    assert sorted(n for b in drivers["batches"] for n in b["nodes"]) == sorted(n.name for n in f.nodes)
    assert [b["may_fail"] for b in drivers["batches"]] == [0, 0, 89]  # 5% of 1,782 trays, as Ansible counts it
    assert [s["stage"] for s in plan["stages"]][:3] == ["racks", "os", "drivers"]


def test_a_rollout_of_100_racks_in_service_is_the_canary_then_one_batch_per_rack(hundred_racks, state, capsys):
    f = load_spec(hundred_racks)
    record_verdicts(state, f.name, [n.name for n in f.nodes])
    drivers = drivers_of(json_plan(capsys, str(hundred_racks)))
    batches = drivers["batches"]
    assert len(batches) == 101 and drivers["max_fail_percentage"] == 0
    assert batches[0]["nodes"] == [f.nodes[0].name] and batches[1]["size"] == 17
    for rack, batch in enumerate(batches[2:], 2):
        assert batch["nodes"] == [n.name for n in f.nodes if n.rack == rack], rack
        assert batch["label"] == f"{rack_group(rack)} (in service)" and batch["may_fail"] == 0


def test_racks_in_service_keep_their_own_batch_between_runs_of_fresh_racks(state):
    f = load_spec(site_dir("paris-gb200"))
    rack3 = [n.name for n in f.nodes if n.rack == 3]
    record_verdicts(state, f.name, rack3[:1], result="fail")  # any verdict: the node was brought up
    plan = drivers_plan(f, in_service_from_records(f), absent=[])
    assert [b.label for b in plan.batches] == [f"canary {f.nodes[0].name}", "rack01 (after the canary)",
                                               "rack02 (not in service, at once)", "rack03 (in service)",
                                               "rack04 (not in service, at once)"]
    assert plan.batches[3].nodes == tuple(rack3) and plan.max_fail_percentage == 0  # a node in service: no share
    absent = drivers_plan(f, set(), absent=[f.nodes[0].name])
    assert absent.batches[0].nodes == (f.nodes[1].name,) and f.nodes[0].name not in absent.batches[2].nodes


def test_the_table_says_the_failure_policy(state, capsys):
    assert main(["bringup", str(site_dir("paris-gb200")), "--batches"]) == 0
    out = capsys.readouterr().out
    assert "0 node(s) in service per the site's records" in out
    assert "rack02..rack04 (not in service, at once)" in out and "goes on past 5% failed trays" in out


def test_a_bringup_hands_the_plan_to_the_drivers_plays(state, monkeypatch, capsys):
    calls = fake_runner(monkeypatch)  # ansible-runner's stand-in: records what it was handed, runs nothing
    lab = str(site_dir("lab-gb200"))
    main(["bringup", lab, "--check", "--stages", "drivers"])  # the stand-in runner runs no host: exit 1
    assert (calls[-1]["extravars"][SERIAL_VAR], calls[-1]["extravars"][MAX_FAIL_VAR]) == ([1, 17, 18], 5)
    f = load_spec(lab)
    record_verdicts(state, f.name, [n.name for n in f.nodes])
    main(["bringup", lab, "--check", "--stages", "drivers"])  # the stand-in runner runs no host: exit 1
    assert (calls[-1]["extravars"][SERIAL_VAR], calls[-1]["extravars"][MAX_FAIL_VAR]) == ([1, 17, 18], 0)
    main(["bringup", lab, "--check", "--fresh", "-e", '{"aifactory_drivers_serial": [2]}'])
    assert calls[-1]["extravars"][SERIAL_VAR] == [2]  # the user's extra variables win


def test_bad_input_exits_2_naming_what(tmp_path, state, capsys):
    spec = yaml.safe_load((REPO / "inventories/paris-gb200/factory.yaml").read_text())
    spec["compute"]["fresh_batch_max_fail_percent"] = 80
    site = tmp_path / "site"
    site.mkdir()
    (site / "factory.yaml").write_text(yaml.safe_dump(spec))
    assert main(["bringup", str(site), "--batches"]) == 2
    assert "fresh_batch_max_fail_percent" in capsys.readouterr().err
    paris = load_spec(site_dir("paris-gb200"))
    broken = state / "sites" / paris.name / "acceptance" / f"{paris.nodes[5].name}.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    assert main(["bringup", str(site_dir("paris-gb200")), "--batches"]) == 2
    err = capsys.readouterr().err
    assert f"{paris.nodes[5].name}.json: not an acceptance verdict" in err and "--fresh" in err
    assert main(["bringup", str(site_dir("paris-gb200")), "--batches", "--fresh"]) == 0  # --fresh reads no record
