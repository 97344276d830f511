"""The slurm role keeps the Slurm files of the cluster's hosts outside a limited run (a new rack
brought up alone) the same as the run's, and reconfigures: exercised with local hosts in check mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from tests.conftest import REPO

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def test_a_run_limited_to_a_new_rack_writes_the_files_on_every_other_host_of_the_cluster(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"slurm_cluster": {
        "hosts": {h: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
                  for h in ("head01", "r001-n01", "r002-n01")}}}}}))
    book = tmp_path / "book.yml"
    book.write_text(yaml.safe_dump([{"name": "Slurm files", "hosts": "slurm_cluster", "gather_facts": False, "tasks": [
        {"name": "Write elsewhere", "ansible.builtin.include_role": {"name": "slurm", "tasks_from": "outside_run"}}]}]))
    done = subprocess.run(
        [PLAYBOOK, "-i", str(inventory), str(book), "--check", "--limit", "r002-n01",
         "-e", json.dumps({"slurm_conf_files": {"slurm.conf": "a\n", "topology.conf": "b\n"}, "slurm_controllers": ["head01"],
                           "__slurm_conf_dir": str(tmp_path / "etc")})],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_ROLES_PATH": str(REPO / "playbooks/roles"),
             "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    tasks = {t["task"]["name"]: t["hosts"] for t in json.loads(done.stdout)["plays"][0]["tasks"]}
    written = tasks["slurm : Write the Slurm configuration on the cluster's hosts outside this run"]["r002-n01"]
    assert sorted((r["__slurm_conf_other"][0], r["__slurm_conf_other"][1]["key"], r["changed"]) for r in written["results"]) == [
        ("head01", "slurm.conf", True), ("head01", "topology.conf", True),
        ("r001-n01", "slurm.conf", True), ("r001-n01", "topology.conf", True)]
    assert "slurm : Reconfigure Slurm" in tasks  # notified: slurmctld and every slurmd read their files again
