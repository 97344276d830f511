"""`aifactory diff`: hosts added, removed and moved; AWS resources compared by two offline plans."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aifactory.cli import main
from aifactory.node.inventory import build_inventory
from aifactory.reports.diff import compare_hosts, compare_plans, markdown
from aifactory.spec import load_spec
from tests.reports.conftest import REPO, run_cli


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                   check=True, capture_output=True)


@pytest.fixture
def paris_repo(tmp_path):
    """A repository holding paris-gb200 as committed; the working tree is edited by the test."""
    site = tmp_path / "inventories" / "paris-gb200"
    shutil.copytree(REPO / "inventories" / "paris-gb200", site)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "paris as built")
    return site


def test_paris_grown_by_one_rack(capsys, paris_repo):
    spec = paris_repo / "factory.yaml"
    text = spec.read_text()
    before_hosts = set(build_inventory(load_spec(spec)).hostvars)
    spec.write_text(text.replace("  racks: 4\n", "  racks: 5\n").replace("power_budget_kw: 600", "power_budget_kw: 700"))
    status, out = run_cli(capsys, "diff", paris_repo, "--against", "HEAD", "--format", "json")
    diff = json.loads(out)
    assert status == 0 and diff["hosts"]["moved"] == [] and diff["hosts"]["removed"] == []
    added = diff["hosts"]["added"]
    assert {h["rack"] for h in added} == {5}
    # the hosts the inventory gains: 18 nodes, their 18 BMCs, the 9 switch trays' BMCs
    assert {h["name"] for h in added} == set(build_inventory(load_spec(spec)).hostvars) - before_hosts
    assert [sum(h["kind"] == kind for h in added) for kind in ("node", "node BMC", "switch-tray BMC")] == [18, 18, 9]
    assert "**Hosts**: 45 added, 0 removed, 0 moved" in markdown(diff)
    # the activation has no update in the AWS provider: a new registration limit is a new activation
    [activation] = [r for r in diff["aws"]["replaced"] if r["type"] == "aws:ssm/activation:Activation"]
    assert activation["because"] == ["registrationLimit"]
    assert activation["changes"] == [{"property": "registrationLimit", "before": 72, "after": 90}]
    assert not any(r["type"] == "aws:ssm/activation:Activation" for r in diff["aws"]["updated"])
    assert diff["aws"]["deleted"] == []
    assert "replaced because registrationLimit changed: registrationLimit: `72` -> `90`" in markdown(diff)


def test_moved_names_and_addresses_are_errors():
    before = {(1, 1, "node"): {"name": "n1", "address": "10.0.0.1"}, (1, 2, "node"): {"name": "n2", "address": "10.0.0.2"}}
    renamed = {(1, 1, "node"): {"name": "n1", "address": "10.0.0.2"}, (1, 2, "node"): {"name": "n2", "address": "10.0.0.3"}}
    moved = compare_hosts(before, renamed)["moved"]
    assert {m["field"] for m in moved} == {"address"}
    assert any("10.0.0.2 would move from rack 1 slot 2 to rack 1 slot 1" in m["message"] for m in moved)
    grown = {**before, (2, 1, "node"): {"name": "n3", "address": "10.0.1.1"}}
    assert compare_hosts(before, grown) == {"added": [{"rack": 2, "slot": 1, "kind": "node", "name": "n3", "address": "10.0.1.1"}],
                                            "removed": [], "moved": []}


def test_plans_compared_by_reference_not_by_made_up_ids():
    def plan(vpc_id, cidr, bucket):
        return {"resources": [
            {"name": "hub", "type": "aws:ec2/vpc:Vpc", "component": "Hub", "id": vpc_id, "inputs": {"cidrBlock": cidr}},
            {"name": "a", "type": "aws:ec2/subnet:Subnet", "component": "Hub", "id": "subnet-0123456789abcdef0",
             "inputs": {"vpcId": vpc_id, "tgw": "tgw-attach-083a294f0bbf74a3d" if bucket == "b1" else "tgw-attach-149a6cb3e64f6ec25"}},
            {"name": "logs", "type": "aws:s3/bucket:Bucket", "component": "Buckets", "id": bucket, "inputs": {"bucket": bucket}}]}
    same = compare_plans(plan("vpc-0aaaaaaaaaaaaaaaa", "10.0.0.0/24", "b1"), plan("vpc-0bbbbbbbbbbbbbbbb", "10.0.0.0/24", "b1"))
    assert same == {"created": [], "updated": [], "replaced": [], "deleted": []}
    changed = compare_plans(plan("vpc-0aaaaaaaaaaaaaaaa", "10.0.0.0/24", "b1"), plan("vpc-0bbbbbbbbbbbbbbbb", "10.0.1.0/24", "b2"))
    assert changed["updated"] == []  # a VPC's CIDR block forces a new VPC, as a bucket's name a new bucket
    assert [(r["name"], r["because"]) for r in changed["replaced"]] == [("logs", ["bucket"]), ("hub", ["cidrBlock"])]
    activation = {"name": "activation", "type": "aws:ssm/activation:Activation", "component": "Identity", "id": "a",
                  "ignore_changes": ["expirationDate"]}
    later = compare_plans({"resources": [{**activation, "inputs": {"expirationDate": "2026-12-31T10:00:00Z"}}]},
                          {"resources": [{**activation, "inputs": {"expirationDate": "2026-12-31T10:00:07Z"}}]})
    assert later["updated"] == []  # ignore_changes, as the program declared it


def test_against_a_saved_plan(capsys, tmp_path):
    lab = REPO / "inventories" / "lab-b200"
    status, out = run_cli(capsys, "plan", lab, "--format", "json")
    saved = json.loads(out)
    saved["resources"] = [r for r in saved["resources"] if r["name"] != "lab-b200-vpc"]
    (tmp_path / "plan.json").write_text(json.dumps(saved))
    status, out = run_cli(capsys, "diff", lab, "--against", tmp_path / "plan.json")
    assert status == 0 and "| created | lab-b200-vpc |" in out and "hosts not compared" in out


def test_a_diff_tells_its_steps_with_the_time_on_stderr_and_keeps_json_stdout_clean(capsys, tmp_path):
    lab = REPO / "inventories" / "lab-b200"
    (tmp_path / "plan.json").write_text(json.dumps({"factory": "lab-b200", "clean": True, "resources": []}))
    assert main(["diff", str(lab), "--against", str(tmp_path / "plan.json"), "--format", "json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["site"] == "lab-b200"  # stdout is the document alone
    steps = [re.sub(r"^\[ *\d+\.\ds\] ", "", line) for line in out.err.splitlines()]
    assert steps == [f"reading the saved plan {tmp_path / 'plan.json'}", "planning lab-b200 as it is now",
                     "comparing the two sides"]


def test_unreadable_against_is_bad_input(capsys, tmp_path):
    lab = REPO / "inventories" / "lab-b200"
    (tmp_path / "not-a-plan.json").write_text('{"factory": "lab-b200"}')
    assert main(["diff", str(lab), "--against", "no-such-ref-anywhere"]) == 2
    assert "no-such-ref-anywhere" in capsys.readouterr().err
    assert main(["diff", str(lab), "--against", str(tmp_path / "not-a-plan.json")]) == 2
    assert "not a plan JSON" in capsys.readouterr().err


def test_updates_show_old_and_new_values_with_secrets_masked():
    def link(psk, asn):
        return {"resources": [{"name": "vpn", "type": "aws:ec2/vpnConnection:VpnConnection", "component": "Link", "id": "v",
                               "inputs": {"tunnel1PresharedKey": psk, "tunnel1Phase1LifetimeSeconds": asn,
                                          "keyMaterialBase64": psk, "clientSecret": psk}},
                              {"name": "odd", "type": "aws:example/thing:Thing", "component": "Link", "id": "t",
                               "inputs": {"size": asn}}]}
    diff = {"site": "s", "against": "HEAD", "hosts": None, "notes": [],
            "aws": compare_plans(link("old-psk-value-1", 3600), link("new-psk-value-2", 7200))}
    odd, vpn = diff["aws"]["updated"]
    assert vpn["changes"] == [{"property": "tunnel1Phase1LifetimeSeconds", "before": 3600, "after": 7200}]
    assert odd["replacement_unknown"] and "not in aifactory.reports.replace_on_change" in markdown(diff)
    assert "tunnel1Phase1LifetimeSeconds: `3600` -> `7200`" in markdown(diff)
    assert "psk-value" not in json.dumps(diff) + markdown(diff)


def test_a_plan_without_a_verdict_is_no_diff_and_exits_4(capsys, tmp_path, monkeypatch):
    """A side's plan that stopped without a verdict (exit 4: AWS's stand-in failed) is not a bad input (2): the
    diff says it could not check."""
    import aifactory.reports.diff as diff_module

    lab = REPO / "inventories" / "lab-b200"
    (tmp_path / "plan.json").write_text(json.dumps({"factory": "lab-b200", "resources": []}))
    stand_in_failed = "import sys; sys.stderr.write('the plan stopped without a verdict: moto failed'); sys.exit(4)"
    monkeypatch.setattr(diff_module, "start_plan", lambda *a, **k: subprocess.Popen(
        [sys.executable, "-c", stand_in_failed], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    assert main(["diff", str(lab), "--against", str(tmp_path / "plan.json")]) == 4
    err = capsys.readouterr().err
    assert "stopped without a verdict" in err and "moto failed" in err


def test_both_sides_plan_at_once_and_a_side_that_fails_stops_the_other(tmp_path, monkeypatch):
    """plan_both starts the two plans before it reads either; the first that fails kills the other's process."""
    from aifactory.reports import diff
    events, processes = [], []

    def python(script: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reading = diff.plan_json
    monkeypatch.setattr(diff, "start_plan", lambda spec, program, cwd=None: (events.append(f"start {spec}"),
                                                                             processes.pop(0))[1])
    monkeypatch.setattr(diff, "plan_json", lambda spec, planning: (events.append(f"read {spec}"),
                                                                   reading(spec, planning))[1])
    plan = 'import json; print(json.dumps({"resources": [], "clean": True}))'
    processes[:] = [python(plan), python(plan)]
    assert diff.plan_both((Path("old"), None, tmp_path), (Path("new"), None)) == ({"resources": [], "clean": True},) * 2
    assert events == ["start old", "start new", "read old", "read new"]
    slow = python("import time; time.sleep(120)")
    processes[:] = [python("import sys; sys.exit(3)"), slow]
    with pytest.raises(diff.DiffError, match="planning old failed \\(exit 3\\)"):
        diff.plan_both((Path("old"), None, tmp_path), (Path("new"), None))
    assert slow.poll() is not None  # killed, not left planning
