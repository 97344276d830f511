"""`aifactory bringup --check` on fresh lab nodes (issue 13, item 5): every stage reports what it would
change and the run exits 0, because nothing is wrong. A service of a package not yet installed is
"would enable", and acceptance, which judges the nodes as they are before the run, fails no host."""

from __future__ import annotations

import json

import pytest

from aifactory.cli import main
from aifactory.lab import lifecycle
from aifactory.lab.rehearsal import LAB_BMC_CREDENTIALS
from tests.scenarios.conftest import node_ssh

pytestmark = pytest.mark.lab

LAB_SCRATCH_DISKS = lifecycle.SCRATCH_DISKS
LAB_COPY = ("lab-check", 83)  # a lab of its own (tests/conftest.py's LAB_SITES), up beside lab-b200's


def test_check_mode_on_fresh_nodes_exits_0_and_changes_nothing(lab, lab_stack_outputs, tmp_path, monkeypatch, capsys):
    f, state = lab
    for name, value in LAB_BMC_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    rc = main(["bringup", str(f.site_dir), "--check", "--format", "json",
               "--host-overrides", str(state.dir / lifecycle.OVERRIDES_FILE), "--stack-outputs", str(lab_stack_outputs),
               "--artifacts-dir", str(tmp_path / "runs"),
               "-e", json.dumps({"acceptance_results_dir": str(tmp_path / "acceptance")})])
    summary = json.loads(capsys.readouterr().out)
    assert rc == 0, {h: s for h, s in summary["hosts"].items() if s["failed"] or s["unreachable"]}
    assert summary["check"] and summary["totals"]["failed"] == 0
    node = f.nodes[0].name
    assert "Install chrony" in summary["changed_tasks"][node]  # it would install it ...
    after = node_ssh(state, f.nodes[0].address, "test -x /usr/sbin/chronyd && echo chronyd; findmnt -n /scratch; echo end")
    assert after.stdout.split() == ["end"], after.stdout  # ... and changed nothing: no chrony, no scratch mounted
