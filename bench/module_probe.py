"""What one Ansible module run costs on a lab node, piece by piece (a diagnostic of the bring-up part).

Every task that runs a module pays, on the node: an SSH exec, sudo (the playbooks become root),
Python's start, and the module itself, which first imports ansible.module_utils.basic from the zip
that AnsiballZ sent (Python cannot cache bytecode for code imported from a zip, so it is compiled
again every run). This takes one real payload (ansible.builtin.command running `true`, kept on the
node with ANSIBLE_KEEP_REMOTE_FILES) and times each piece on the node itself, `runs` times each.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.measure import REPO

ANSIBLE = Path(sys.executable).with_name("ansible")
# Timed on the node with its own clock: mean microseconds per run of each command.
NODE_TIMER = r"""
t() { s=$(date +%s%N); i=0; while [ $i -lt {runs} ]; do "$@" >/dev/null 2>&1; i=$((i+1)); done
      e=$(date +%s%N); echo $(( (e - s) / {runs} / 1000 )); }
echo "exec $(t /bin/true)"
echo "sudo $(t sudo -n /bin/true)"
echo "python $(t python3 -c pass)"
echo "module $(t python3 {payload})"
echo "module_sudo $(t sudo -n python3 {payload})"
"""


def _ssh(host: dict, control: Path) -> list[str]:
    return ["ssh", *host["ansible_ssh_common_args"].split(), "-i", host["ansible_ssh_private_key_file"],
            "-o", "ControlMaster=auto", "-o", f"ControlPath={control}", "-o", "ControlPersist=60",
            f"{host['ansible_user']}@{host['ansible_host']}"]


def _kept_payload(name: str, host: dict, work: Path) -> str:
    """Run ansible.builtin.command once without pipelining, keeping its AnsiballZ file on the node."""
    inventory = work / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {name: host}}}))
    env = {**os.environ, "ANSIBLE_KEEP_REMOTE_FILES": "1", "ANSIBLE_PIPELINING": "False",
           "ANSIBLE_REMOTE_TMP": "/root/.ansible/probe-tmp", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    subprocess.run([str(ANSIBLE), "-i", str(inventory), name, "-m", "ansible.builtin.command", "-a", "/bin/true"],
                   env=env, cwd=REPO, check=True, capture_output=True, timeout=120)
    return "$(ls -t /root/.ansible/probe-tmp/*/AnsiballZ_command.py | head -1)"


def measure(overrides: Path, runs: int = 10) -> dict:
    """Per-piece cost of one module run on the first node in `overrides`, in milliseconds."""
    hosts = json.loads(overrides.read_text())
    name, host = next((n, h) for n, h in hosts.items() if "ansible_ssh_private_key_file" in h)
    with tempfile.TemporaryDirectory(prefix="aifactory-probe-") as tmp:
        work = Path(tmp)
        ssh = _ssh(host, work / "cm")
        payload = _kept_payload(name, host, work)
        subprocess.run([*ssh, "true"], check=True, timeout=30)  # opens the master connection
        start = time.perf_counter()
        for _ in range(runs):
            subprocess.run([*ssh, "true"], check=True, timeout=30)
        ssh_ms = 1000 * (time.perf_counter() - start) / runs
        script = NODE_TIMER.replace("{runs}", str(runs)).replace("{payload}", payload)
        timed = subprocess.run([*ssh, "sh", "-c", script], check=True, capture_output=True, text=True, timeout=600).stdout
        micros = dict(line.split() for line in timed.splitlines() if line.strip())
        importtime = subprocess.run([*ssh, f"python3 -X importtime {payload}"], capture_output=True, text=True,
                                    timeout=60).stderr
        subprocess.run([*ssh, "-O", "exit"], capture_output=True, timeout=30)
    basic = re.search(r"\|\s*(\d+)\s*\|\s*ansible\.module_utils\.basic\s*$", importtime, re.M)
    exec_ms = int(micros["exec"]) / 1000
    return {
        "runs": runs,
        "ssh_exec_ms": round(ssh_ms, 1),  # a command over the open connection, timed on the controller
        "sudo_ms": round(int(micros["sudo"]) / 1000 - exec_ms, 1),
        "python_start_ms": round(int(micros["python"]) / 1000 - exec_ms, 1),
        "module_ms": round(int(micros["module"]) / 1000 - exec_ms, 1),  # ansible.builtin.command running /bin/true
        "module_with_sudo_ms": round(int(micros["module_sudo"]) / 1000 - exec_ms, 1),
        "module_utils_basic_import_ms": round(int(basic.group(1)) / 1000, 1) if basic else None,
    }
