"""`lab down` powers every node off at once and stops the stand-ins only after the nodes: a node in its cgroup
(as every booted node is) is killed outright, its disks being discarded anyway; a node process outside one is told
to stop, all of them before any is waited for. (No lab is booted: each node is a process that, told to stop, logs
it, takes a moment and exits.)"""

from __future__ import annotations

import os
import sys

import pytest

from aifactory.lab import cgroups, lifecycle, nodes, procs
from aifactory.lab.state import LabState

SITE = "lab-order"
# A process that logs "ready" once it handles SIGTERM, then on SIGTERM logs "term NAME", takes a moment, logs
# "exit NAME" and exits: a node's systemd stopping its services.
FAKE = """
import signal, sys, time
name, log = sys.argv[1], sys.argv[2]
def note(line):
    with open(log, "a") as out:
        out.write(line + "\\n")
def on_term(*_):
    note("term " + name)
    time.sleep(0.5)
    note("exit " + name)
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
note("ready " + name)
while True:
    time.sleep(1)
"""


def test_every_node_is_told_to_stop_before_any_has_stopped_and_stand_ins_go_last(tmp_path, monkeypatch):
    monkeypatch.setenv("AIFACTORY_LAB_DIR", str(tmp_path / "labs"))
    monkeypatch.setenv("AIFACTORY_STATE_DIR", str(tmp_path / "state"))
    log = tmp_path / "events.log"
    state = LabState(site=SITE)
    names = ["moto", "n01", "n02", "n03"]  # a stand-in first, as lab up starts them, then the nodes
    for name in names:
        ident = procs.spawn([sys.executable, "-c", FAKE, name, str(log)], tmp_path / f"{name}.out")
        state.record("process", role=("AWS (moto_server)" if name == "moto" else f"{nodes.PROCESS_ROLE}{name}"), **ident)
    assert procs.wait_until(lambda: log.exists() and log.read_text().count("ready") == len(names), 30)
    assert lifecycle.down(SITE, lambda line: None)
    events = [line for line in log.read_text().splitlines() if not line.startswith("ready")]
    first_exit = next(i for i, e in enumerate(events) if e.startswith("exit"))
    assert sorted(events[:first_exit]) == ["term n01", "term n02", "term n03"], events
    assert events[-2:] == ["term moto", "exit moto"], events
    assert LabState.load(SITE) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="cgroups: root only")
def test_a_node_in_its_cgroup_is_killed_at_once_not_asked_to_stop(tmp_path, monkeypatch):
    """A lab's nodes are discarded at `lab down`: the node in its cgroup gets SIGKILL, never the SIGTERM its
    systemd would spend stopping services (a minute for a brought-up lab-gb200); the fake logs SIGTERM if sent."""
    monkeypatch.setenv("AIFACTORY_LAB_DIR", str(tmp_path / "labs"))
    monkeypatch.setenv("AIFACTORY_STATE_DIR", str(tmp_path / "state"))
    log = tmp_path / "events.log"
    state = LabState(site=SITE)
    rel = cgroups.relative_path(SITE, "n01")
    ident = procs.spawn([sys.executable, "-c", FAKE, "n01", str(log)], tmp_path / "n01.out")
    cgroups.enter(rel, ident["pid"])
    state.record("cgroup", path=rel)
    state.record("process", role=f"{nodes.PROCESS_ROLE}n01", **ident)
    assert procs.wait_until(lambda: log.exists() and "ready n01" in log.read_text(), 30)
    assert lifecycle.down(SITE, lambda line: None)
    assert log.read_text().split("\n")[:-1] == ["ready n01"] and not procs.alive(ident) and not cgroups.exists(rel)
