"""A node powered off in the middle of a bringup fails alone: the other nodes finish every stage,
and a re-run limited to that node, once it is back, converges it.

The node is killed deterministically from ansible-runner's event handler (bringup's progress
stream) when the storage stage's play starts, i.e. after the OS stage ran on it."""

from __future__ import annotations

import io
import json

import pytest

from aifactory.node.bringup import BringupOptions, run_bringup
from aifactory.lab import lifecycle
from aifactory.lab.rehearsal import LAB_BMC_CREDENTIALS
from tests.scenarios.conftest import node_ssh

# A long lab scenario (AIFACTORY_LAB_LONG=1, tests/scenarios/conftest.py): a lab-b200 lab and two bring-ups of its own,
# 20 minutes on two shared cores.
pytestmark = [pytest.mark.lab, pytest.mark.lab_long]

LAB_SCRATCH_DISKS = 1
KILL_AT_PLAY = "Set up scratch and shared storage"


class KillNodeAtPlay(io.StringIO):
    """A progress stream for run_bringup that powers `node` off when the play `play` starts."""

    def __init__(self, site: str, node: str, play: str):
        super().__init__()
        self.site, self.node, self.play = site, node, play
        self.killed = False

    def write(self, text: str) -> int:
        if not self.killed and text.startswith("PLAY ") and self.play in text:
            lifecycle.stop_node(self.site, self.node)
            self.killed = True
        return super().write(text)


def test_node_killed_mid_run_fails_alone_and_a_limited_rerun_converges_it(lab, lab_stack_outputs, tmp_path, monkeypatch):
    f, state = lab
    victim = f.nodes[1]
    others = [n.name for n in f.nodes if n.name != victim.name]
    for name, value in LAB_BMC_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    results = tmp_path / "acceptance"

    def options(limit: str | None = None) -> BringupOptions:
        return BringupOptions(limit=limit, host_overrides=state.dir / lifecycle.OVERRIDES_FILE, stack_outputs=lab_stack_outputs,
                              extra_vars={"acceptance_results_dir": str(results)}, artifacts_root=tmp_path / "runs")

    progress = KillNodeAtPlay(f.name, victim.name, KILL_AT_PLAY)
    first = run_bringup(f, options(), progress_stream=progress)
    assert progress.killed, progress.getvalue()[-2000:]
    assert first.exit_code == 1
    assert first.hosts[victim.name]["unreachable"] + first.hosts[victim.name]["failed"] > 0
    assert first.hosts[victim.name]["ok"] > 0  # it had taken part until it was killed
    for host in others + [f"{n}-bmc" for n in others]:
        assert (first.hosts[host]["failed"], first.hosts[host]["unreachable"]) == (0, 0), host
    for host in others:  # they went on through storage, AWS link and acceptance
        assert json.loads((results / f"{host}.json").read_text())["result"] == "pass"  # every check, on stand-ins
    assert not (results / f"{victim.name}.json").exists()

    lifecycle.start_node(f.name, victim.name)
    rerun = run_bringup(f, options(limit=victim.name))
    assert rerun.exit_code == 0, rerun.hosts  # nothing failed, and acceptance passed
    assert victim.name in rerun.hosts and not set(others) & set(rerun.hosts)
    assert rerun.hosts[victim.name]["changed"] > 0  # the stages it missed were applied now
    checks = json.loads((results / f"{victim.name}.json").read_text())
    assert checks["result"] == "pass" and checks["counts"]["fail"] == 0
    scratch = node_ssh(state, victim.address, "findmnt -n -o SOURCE /scratch")
    assert scratch.stdout.strip() == state.nodes[victim.name]["disks"][0]
