"""playbooks/rollout.yml, rollout_resume.yml and replace.yml as Ansible reads them with a site's inventory: a batch
is drained, gets its stage only (the stage playbook aifactory_rollout_stage names), is restarted where needed and
accepted; the drivers plays take a rollout batch whole, and split a plain run into the rollout's batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from aifactory.day2.rollout import batch_limit, batch_vars
from aifactory.node.batches import plan_batches
from aifactory.spec import load_spec
from tests.conftest import REPO, site_dir

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def list_tasks(book: str, *args: str) -> list[str]:
    done = subprocess.run([PLAYBOOK, "-i", "inventories/lab-gb200/aifactory.yml", f"playbooks/{book}", "--list-tasks",
                           "--limit", "lab-gb200-r001-n01,lab-gb200-r001-n01-bmc", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "ANSIBLE_NOCOLOR": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    return [line.strip().split("\t")[0] for line in done.stdout.splitlines() if "TAGS:" in line and "play #" not in line]


def test_a_drivers_batch_drains_then_installs_then_restarts_then_accepts():
    tasks = list_tasks("rollout.yml", "--tags", "drivers", "-e", "aifactory_rollout_stage=drivers")
    wanted = ["Drain the nodes", "Requeue the running jobs (--force)", "Wait until no job runs on the nodes",
              "nvidia_gpu : Install the pinned driver stack", "nvidia_gpu : Record that the upgrade needs a restart",
              "Refresh the node health check and its expected profile", "Restart the node",
              "Wait until the node answers again", "acceptance : Hand the verdict to the bring-up report"]
    assert [t for t in tasks if t in wanted] == wanted
    assert not [t for t in tasks if t.startswith(("os_baseline : ", "rdma_fabric : ", "bmc : "))
                and "Validating arguments" not in t]  # other stages' work is left out


def test_the_resume_play_parses():
    assert list_tasks("rollout_resume.yml") == ["Find the batch's nodes still drained", "Resume the batch's nodes"]


def test_replace_drains_reads_the_hardware_then_boots_from_the_network_and_waits():
    tasks = list_tasks("replace.yml")
    wanted = ["Drain the nodes", "bmc : Read the system inventory", "bmc : Read the firmware inventory",
              "Hand the hardware read to aifactory replace", "Boot once from the network and power-cycle",
              "Wait until the node listens on SSH, with a new host key that aifactory replace learns next"]
    assert [t for t in tasks if t in wanted] == wanted


def first_serial_batch(*args: str) -> list[str]:
    """The hosts of the drivers play's first serial batch: every host is unreachable (a closed port), so the
    play stops after that batch (max_fail_percentage 0)."""
    unreachable = {"ansible_host": "127.0.0.1", "ansible_port": 9, "ansible_ssh_common_args": "-o ConnectTimeout=5"}
    done = subprocess.run([PLAYBOOK, "-i", "inventories/lab-gb200/aifactory.yml", "playbooks/drivers.yml",
                           "-e", json.dumps(unreachable), *args], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"})
    plays = json.loads(done.stdout)["plays"]
    assert done.returncode != 0 and len(plays) == 1, done.stdout[-2000:] + done.stderr[-2000:]
    return sorted(plays[0]["tasks"][0]["hosts"])


def test_a_plain_run_starts_with_the_canary_and_a_rollout_batch_is_not_split_again():
    f = load_spec(site_dir("lab-gb200"))
    assert first_serial_batch("--limit", "rack01,rack02") == ["lab-gb200-r001-n01"]  # the plan's canary
    rack02 = plan_batches(f.nodes, rack_domain=True)[2]
    extra = batch_vars(f, "drivers", rack02, force=False, drain_timeout=60)
    assert first_serial_batch("--limit", batch_limit(rack02), "-e", json.dumps(extra)) == sorted(rack02.nodes)
