"""`aifactory diff`, scheduler part: what growing a site by a rack changes in Slurm (nodes, the rack's
topology block, partitions), and head node addresses that would move (an error, as for hosts)."""

from __future__ import annotations

import json
import subprocess

from aifactory import cli
from aifactory.reports.diff import compare_scheduler, has_errors, markdown, scheduler_view
from aifactory.node.inventory import build_inventory
from aifactory.spec import load_spec
from tests.conftest import both, put, site_dir


def grow(data):
    put("compute.racks", 3)(data)
    put("facility.power_budget_kw", 450)(data)


def test_a_new_rack_adds_its_nodes_and_its_block_and_moves_nothing(site):
    before = load_spec(site_dir("lab-gb200"))
    after = load_spec(site("lab-gb200", grow))
    diff = compare_scheduler(scheduler_view(before), scheduler_view(after))
    assert diff["nodes"] == {"added": [f"lab-gb200-r003-n{i:02d}" for i in range(1, 19)], "removed": [], "changed": []}
    assert diff["topology"] == {"added": ["rack03"], "removed": [], "changed": []}
    assert diff["partitions"]["changed"] == ["batch"]  # its node list grows
    assert diff["head_nodes"] == {"added": [], "removed": [], "moved": []}
    assert {"slurm.conf", "topology.conf"} <= set(diff["files_changed"]) and diff["reconfigure"] is True


def test_a_head_node_address_that_would_move_is_an_error():
    view = lambda heads: {"kind": "slurm", "head_nodes": heads, "nodes": {}, "partitions": {}, "topology": {},  # noqa: E731
                          "files": {}}
    diff = compare_scheduler(view({"f-head01": "10.0.0.5"}), view({"f-head01": "10.0.0.6", "f-head02": "10.0.0.5"}))
    assert diff["head_nodes"]["added"] == ["f-head02"]
    assert diff["head_nodes"]["moved"] == ["f-head01: address would change from 10.0.0.5 to 10.0.0.6",
                                           "10.0.0.5 would move from f-head01 to f-head02"]
    assert has_errors({"hosts": {"moved": []}, "scheduler": diff})
    text = markdown({"site": "f", "against": "HEAD", "hosts": None, "scheduler": diff, "notes": [],
                     "aws": {"created": [], "updated": [], "replaced": [], "deleted": []}})
    assert "**Error: 2 head node address(es) would move**" in text


def test_a_scheduler_turned_off_is_shown_and_needs_no_reconfigure(site):
    before = load_spec(site_dir("lab-b200"))
    after = load_spec(site("lab-b200", both(put("scheduler", {"kind": "none"}), put("monitoring.enabled", False))))
    diff = compare_scheduler(scheduler_view(before), scheduler_view(after))
    assert diff["kind"] == {"before": "slurm", "after": "none"} and diff["reconfigure"] is False
    assert diff["head_nodes"]["removed"] == ["lab-b200-head01"]
    assert diff["nodes"]["removed"] == ["lab-b200-r001-n01", "lab-b200-r001-n02", "lab-b200-r001-n03"]


def test_diff_of_a_lab_site_grown_by_one_rack(capsys, tmp_path, site):
    """The command as a user runs it after growing the spec: exactly the new rack's hosts, no moved
    address, the rack's Slurm nodes and block."""
    root = tmp_path / "repo"
    spec_dir = root / "inventories" / "lab-gb200"
    spec_dir.parent.mkdir(parents=True)
    site_copy = site("lab-gb200")
    site_copy.rename(spec_dir)
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "two racks"], check=True)
    spec = spec_dir / "factory.yaml"
    spec.write_text(spec.read_text().replace("  racks: 2\n", "  racks: 3\n").replace("power_budget_kw: 300", "power_budget_kw: 450"))
    code = cli.main(["diff", str(spec_dir), "--against", "HEAD", "--format", "json"])
    diff = json.loads(capsys.readouterr().out)
    assert code == 0
    f = load_spec(spec_dir)
    inventory = build_inventory(f).to_ansible_list()
    new = {h for h in inventory["_meta"]["hostvars"] if h.startswith("lab-gb200-r003-")}
    assert len(new) == 18 + 18 + 9  # the rack's nodes, their BMCs and its switch trays' BMCs
    assert {h["name"] for h in diff["hosts"]["added"]} == new
    assert diff["hosts"]["moved"] == [] and diff["hosts"]["removed"] == []
    assert diff["scheduler"]["topology"]["added"] == ["rack03"] and diff["scheduler"]["head_nodes"]["moved"] == []
    assert "| topology | added | rack03 |" in markdown(diff)
    assert "| nodes | added | lab-gb200-r003-n[01-18] |" in markdown(diff)
