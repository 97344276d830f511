"""Secrets never rest on disk (issue 13, item 3): `aifactory bringup` killed mid-run by SIGKILL, SIGINT or
SIGTERM, with fake secrets in its environment, leaves no secret value, raw or encoded, in its run
directory or anywhere under its artifacts or state directories once the next command has run.

The probe playbook runs on one of the lab site's BMC hosts (a local connection: nothing leaves this
machine), says it started through a file and blocks until the test writes the release file.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.hostile.conftest import AIFACTORY, REPO

SECRETS = {"AIFACTORY_BMC_PASSWORD": 'bmc-pw-"q"\\9f3e', "AIFACTORY_SSM_ACTIVATION_CODE": "ssm-act-7Qx9+Zk2/Lm4",
           "AIFACTORY_MUNGE_KEY": "munge-Zm9vYmFyYmF6cXV4cXV1eA+/k3y0123456789", "AIFACTORY_SLURMDBD_DB_PASSWORD": "dbd-pw-T0p$ecret!"}
HOST = "lab-b200-r001-n01-bmc"
PROBE = """
- name: Hold the run until the test lets it go
  hosts: all
  gather_facts: false
  tasks:
    - name: The secrets reached the play
      ansible.builtin.assert:
        that:
          - bmc_password | length > 0
          - munge_key | length > 0
          - slurmdbd_database_password | length > 0
          - lookup('ansible.builtin.env', 'AIFACTORY_SSM_ACTIVATION_CODE') | length > 0
      no_log: true
    # One task says the run is under way and waits: once `started` exists the run is inside it (with a task of its
    # own, a signal could come before the wait began).
    - name: Wait for the test's go
      ansible.builtin.shell: |
        echo started > {{ handshake_dir }}/started
        for _ in $(seq 3000); do [ -e {{ handshake_dir }}/release ] && exit 0; sleep 0.1; done
        exit 1
      changed_when: false
      check_mode: false
"""


def forms(secret: str) -> list[bytes]:
    """The raw value and the encodings a file could hold it in."""
    raw = secret.encode()
    return [raw, json.dumps(secret)[1:-1].encode(), base64.b64encode(raw), base64.urlsafe_b64encode(raw),
            raw.hex().encode()]


def leaks(*roots: Path) -> list[str]:
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                found += [f"{path}: {form!r}" for s in SECRETS.values() for form in forms(s) if form in data]
    return found


def wait_for_file(path: Path, proc: subprocess.Popen, limit: float = 180) -> None:
    """The handshake: poll for the probe's file while the run lives (the deadline only guards a hang)."""
    deadline = time.monotonic() + limit
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the probe never started"
        time.sleep(0.05)


@pytest.mark.parametrize("signum,exit_code", [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGINT, 130),
                                              (signal.SIGTERM, 143)], ids=["SIGKILL", "SIGINT", "SIGTERM"])
def test_no_secret_on_disk_after_the_run_is_killed(tmp_path, signum, exit_code):
    handshake, artifacts, state = tmp_path / "handshake", tmp_path / "artifacts", tmp_path / "state"
    handshake.mkdir()
    probe = tmp_path / "probe.yml"
    probe.write_text(PROBE)
    env = {**os.environ, **SECRETS, "AIFACTORY_STATE_DIR": str(state)}
    env.pop("PYTEST_CURRENT_TEST", None)
    proc = subprocess.Popen([str(AIFACTORY), "bringup", "inventories/lab-b200", "--playbook", str(probe), "--limit",
                             HOST, "--yes", "--artifacts-dir", str(artifacts), "-e",
                             json.dumps({"handshake_dir": str(handshake)})],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_file(handshake / "started", proc)
        [run_dir] = list((artifacts / "lab-b200").iterdir())
        assert not leaks(artifacts, state), "a secret is on disk while the run is under way"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:
        (handshake / "release").write_text("go")  # whatever happened, nothing is left waiting
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == exit_code, err
    if signum != signal.SIGKILL:
        assert f"interrupted by {signal.Signals(signum).name}" in err and "Wait for the test's go" in err, err
        assert "Traceback" not in err
    # The next command, of any kind, scrubs what a killed run left and says so.
    after = subprocess.run([str(AIFACTORY), "validate", "inventories/lab-b200"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=120)
    assert after.returncode == 0, after.stderr
    assert (f"note: scrubbed {run_dir}" in after.stderr) == (signum == signal.SIGKILL), after.stderr
    assert leaks(artifacts, state) == []
    assert not (run_dir / "secrets.fifo").exists()
    assert not list((state / "bringup-runs").glob("*.json"))
    command = json.loads((run_dir / "artifacts" / "run" / "command").read_text())
    assert not set(SECRETS) & set(command["env"])
