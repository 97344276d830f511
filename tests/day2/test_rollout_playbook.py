"""playbooks/rollout.yml, rollout_resume.yml and replace.yml as Ansible reads them with a site's inventory: with the
stage as --tags, a batch is drained, gets that stage only, is restarted where needed and accepted."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def list_tasks(book: str, *args: str) -> list[str]:
    done = subprocess.run([PLAYBOOK, "-i", "inventories/lab-gb200/aifactory.yml", f"playbooks/{book}", "--list-tasks",
                           "--limit", "lab-gb200-r001-n01,lab-gb200-r001-n01-bmc", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "ANSIBLE_NOCOLOR": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    return [line.strip().split("\t")[0] for line in done.stdout.splitlines() if "TAGS:" in line and "play #" not in line]


def test_a_drivers_batch_drains_then_installs_then_restarts_then_accepts():
    tasks = list_tasks("rollout.yml", "--tags", "drivers")
    wanted = ["Drain the batch's nodes", "Requeue the batch's running jobs (--force)", "Wait until no job runs on the batch",
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
    wanted = ["Drain the node", "Read the system inventory", "Read the firmware inventory",
              "Hand the hardware read to aifactory replace", "Boot once from the network and power-cycle",
              "Wait until the node listens on SSH, with a new host key that aifactory replace learns next"]
    assert [t for t in tasks if t in wanted] == wanted
