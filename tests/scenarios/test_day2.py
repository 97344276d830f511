"""Slurm and day 2 on a lab GB200 factory (issues 15 and 16), as a user runs them, with jobs on the stand-ins.

The site is lab-gb200 renamed `lab-day2` on ranges of its own (so it never meets another lab), kept in a
git repository as a user's would be: committed with one rack, then grown to two in the working tree.
The lab boots the grown spec (two trays of each rack); the first bring-up uses the one-rack spec, so
rack 2's trays are the new rack. Rack 1's second tray starts with a GPU missing. The tests run in order
on the one lab (each lab up and first bring-up costs minutes, so Slurm's own checks share it):

1. Slurm after the first bring-up: jobs run on the healthy node through `aifactory lab ssh`, the faulty one
   is drained with the failing check as reason and resumed once its checks pass again; a second scheduler
   run changes nothing and restarts no daemon; the munge key and database password are in no output or
   artifact;
2. growing by one rack: `diff` lists exactly rack 2's hosts and no moved address, and
   `bringup --limit` the new rack adds its nodes and topology block to Slurm while a job runs on rack 1;
   acceptance on rack 1 meanwhile runs no DCGM diagnostic on the job's node and says so;
3. a driver rollout (the stand-in CUDA repository's two versions of the branch): the canary and rack 1
   first, then rack 2 while a job runs on rack 1: the job is never killed, every node ends on the new
   version, acceptance passes;
4. the performance tiers (issue 33) through Slurm on the four accepted trays name the one tray given low
   NVLink bandwidth (at its tray tier) or low InfiniBand bandwidth (isolated in the cross-rack tier);
5. a canary with an injected fault stops the rollout before any other node is touched, drained with
   the rollout's reason;
6. replacing a node whose stand-in disk was wiped and whose SSH host key is new returns it to service.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from aifactory import scheduler
from aifactory.core.userstate import acceptance_dir
from aifactory.lab import hardware, lifecycle, nodes, performance, procs
from aifactory.lab.rehearsal import LAB_BMC_CREDENTIALS, read_acceptance
from aifactory.lab.state import LabState
from aifactory.node.acceptance_gate import GATE_PASSES, host_outcome
from aifactory.node.inventory import build_inventory
from aifactory.node.parsers.acceptance import RUNNING_JOBS
from aifactory.lab import scheduler as scheduler_lab
from aifactory.spec import load_spec
from bench.specs import lab_network
from tests.conftest import site_dir

# 30 to 45 minutes on two cores: make test runs it first, on a worker of its own (tests/conftest.py).
pytestmark = [pytest.mark.lab]

SITE = "lab-day2"
OLD, NEW = hardware.manifest()["nvidia_cuda"]["driver_versions"]["value"][:2]
STAGES = "racks,os,drivers,fabric,storage,acceptance,scheduler"
CANARY, RACK1_OTHER = f"{SITE}-r001-n01", f"{SITE}-r001-n02"
RACK2 = [f"{SITE}-r002-n01", f"{SITE}-r002-n02"]
REPLACED = RACK2[1]
FAULTY = RACK1_OTHER  # its GPU missing from lab up until the Slurm tests repair it
ENV = LAB_BMC_CREDENTIALS
SCHEDULER_DAEMONS = ("munge", "slurmctld", "slurmdbd", "mariadb")
# Every run here uses Mitogen's strategy, which gives the same task results as Ansible's linear strategy
# (test_strategy_equality.py) in about half the time; lab-b200's rehearsal runs the default (linear) whole.
STRATEGY = ("--strategy", "mitogen")
# As in the rehearsal: the faulty node's failed acceptance is read from its verdict, not by failing the host.
EXTRA_VARS = json.dumps({"acceptance_fail_on_failure": False})


def write_spec(site: Path, racks: int, driver_version: str) -> None:
    """lab-gb200 as `lab-day2` on 10.81.0.0/16 with `racks` racks and the driver pinned at `driver_version`."""
    data = yaml.safe_load((site_dir("lab-gb200") / "factory.yaml").read_text())
    data["name"] = SITE
    data["network"].update(domain=f"{SITE}.factory.internal", **lab_network(81))
    data["hybrid_link"]["vpc_cidr"] = "10.181.0.0/24"
    data["compute"]["racks"] = racks
    data["facility"]["power_budget_kw"] = 150 * racks
    data["software"]["nvidia"]["driver_version"] = driver_version
    # Without lab-gb200's monitoring: its stage would add Prometheus to each of day 2's bring-ups; the rehearsals
    # prove monitoring in the lab, tests/day2 the silences rollout and replace set.
    data.pop("monitoring")
    (site / "factory.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                   check=True, capture_output=True)


def cli(*args, timeout: int = 3600) -> subprocess.CompletedProcess:
    """The command in the test run's environment as it is now (its state and lab directories) with the lab's secrets."""
    return subprocess.run([sys.executable, "-m", "aifactory.cli", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **ENV}, timeout=timeout)


def lab_ssh(node: str, command: str) -> subprocess.CompletedProcess:
    return cli("lab", "ssh", SITE, node, command, timeout=300)


@dataclass
class Day2:
    site: Path  # grown to two racks
    one_rack: Path  # the committed spec
    state: LabState
    overrides: Path  # the lab's, both racks
    rack1_overrides: Path  # rack 1's hosts only, for the one-rack spec
    work: Path
    first: dict  # the first bring-up's JSON result
    first_stderr: str


@pytest.fixture(scope="module")
def day2(lab_dir, tmp_path_factory) -> Day2:
    """The one-rack factory's first bring-up (every stage but the AWS link) on the lab of the grown one."""
    work = tmp_path_factory.mktemp("day2")
    site = work / "repo" / "inventories" / SITE
    shutil.copytree(site_dir("lab-gb200"), site)
    write_spec(site, racks=1, driver_version=OLD)
    git(work / "repo", "init", "-q")
    git(work / "repo", "add", ".")
    git(work / "repo", "commit", "-q", "-m", "one rack")
    one_rack = work / "one-rack" / SITE
    shutil.copytree(site, one_rack)
    write_spec(site, racks=2, driver_version=OLD)
    f = load_spec(site)
    lifecycle.up(f, progress=lambda line: None, scratch_disks=1, trays_per_rack=2, faults={FAULTY: ["gpu-missing"]})
    try:
        state = LabState.load(f.name)
        overrides = state.dir / lifecycle.OVERRIDES_FILE
        rack1_overrides = work / "rack1-overrides.json"
        rack1 = load_spec(one_rack)
        known = {h.name for h in rack1.head_nodes} | {n.name for n in rack1.nodes}
        known |= {f"{n.name}-bmc" for n in rack1.nodes} | {f"{t.name}-bmc" for t in rack1.switch_trays}
        rack1_overrides.write_text(json.dumps({h: v for h, v in json.loads(overrides.read_text()).items() if h in known}))
        first = bringup(one_rack, rack1_overrides, work / "artifacts", "--format", "json")
        result = json.loads(first.stdout)
        assert result["exit_code"] in (0, 3) and not any(h.get("failed") for h in result["hosts"].values()), \
            first.stderr[-3000:]
        yield Day2(site, one_rack, state, overrides, rack1_overrides, work, result, first.stderr)
    finally:
        lifecycle.down(f.name, progress=lambda line: None)


def bringup(site: Path, overrides: Path, artifacts: Path, *more: str, stages: str = STAGES) -> subprocess.CompletedProcess:
    return cli("bringup", site, "--stages", stages, "--host-overrides", overrides, "--artifacts-dir", artifacts,
               "--extra-vars", EXTRA_VARS, *STRATEGY, *more)


def start_job(nodes_: list[str]) -> str:
    """A long job on these nodes, running once this returns; its id."""
    job = lab_ssh(f"{SITE}-head01", f"sbatch --parsable -N{len(nodes_)} -w {','.join(nodes_)} --wrap='sleep 3000'")
    job_id = job.stdout.strip()
    assert job_id.isdigit(), job.stderr
    assert procs.wait_until(lambda: job_state(job_id)[0] == "RUNNING", 120, every_s=1), (job_state(job_id), node_states())
    return job_id


def job_state(job_id: str) -> tuple[str, str]:
    """(JobState, Restarts) of a job, as scontrol shows it."""
    shown = lab_ssh(f"{SITE}-head01", f"scontrol show job {job_id}").stdout
    fields = dict(part.split("=", 1) for part in shown.split() if "=" in part)
    return fields.get("JobState", "?"), fields.get("Restarts", "?")


def node_states() -> dict[str, list[str]]:
    """{node: [state, reason]} from sinfo."""
    lines = lab_ssh(f"{SITE}-head01", "sinfo --noheader --Node --format='%N %t %E'").stdout.splitlines()
    return {line.split()[0]: line.split(None, 2)[1:] for line in lines}


def driver_version(node: str) -> str:
    return lab_ssh(node, "nvidia-smi --query-gpu=driver_version --format=csv,noheader").stdout.split()[0]


def test_jobs_run_on_the_healthy_node_and_the_faulty_one_is_drained(day2):
    f = load_spec(day2.one_rack)
    outcome, detail = scheduler_lab.scheduler_outcome(f, day2.state, {FAULTY: ["gpu-missing"]})
    assert outcome == "passed", detail
    states = node_states()
    assert states[FAULTY] == ["drain", "aifactory health: accelerator_count"]
    assert states[CANARY][0] == "idle" and not set(states) & set(RACK2), states  # rack 2 is not in Slurm yet
    job = lab_ssh(f"{SITE}-head01", f"sbatch --parsable -N1 -w {CANARY} --wait --wrap='echo done'").stdout.strip()
    sacct = lab_ssh(f"{SITE}-head01", f"sacct --noheader --parsable2 -X -j {job} --format=JobID,State,ExitCode").stdout
    assert job.isdigit() and sacct.split()[0].split("|")[:2] == [job, "COMPLETED"]
    assert lab_ssh(f"{SITE}-head01", "sacctmgr --noheader --parsable2 list cluster format=cluster").stdout.split() == [SITE]
    assert "BlockName=rack01" in lab_ssh(f"{SITE}-head01", "scontrol show topology").stdout


def test_the_drained_node_resumes_once_its_checks_pass_again(day2):
    f = load_spec(day2.one_rack)
    node = next(n for n in f.nodes if n.name == FAULTY)
    repaired = base64.b64encode(json.dumps(lifecycle.node_hardware(f, node, [])).encode()).decode()
    health = lab_ssh(FAULTY, f"echo {repaired} | base64 -d > {hardware.PROFILE_PATH} && {scheduler.HEALTH_PROGRAM}")
    assert health.returncode == 0 and f"{FAULTY} resumed" in health.stdout, (health.stdout, health.stderr)
    # slurmctld flags the node `*` (not responding) until the node's next answer after the resume: wait for that
    # answer, not for a time.
    procs.wait_until(lambda: not node_states()[FAULTY][0].endswith("*"), 60, every_s=2)
    assert node_states()[FAULTY] == ["idle", "none"]


def test_a_second_scheduler_run_changes_nothing_and_restarts_no_daemon(day2):
    started = lab_ssh(f"{SITE}-head01", f"systemctl show --property=ActiveEnterTimestamp {' '.join(SCHEDULER_DAEMONS)}")
    again = bringup(day2.one_rack, day2.rack1_overrides, day2.work / "artifacts", "--format", "json", stages="scheduler")
    result = json.loads(again.stdout)
    assert result["totals"]["changed"] == 0, (result.get("changed_tasks"), again.stderr[-2000:])
    assert lab_ssh(f"{SITE}-head01", f"systemctl show --property=ActiveEnterTimestamp "
                   f"{' '.join(SCHEDULER_DAEMONS)}").stdout == started.stdout


def test_no_munge_key_or_database_password_in_output_or_artifacts(day2):
    secrets = [ENV["AIFACTORY_MUNGE_KEY"], ENV["AIFACTORY_SLURMDBD_DB_PASSWORD"]]
    forms = [form for value in secrets for form in (value, base64.b64encode(value.encode()).decode())]
    assert not [form for form in forms if form in day2.first_stderr or form in json.dumps(day2.first)]
    leaked = [str(path) for path in Path(day2.first["artifacts"]).rglob("*") if path.is_file()
              and any(form.encode() in path.read_bytes() for form in forms)]
    assert not leaked
    # They did reach the head node: the key munge uses, the password slurmdbd logs in with (modes 0400/0600).
    head = f"{SITE}-head01"
    assert lab_ssh(head, "stat -c '%a %U' /etc/munge/munge.key /etc/slurm/slurmdbd.conf").stdout.split() == \
        ["400", "munge", "600", "slurm"]
    assert lab_ssh(head, "munge -n | unmunge >/dev/null && echo ok").stdout.strip() == "ok"


def test_growing_by_one_rack_moves_nothing_and_the_rack_joins_slurm_while_a_job_runs(day2):
    site, overrides, work = day2.site, day2.overrides, day2.work
    diff = cli("diff", site, "--against", "HEAD", "--format", "json", timeout=900)
    assert diff.returncode == 0, diff.stderr[-2000:]
    preview = json.loads(diff.stdout)
    f = load_spec(site)
    new = {h for h in build_inventory(f).to_ansible_list()["_meta"]["hostvars"] if h.startswith(f"{SITE}-r002-")}
    assert len(new) == 18 + 18 + 9  # the rack's nodes, their BMCs and its switch trays' BMCs
    assert {h["name"] for h in preview["hosts"]["added"]} == new
    assert preview["hosts"]["moved"] == [] and preview["hosts"]["removed"] == []
    assert preview["scheduler"]["topology"]["added"] == ["rack02"] and preview["scheduler"]["head_nodes"]["moved"] == []

    job = start_job([CANARY, RACK1_OTHER])
    grown = bringup(site, overrides, work / "artifacts", "--limit", f"~^{SITE}-r002-")
    assert grown.returncode in (0, 3), grown.stderr[-3000:]
    # Asked before the drivers stage was planned (issue 30): Slurm knows the job's two nodes as running jobs.
    assert f"Slurm on {SITE}-head01: 2 node(s) running jobs" in grown.stderr, grown.stderr[-3000:]
    topology = lab_ssh(f"{SITE}-head01", "scontrol show topology").stdout
    assert "BlockName=rack01" in topology and "BlockName=rack02" in topology
    # The new nodes' slurmd register once slurmctld knows them (a few seconds after the reconfigure).
    assert procs.wait_until(lambda: all(node_states().get(n, ["?"])[0] == "idle" for n in RACK2), 120, every_s=2), \
        node_states()
    assert job_state(job) == ("RUNNING", "0")
    # A drift check on rack 1 while the job runs: acceptance puts no DCGM diagnostic on the job's GPUs, says so,
    # and still reads the rest; the new rack's idle nodes had theirs.
    drift = bringup(site, overrides, work / "artifacts", "--limit", CANARY, "--format", "json", stages="acceptance")
    assert drift.returncode == 3, drift.stderr[-3000:]
    assert json.loads(drift.stdout)["situation"]["slurm"]["nodes"] == sorted([CANARY, RACK1_OTHER])
    verdicts = read_acceptance(acceptance_dir(f.name), [CANARY, *RACK2])
    checks = {h: {c["name"]: c for c in v["checks"]} for h, v in verdicts.items()}
    assert (checks[CANARY]["dcgm_diag"]["status"], checks[CANARY]["dcgm_diag"]["reason"]) == ("skipped", RUNNING_JOBS)
    assert checks[CANARY]["accelerator_count"]["status"] == "pass"
    assert all(checks[n]["dcgm_diag"]["status"] == "pass" for n in RACK2), {n: checks[n]["dcgm_diag"] for n in RACK2}
    assert "the DCGM diagnostic was not run on 1 host(s) running jobs" in drift.stderr
    assert job_state(job) == ("RUNNING", "0")
    lab_ssh(f"{SITE}-head01", f"scancel {job}")


def test_a_driver_rollout_keeps_a_job_on_rack_1_running_while_rack_2_is_upgraded(day2):
    site, overrides, work = day2.site, day2.overrides, day2.work
    write_spec(site, racks=2, driver_version=NEW)
    record = work / "rollout.json"
    common = ["--stage", "drivers", "--host-overrides", overrides, "--record", record, "--artifacts-dir", work / "artifacts",
              *STRATEGY]
    first = cli("rollout", site, *common, "--max-batches", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    assert [b["outcome"] for b in json.loads(record.read_text())["batches"]] == ["passed", "passed", "pending"]
    assert {driver_version(n) for n in (CANARY, RACK1_OTHER)} == {NEW}

    job = start_job([CANARY, RACK1_OTHER])
    rest = cli("rollout", site, *common, "--resume", "--format", "json")
    assert rest.returncode == 0, rest.stderr[-3000:]
    done = json.loads(rest.stdout)
    assert done["status"] == "done" and [b["nodes"] for b in done["batches"]][2] == RACK2
    assert all(o in GATE_PASSES for b in done["batches"] for o in b["nodes_outcome"].values())
    assert job_state(job) == ("RUNNING", "0")  # never killed nor requeued
    assert {driver_version(n) for n in (CANARY, RACK1_OTHER, *RACK2)} == {NEW}
    states = node_states()
    assert all(states[n][0] in ("idle", "alloc", "mix") for n in (CANARY, RACK1_OTHER, *RACK2)), states
    lab_ssh(f"{SITE}-head01", f"scancel {job}")


@pytest.mark.parametrize(("faulty", "kind", "tier"), [(RACK1_OTHER, "nvlink-bw-low", "tray"),
                                                    (RACK2[0], "ib-bw-low", "cross-rack")])
def test_performance_tiers_through_slurm_name_the_tray_whose_bandwidth_is_low(day2, tmp_path, faulty, kind, tier):
    """The rehearsal's performance stage (aifactory.lab.performance) on this lab's GB200 trays in two NVL72 racks,
    every tier through Slurm, after the rollout's acceptance passed on all four: with `kind` written into one tray's
    stand-in hardware profile, the stage fails and names that tray alone, at its own tray tier (nvlink-bw-low) or
    isolated within the cross-rack tier (ib-bw-low), whose links stay up at full rate."""
    f = load_spec(day2.site)
    booted = [n.name for n in f.nodes if n.name in day2.state.nodes]
    acceptance = read_acceptance(acceptance_dir(f.name), booted)
    assert all(host_outcome(acceptance[h]) in GATE_PASSES for h in booted), acceptance
    assert tier in hardware.FAULTS[kind].fails_tiers(f.platform)
    performance.install_tools(f, day2.state, booted)
    root = nodes.node_dir(day2.state, faulty) / "root"
    healthy = json.loads((root / hardware.PROFILE_PATH.lstrip("/")).read_text())
    hardware.write_profile(root, hardware.with_faults(healthy, [kind]))
    try:
        outcome, detail = performance.run_tiers(f, tmp_path, acceptance, performance.slurm_srun(f, day2.state, booted))
    finally:
        hardware.write_profile(root, healthy)
    assert outcome == "failed", detail
    named = detail.split("named: ", 1)[1]
    assert named.startswith(f"{faulty} ({tier} tier, "), detail
    assert [h for h in booted if h in named] == [faulty], detail


def test_a_faulty_canary_stops_the_rollout_before_any_other_node(day2):
    site, state, overrides, work = day2.site, day2.state, day2.overrides, day2.work
    root = nodes.node_dir(state, CANARY) / "root"
    healthy = json.loads((root / hardware.PROFILE_PATH.lstrip("/")).read_text())
    hardware.write_profile(root, hardware.with_faults(healthy, ["gpu-missing"]))
    try:
        write_spec(site, racks=2, driver_version=OLD)
        record = work / "rollout-faulty.json"
        stopped = cli("rollout", site, "--stage", "drivers", "--host-overrides", overrides, "--record", record,
                      "--artifacts-dir", work / "artifacts", "--format", "json", *STRATEGY)
        assert stopped.returncode == 1, stopped.stderr[-3000:]
        data = json.loads(stopped.stdout)
        assert [b["outcome"] for b in data["batches"]] == ["failed", "pending", "pending"]
        assert data["batches"][0]["nodes_outcome"] == {CANARY: "fail"}
        assert f"drained in Slurm with reason 'aifactory rollout drivers': {CANARY}" in stopped.stderr
        assert {driver_version(n) for n in (RACK1_OTHER, *RACK2)} == {NEW}  # nobody else touched
        # The node health check (every HealthCheckInterval) fails this node too, and leaves the rollout's reason.
        assert node_states()[CANARY] == ["drain", "aifactory rollout drivers"]
    finally:
        hardware.write_profile(root, healthy)


def test_replacing_a_node_with_wiped_disks_and_a_new_host_key_returns_it_to_service(day2):
    site, state, overrides, work = day2.site, day2.state, day2.overrides, day2.work
    old_key = lab_ssh(REPLACED, "cat /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]
    disks = json.loads(overrides.read_text())[REPLACED].get("scratch_storage_devices") or []
    # wipefs alone leaves the old filesystem's bytes, which the scratch role rightly refuses: a new disk reads zeros.
    swap = (f"umount /scratch; for d in {' '.join(disks)}; do blkdiscard --force $d; done; rm -f /etc/ssh/ssh_host_*; "
            "ssh-keygen -A; systemctl restart ssh")
    lab_ssh(REPLACED, swap)  # the new tray: empty disks, a new host key (the session may drop on restart)
    assert lab_ssh(REPLACED, "true").returncode != 0  # the old key is refused: strict checking

    replaced = cli("replace", site, REPLACED, "--stages", STAGES, "--host-overrides", overrides, "--record", work / "replace.json",
                   "--artifacts-dir", work / "artifacts", "--format", "json", *STRATEGY)
    assert replaced.returncode == 0, replaced.stdout[-2000:] + replaced.stderr[-3000:]
    entry = json.loads(replaced.stdout)
    assert entry["outcome"] == "in service" and entry["hardware"]["serial"]
    new_key = lab_ssh(REPLACED, "cat /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]
    assert new_key != old_key and new_key in nodes.known_hosts(state).read_text()
    assert old_key not in nodes.known_hosts(state).read_text()
    assert lab_ssh(REPLACED, "findmnt --noheadings --output TARGET /scratch").stdout.strip() == "/scratch"
    assert procs.wait_until(lambda: node_states().get(REPLACED, ["?"])[0] == "idle", 120, every_s=2), node_states()
