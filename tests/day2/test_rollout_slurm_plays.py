"""slurm_drain.yml (with the variables rollout.yml and replace.yml import it with), rollout_restart.yml and
rollout_resume.yml run for real against local hosts, with `scontrol` and `squeue` replaced by scripts that
log their arguments and answer as Slurm would: the drain names the batch and the reason, --force requeues
the running jobs, the wait ends when the batch is free and fails the run when jobs outlive the drain
timeout, replace drains its node without waiting; only nodes whose role set the restart fact go through
their BMC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
BATCH = ["f-r002-n01", "f-r002-n02"]


def fake_slurm(bin_dir: Path, log: Path, busy_polls: int, drained: list[str]) -> None:
    """scontrol logs its arguments; squeue lists jobs 41 and 42 for its first `busy_polls` calls;
    sinfo lists the `drained` nodes (once per node: sinfo --Node repeats a node per partition)."""
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f"#!/bin/sh\necho \"scontrol $*\" >> {log}\n")
    (bin_dir / "squeue").write_text(
        f"#!/bin/sh\necho \"squeue $*\" >> {log}\n"
        f"n=$(grep -c '^squeue' {log})\n"
        f"if [ \"$n\" -le {busy_polls} ]; then printf '41\\n42\\n'; fi\n")
    (bin_dir / "sinfo").write_text(f"#!/bin/sh\necho \"sinfo $*\" >> {log}\n"
                                   + "".join(f"echo {n}\necho {n}\n" for n in drained))
    for tool in ("scontrol", "squeue", "sinfo"):
        (bin_dir / tool).chmod(0o755)


def drain_import_vars(importer: str) -> dict:
    """The variables `importer` (rollout.yml, replace.yml) imports slurm_drain.yml with."""
    plays = yaml.safe_load((REPO / "playbooks" / importer).read_text())
    return next(p["vars"] for p in plays if p.get("ansible.builtin.import_playbook") == "slurm_drain.yml")


def run(tmp_path: Path, book: str, busy_polls: int = 0, force: bool = False, polls: int = 3,
        drained: list[str] = BATCH, more: dict | None = None) -> tuple[int, list[str]]:
    log = tmp_path / "slurm.log"
    fake_slurm(tmp_path / "bin", log, busy_polls, drained)
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {
        "head_nodes": {"hosts": {"f-head01": local}},
        "nodes": {"hosts": {h: local for h in [*BATCH, "f-r001-n01"]}}}}}))
    extra = {"aifactory_become": False, "slurm_controllers": ["f-head01"], "aifactory_rollout_batch": BATCH,
             "aifactory_rollout_slurm": True, "aifactory_rollout_drain_reason": "aifactory rollout drivers",
             "aifactory_rollout_force": force, "aifactory_rollout_drain_polls": polls,
             "aifactory_rollout_drain_poll_delay": 0, **(more or {})}
    done = subprocess.run([PLAYBOOK, "-i", str(inventory), f"playbooks/{book}", "--limit", ",".join(BATCH),
                           "-e", json.dumps(extra)], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
                               "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    return done.returncode, log.read_text().splitlines() if log.exists() else []


BUSY = "squeue --noheader --format=%i --nodelist=f-r002-n01,f-r002-n02 --states=RUNNING,COMPLETING,CONFIGURING,SUSPENDED"


def rollout_drain(tmp_path: Path, **kw) -> tuple[int, list[str]]:
    """slurm_drain.yml as rollout.yml runs it: its import variables mapped from the rollout's."""
    return run(tmp_path, "slurm_drain.yml", more=drain_import_vars("rollout.yml"), **kw)


def test_drain_then_wait_until_the_jobs_are_gone(tmp_path):
    code, calls = rollout_drain(tmp_path, busy_polls=2)
    assert code == 0
    assert calls == ["scontrol update NodeName=f-r002-n01,f-r002-n02 State=DRAIN Reason=aifactory rollout drivers",
                     BUSY, BUSY, BUSY]  # listed once, then polled until free


def test_force_requeues_the_running_jobs(tmp_path):
    code, calls = rollout_drain(tmp_path, busy_polls=1, force=True)
    assert code == 0 and "scontrol requeue 41,42" in calls
    assert calls.index("scontrol requeue 41,42") == 2


def test_jobs_outliving_the_drain_timeout_fail_the_batch(tmp_path):
    code, calls = rollout_drain(tmp_path, busy_polls=99, polls=2)
    assert code != 0
    assert calls.count(BUSY) == 1 + 3  # the listing, then the first try and two retries
    assert not any("requeue" in c for c in calls)


def test_replace_drains_its_node_with_its_reason_and_does_not_wait(tmp_path):
    replace = {"aifactory_replace_slurm": True, "aifactory_replace_reason": "aifactory replace",
               "aifactory_replace_bmc_node": {"f-r002-n02-bmc": "f-r002-n02"}}
    code, calls = run(tmp_path, "slurm_drain.yml", busy_polls=99, more={**drain_import_vars("replace.yml"), **replace})
    assert code == 0 and calls == ["scontrol update NodeName=f-r002-n02 State=DRAIN Reason=aifactory replace"]


DRAINED = "sinfo --noheader --Node --nodes=f-r002-n01,f-r002-n02 --states=drain --format=%N"


def test_resume_names_the_batch(tmp_path):
    code, calls = run(tmp_path, "rollout_resume.yml")
    assert code == 0 and calls == [DRAINED, "scontrol update NodeName=f-r002-n01,f-r002-n02 State=RESUME"]


def test_resume_leaves_out_the_nodes_the_health_check_resumed_already(tmp_path):
    # Slurm refuses to resume a node that is not drained ("Invalid node state specified").
    code, calls = run(tmp_path, "rollout_resume.yml", drained=["f-r002-n02"])
    assert code == 0 and calls == [DRAINED, "scontrol update NodeName=f-r002-n02 State=RESUME"]
    (tmp_path / "none").mkdir()
    code, calls = run(tmp_path / "none", "rollout_resume.yml", drained=[])
    assert code == 0 and calls == [DRAINED]  # every node is back already: nothing to resume


def test_only_the_nodes_whose_role_asks_for_it_are_restarted_through_their_bmc(tmp_path):
    """Node n1's role set the restart fact, n2's did not: only n1's BMC enters the bmc role (whose
    endpoint check stops it here, which shows it ran), and only n1 is waited for."""
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {
        "node_bmcs": {"hosts": {bmc: {**local, "bmc_endpoint": "http://127.0.0.1:9"} for bmc in ("n1-bmc", "n2-bmc")}},
        "nodes": {"hosts": {"n1": {**local, "nvidia_gpu_reboot_required": True}, "n2": local}}}}}))
    extra = {"aifactory_rollout_bmc_node": {"n1-bmc": "n1", "n2-bmc": "n2"},
             "aifactory_rollout_reboot_fact": "nvidia_gpu_reboot_required", "aifactory_rollout_boot_timeout": 30}
    done = subprocess.run([PLAYBOOK, "-i", str(inventory), "playbooks/rollout_restart.yml", "-e", json.dumps(extra)],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                               "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    plays = json.loads(done.stdout)["plays"]
    restart = {t["task"]["name"]: t["hosts"] for t in plays[0]["tasks"]}
    assert restart["Restart the node"]["n2-bmc"].get("skipped") is True
    assert "n1-bmc" not in {h for h, r in restart["Restart the node"].items() if r.get("skipped")}
    endpoint_check = restart["bmc : Check that the BMC endpoint speaks HTTPS"]
    assert list(endpoint_check) == ["n1-bmc"] and endpoint_check["n1-bmc"]["failed"]
    wait = {t["task"]["name"]: t["hosts"] for t in plays[1]["tasks"]}["Wait until the node answers again"]
    assert wait["n2"].get("skipped") is True and not wait["n1"].get("skipped")
