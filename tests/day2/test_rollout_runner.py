"""The rollout driver with the real bring-up runner (ansible-runner, the aifactory inventory of
lab-gb200, a batch's --limit and extra variables, the verdicts handed over with set_stats), its
playbooks swapped for small ones that run on the controller and report what they were given."""

from __future__ import annotations

import json
import sys

import yaml

from aifactory.day2 import rollout
from aifactory.node.bringup import BringupOptions
from aifactory.day2.rollout import RolloutOptions, prepare, run_rollout
from aifactory.spec import load_spec
from tests.conftest import site_dir
from tests.hostile.conftest import run_inprocess

GB200 = load_spec(site_dir("lab-gb200"))
PRESENT = [n.name for n in GB200.nodes if n.slot <= 2]


def books(tmp_path, failing: str) -> None:
    """A rollout playbook whose acceptance verdict is `fail` on `failing`, and a resume playbook that
    notes the batch it resumed."""
    verdict = "{{ {inventory_hostname: {'result': 'fail' if inventory_hostname == '%s' else 'pass'}} }}" % failing
    (tmp_path / "rollout.yml").write_text(yaml.safe_dump([{
        "name": "Batch", "hosts": "nodes:node_bmcs", "gather_facts": False, "tags": ["always"], "tasks": [
            {"name": "The batch is the limit", "ansible.builtin.assert": {"that": [
                "inventory_hostname in aifactory_rollout_batch or "
                "aifactory_rollout_bmc_node[inventory_hostname] in aifactory_rollout_batch",
                "'drivers' in ansible_run_tags"]}},
            {"name": "Verdict", "when": "inventory_hostname in groups['nodes']", "ansible.builtin.set_stats": {
                "data": {"aifactory_acceptance": verdict}, "per_host": False}}]}]))
    (tmp_path / "resume.yml").write_text(yaml.safe_dump([{
        "name": "Resume", "hosts": "nodes", "gather_facts": False, "tasks": [
            {"name": "Note", "ansible.builtin.copy": {"dest": str(tmp_path / "resumed-{{ inventory_hostname }}"),
                                                       "content": "{{ aifactory_rollout_batch | join(',') }}",
                                                       "mode": "0644"}}]}]))


def options(tmp_path, monkeypatch, **kw) -> RolloutOptions:
    monkeypatch.setattr(rollout, "ROLLOUT_PLAYBOOK", tmp_path / "rollout.yml")
    monkeypatch.setattr(rollout, "RESUME_PLAYBOOK", tmp_path / "resume.yml")
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    overrides = {n.name: ({**local} if n.name in PRESENT else {"aifactory_absent": True}) for n in GB200.nodes}
    overrides |= {f"{n}-bmc": {"aifactory_absent": True} for n in (n.name for n in GB200.nodes) if n not in PRESENT}
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps(overrides))
    bringup = BringupOptions(host_overrides=path, artifacts_root=tmp_path / "artifacts")
    return RolloutOptions(stage="drivers", bringup=bringup, host_overrides=overrides, record=tmp_path / "record.json", **kw)


def test_a_batch_runs_on_its_nodes_and_bmcs_and_its_gate_reads_the_verdicts(tmp_path, monkeypatch):
    books(tmp_path, failing="none")
    opts = options(tmp_path, monkeypatch, max_batches=2)
    path, record = prepare(GB200, opts)
    record = run_rollout(GB200, opts, path, record, progress=open(tmp_path / "progress", "w"))
    assert record["status"] == "paused", (tmp_path / "progress").read_text()[-3000:]
    assert record["batches"][0]["nodes_outcome"] == {"lab-gb200-r001-n01": "pass"}
    assert (tmp_path / "resumed-lab-gb200-r001-n02").read_text() == "lab-gb200-r001-n02"
    assert not (tmp_path / "resumed-lab-gb200-r002-n01").exists()


def test_a_failing_verdict_stops_with_the_batch_not_resumed(tmp_path, monkeypatch):
    books(tmp_path, failing="lab-gb200-r001-n01")
    opts = options(tmp_path, monkeypatch)
    path, record = prepare(GB200, opts)
    record = run_rollout(GB200, opts, path, record, progress=open(tmp_path / "progress", "w"))
    assert record["status"] == "stopped" and record["batches"][0]["nodes_outcome"] == {"lab-gb200-r001-n01": "fail"}
    assert not list(tmp_path.glob("resumed-*"))


def test_check_on_the_command_line_runs_in_check_mode_without_yes_and_changes_nothing(tmp_path, monkeypatch, capsys):
    """`aifactory rollout --check` on an inventory that is not a lab (these overrides do not say so): no --yes
    asked, each batch's playbook runs in Ansible check mode (its copy is reported, not made), no resume, no record."""
    opts = options(tmp_path, monkeypatch, max_batches=1)
    (tmp_path / "rollout.yml").write_text(yaml.safe_dump([{
        "name": "Batch", "hosts": "nodes", "gather_facts": False, "tags": ["always"], "tasks": [
            {"name": "Install the new driver", "ansible.builtin.copy": {
                "dest": str(tmp_path / "installed-{{ inventory_hostname }}"), "content": "driver", "mode": "0644"}},
            {"name": "Verdict", "ansible.builtin.set_stats": {
                "data": {"aifactory_acceptance": "{{ {inventory_hostname: {'result': 'pass'}} }}"}, "per_host": False}}]}]))
    code, out, err = run_inprocess(capsys, "rollout", site_dir("lab-gb200"), "--stage", "drivers", "--check",
                                   "--max-batches", "1", "--host-overrides", opts.bringup.host_overrides,
                                   "--record", opts.record, "--artifacts-dir", tmp_path / "artifacts")
    assert code == 0, out + err
    assert "batch 1: canary lab-gb200-r001-n01" in err  # the batch plan
    assert "    lab-gb200-r001-n01 would change: Install the new driver" in out.splitlines()
    assert not list(tmp_path.glob("installed-*")) and not list(tmp_path.glob("resumed-*"))
    assert not opts.record.exists() and not opts.record.with_name(f".{opts.record.name}.lock").exists()
