"""Slurm on lab-b200's stand-ins (issue 15): the distribution's Slurm from the mirror stand-in, the head
node as a container of its own. The site is lab-b200 renamed `lab-slurm` on ranges of its own, so that
it can be up beside another helper's lab-b200 lab (one lab at a time still runs, under the lab lock). Jobs go in through `aifactory lab ssh` as a user's would: `srun` on
every healthy node, a batch job that completes and is in `sacct`, the topology's rack switch, and the
node with an injected fault drained with the failing check as reason, and resumed once its checks
pass again. A second scheduler run changes
nothing and restarts no daemon; no munge key or database password is left in any output or artifact.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aifactory import scheduler
from aifactory.lab import hardware, lifecycle
from aifactory.lab.rehearsal import LAB_BMC_CREDENTIALS
from aifactory.lab.state import LabState
from aifactory.scheduler import lab as scheduler_lab
from aifactory.spec import load_spec
from tests.conftest import site_dir

pytestmark = pytest.mark.lab

SITE = "lab-slurm"
FAULTY = f"{SITE}-r001-n03"
STAGES = "os,drivers,fabric,storage,scheduler"
DAEMONS = ("munge", "slurmctld", "slurmdbd", "mariadb")


def renamed_site(target: Path) -> Path:
    """lab-b200 as `lab-slurm` on 10.79.0.0/16 (lab-b200 is 10.77.0.0/16)."""
    shutil.copytree(site_dir("lab-b200"), target)
    data = yaml.safe_load((target / "factory.yaml").read_text())
    data["name"] = SITE
    data["network"].update(domain="lab-slurm.factory.internal", onprem_cidr="10.79.0.0/16", bmc_cidr="10.79.0.0/24",
                           host_cidr="10.79.1.0/24", storage_cidr="10.79.2.0/24")
    data["hybrid_link"]["vpc_cidr"] = "10.179.0.0/24"
    (target / "factory.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return target


@pytest.fixture(scope="module")
def slurm_lab(lab_dir, tmp_path_factory):
    """The site up with a missing GPU on one node, brought up to the scheduler stage once; yields
    (Factory, LabState, secrets, the first bring-up's JSON result and its stderr, the site directory)."""
    site = renamed_site(tmp_path_factory.mktemp("site") / SITE)
    f = load_spec(site)
    lifecycle.up(f, progress=lambda line: None, scratch_disks=1, faults={FAULTY: ["gpu-missing"]})
    secrets = dict(LAB_BMC_CREDENTIALS)
    try:
        state = LabState.load(f.name)
        result, stderr = bringup(site, state, tmp_path_factory.mktemp("bringup"), secrets, STAGES)
        assert result["exit_code"] in (0, 3) and not any(h.get("failed") for h in result["hosts"].values()), stderr[-3000:]
        yield f, state, secrets, result, stderr, site
    finally:
        lifecycle.down(f.name, progress=lambda line: None)


def bringup(site: Path, state: LabState, artifacts: Path, secrets: dict, stages: str) -> tuple[dict, str]:
    done = subprocess.run([sys.executable, "-m", "aifactory.cli", "bringup", str(site), "--format", "json",
                           "--stages", stages, "--host-overrides", str(state.dir / lifecycle.OVERRIDES_FILE),
                           "--extra-vars", json.dumps({"acceptance_fail_on_failure": False}),
                           "--artifacts-dir", str(artifacts)],
                          capture_output=True, text=True, env={**os.environ, **secrets}, timeout=3000)
    return json.loads(done.stdout), done.stderr


def lab_ssh(node: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aifactory.cli", "lab", "ssh", SITE, node, command],
                          capture_output=True, text=True, timeout=300)


def test_jobs_run_on_every_healthy_node_and_the_faulty_one_is_drained(slurm_lab):
    f, state, *_ = slurm_lab
    outcome, detail = scheduler_lab.scheduler_outcome(f, state, {FAULTY: ["gpu-missing"]})
    assert outcome == "passed", detail
    head = f.head_nodes[0].name
    sinfo = lab_ssh(head, "sinfo --noheader --Node --format='%N %t %E'").stdout.splitlines()
    states = {line.split()[0]: line.split(None, 2)[1:] for line in sinfo}
    assert states[FAULTY] == ["drain", "aifactory health: accelerator_count"]
    healthy = [n.name for n in f.nodes if n.name != FAULTY]
    assert all(states[n][0] == "idle" for n in healthy), states
    srun = lab_ssh(head, f"srun -N{len(healthy)} --ntasks-per-node=1 -w {','.join(healthy)} hostname")
    assert srun.returncode == 0 and sorted(srun.stdout.split()) == healthy, srun.stderr
    job = lab_ssh(head, "sbatch --parsable -N1 --wait --wrap='echo done'").stdout.strip()
    sacct = lab_ssh(head, f"sacct --noheader --parsable2 -X -j {job} --format=JobID,State,ExitCode").stdout
    assert job.isdigit() and sacct.split()[0].split("|")[:2] == [job, "COMPLETED"]
    assert lab_ssh(head, "sacctmgr --noheader --parsable2 list cluster format=cluster").stdout.split() == [SITE]
    topology = lab_ssh(head, "scontrol show topology").stdout
    assert "SwitchName=rack01" in topology and "SwitchName=spine" in topology


def test_the_drained_node_resumes_once_its_checks_pass_again(slurm_lab):
    f, state, *_ = slurm_lab
    node = next(n for n in f.nodes if n.name == FAULTY)
    repaired = base64.b64encode(json.dumps(lifecycle.node_hardware(f, node, [])).encode()).decode()
    health = lab_ssh(FAULTY, f"echo {repaired} | base64 -d > {hardware.PROFILE_PATH} && {scheduler.HEALTH_PROGRAM}")
    assert health.returncode == 0 and f"{FAULTY} resumed" in health.stdout, (health.stdout, health.stderr)
    shown = lab_ssh(f.head_nodes[0].name, f"sinfo --noheader --Node --nodes={FAULTY} --format='%t %E'").stdout.split()
    assert shown == ["idle", "none"]


def test_a_second_scheduler_run_changes_nothing_and_restarts_no_daemon(slurm_lab, tmp_path):
    f, state, secrets, _, _, site = slurm_lab
    head = f.head_nodes[0].name
    started = lab_ssh(head, f"systemctl show --property=ActiveEnterTimestamp {' '.join(DAEMONS)}").stdout
    again, stderr = bringup(site, state, tmp_path, secrets, "scheduler")
    assert again["totals"]["changed"] == 0, (again.get("changed_tasks"), stderr[-2000:])
    assert lab_ssh(head, f"systemctl show --property=ActiveEnterTimestamp {' '.join(DAEMONS)}").stdout == started


def test_no_munge_key_or_database_password_in_output_or_artifacts(slurm_lab):
    f, state, secrets, result, stderr, _ = slurm_lab
    scheduler = [secrets["AIFACTORY_MUNGE_KEY"], secrets["AIFACTORY_SLURMDBD_DB_PASSWORD"]]
    forms = [form for value in scheduler for form in (value, base64.b64encode(value.encode()).decode())]
    assert not [form for form in forms if form in stderr or form in json.dumps(result)]
    leaked = [str(path) for path in Path(result["artifacts"]).rglob("*") if path.is_file()
              and any(form.encode() in path.read_bytes() for form in forms)]
    assert not leaked
    head = f.head_nodes[0].name
    # They did reach the hosts: the key munged uses, the password slurmdbd logs in with (files of mode 0400/0600).
    assert lab_ssh(head, "stat -c '%a %U' /etc/munge/munge.key /etc/slurm/slurmdbd.conf").stdout.split() == \
        ["400", "munge", "600", "slurm"]
    assert lab_ssh(head, "munge -n | unmunge >/dev/null && echo ok").stdout.strip() == "ok"
