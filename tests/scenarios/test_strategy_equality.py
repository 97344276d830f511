"""Mitogen changes nothing but speed: the same lab brought up by the os, storage and acceptance stages
with Ansible's linear strategy and with Mitogen's gives every host the same tasks with the same status
and changed flag (aifactory.node.task_results), and the same acceptance verdicts.

The lab is lab-b200's spec with two nodes under its own name and network (bench.specs.lab_site, as the
bench's), so it does not meet a lab-b200 lab another run keeps up. First converge: node n01 with
linear, node n02 with Mitogen (two fresh nodes of one lab, compared task by task as n01 against n02).
Re-run: both nodes with each strategy, compared host by host; nothing changes. Acceptance writes each
host's results and a summary per rack on the controller, so a first re-run of both nodes into one
results folder settles it (it writes the other node's files) before the two compared re-runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aifactory.cli import main
from aifactory.lab import lifecycle
from aifactory.lab.state import LabState
from aifactory.node.task_results import differences, read_job_events, verdict_differences
from bench.specs import lab_site

pytestmark = pytest.mark.lab
NODES = 2
SCRATCH_DISKS = 1  # the storage stage formats one device
STAGES = "os,storage,acceptance"
# As in the rehearsal: a failed acceptance check is judged from the verdicts, not by failing the host.
EXTRA_VARS = {"acceptance_fail_on_failure": False}
THIRD_PARTY_STRATEGY = "Use of strategy plugins not included in ansible.builtin are deprecated"
NAMES = ("linear", "mitogen")


@pytest.fixture(scope="module")
def lab(lab_dir, tmp_path_factory):
    """The two-node lab, up for the module and removed after it; yields (Factory, LabState)."""
    f = lab_site(NODES, tmp_path_factory.mktemp("site"))
    lifecycle.up(f, progress=lambda line: None, scratch_disks=SCRATCH_DISKS)
    try:
        yield f, LabState.load(f.name)
    finally:
        lifecycle.down(f.name, progress=lambda line: None)


def bringup(f, state, tmp_path: Path, capsys, strategy: str, limit: str, results: str) -> tuple[dict, list[dict]]:
    """One bringup of STAGES on `limit` with `strategy`, acceptance results in the folder `results`:
    (its JSON summary, its job events)."""
    extra_vars = {**EXTRA_VARS, "acceptance_results_dir": str(tmp_path / "acceptance" / results)}
    rc = main(["bringup", str(f.site_dir), "--stages", STAGES, "--limit", limit, "--strategy", strategy,
               "--host-overrides", str(state.dir / lifecycle.OVERRIDES_FILE), "-e", json.dumps(extra_vars),
               "--artifacts-dir", str(tmp_path / strategy), "--format", "json"])
    result = json.loads(capsys.readouterr().out)
    assert rc in (0, 3), (strategy, result["totals"])  # 3: acceptance incomplete on the stand-ins
    stdout = (Path(result["artifacts"]) / "artifacts" / "run" / "stdout").read_text()
    assert (THIRD_PARTY_STRATEGY in stdout) == (strategy == "mitogen")  # Mitogen's plugin ran, and only then
    return result, read_job_events(Path(result["artifacts"]))


def test_linear_and_mitogen_give_the_same_task_results_and_verdicts(lab, tmp_path, capsys, monkeypatch):
    f, state = lab
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))  # fresh nodes, no cached facts
    n01, n02 = (n.name for n in f.nodes[:2])
    linear, linear_events = bringup(f, state, tmp_path, capsys, "linear", n01, results="n01")
    mitogen, mitogen_events = bringup(f, state, tmp_path, capsys, "mitogen", n02, results="n02")
    assert linear["totals"]["changed"] > 0 and linear["totals"] == mitogen["totals"]
    assert differences(linear_events, mitogen_events, hosts={n01: n02}, names=NAMES) == []
    assert linear["acceptance"][n01] and verdict_differences(
        {n02: linear["acceptance"][n01]}, mitogen["acceptance"], names=NAMES) == []

    both = f"{n01},{n02}"
    bringup(f, state, tmp_path, capsys, "linear", both, results="both")  # writes both nodes' results there
    again = {strategy: bringup(f, state, tmp_path, capsys, strategy, both, results="both") for strategy in NAMES}
    (linear, linear_events), (mitogen, mitogen_events) = again["linear"], again["mitogen"]
    assert linear["totals"]["changed"] == mitogen["totals"]["changed"] == 0
    assert differences(linear_events, mitogen_events, names=NAMES) == []
    assert set(linear["acceptance"]) == {n01, n02}
    assert verdict_differences(linear["acceptance"], mitogen["acceptance"], names=NAMES) == []
