"""A bring-up asks Slurm which nodes run jobs before it plans the drivers stage's batches
(aifactory.node.slurm_situation): a node running jobs is in service without a record; a controller that
does not answer leaves the records alone to decide, saying why; check mode, --fresh and a playbook of one's
own ask nothing. The query runs the real playbook through the runner on a local head node, with a fake
sinfo on PATH."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
import yaml

from aifactory.cli import main
from aifactory.commands import bringup as bringup_command
from aifactory.lab.lifecycle import CONTAINER_CAPABILITIES
from aifactory.node.batch_plan import MAX_FAIL_VAR, drivers_plan, drivers_vars
from aifactory.node.batches import SERIAL_VAR
from aifactory.node.bringup import BringupOptions
from aifactory.node.slurm_situation import (SlurmAnswer, answer_from_events, ask_slurm, first_controller,
                                            nodes_running_jobs)
from aifactory.spec import load_spec
from tests.conftest import REPO, site_dir
from tests.node.test_bringup import fake_runner

LAB = site_dir("lab-gb200")
F = load_spec(LAB)
HEAD = "lab-gb200-head01"
ACCEPTANCE_DEFAULTS = REPO / "playbooks" / "roles" / "acceptance" / "defaults" / "main.yml"


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("AIFACTORY_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def event(kind: str, res: dict, task: str = "List the nodes running jobs", host: str = HEAD) -> dict:
    return {"event": kind, "event_data": {"task": task, "host": host, "res": res}}


def test_sinfo_lines_name_the_specs_nodes_running_jobs_once_each():
    n = [x.name for x in F.nodes]
    lines = [f"{n[0]}|mix", f"{n[0]}|mix", f"  {n[1]}|alloc* ", f"{n[2]}|comp", f"{n[3]}|drng", f"{n[4]}|idle",
             f"{n[5]}|drain", f"{n[6]}|down*", f"{n[7]}|MIX-", f"{HEAD}|alloc", "other-cluster-n01|alloc", n[8], "",
             f"{n[9]}|allocated|extra"]  # one line per partition: n[0] twice
    assert nodes_running_jobs(lines, F) == {n[0], n[1], n[2], n[3], n[7]}


def test_the_answer_is_read_from_the_query_task_and_says_why_when_there_is_none():
    a = F.nodes[3].name
    ok = answer_from_events([event("runner_on_start", {}), event("runner_on_ok", {"stdout_lines": [
        f"{a}|mix", f"{HEAD}|alloc"]})], F, HEAD)
    assert (ok.answered, ok.nodes, ok.detail) == (True, {a}, "1 node(s) running jobs")
    failed = answer_from_events([event("runner_on_failed", {
        "stderr": "slurm_load_partitions: Unable to contact slurm controller (connect failure)"})], F, HEAD)
    assert not failed.answered and failed.nodes == frozenset()
    assert failed.detail == "slurm_load_partitions: Unable to contact slurm controller (connect failure)"
    unreachable = answer_from_events([event("runner_on_unreachable", {"msg": "ssh: connect to host 10.0.0.1 port 22: "
                                                                             "Connection timed out"})], F, HEAD)
    assert not unreachable.answered and "Connection timed out" in unreachable.detail
    missing = answer_from_events([event("runner_on_failed", {"rc": 2, "stderr": "", "msg": "[Errno 2] No such file or "
                                                                                          "directory: b'sinfo'"})], F, HEAD)
    assert missing.detail == "[Errno 2] No such file or directory: b'sinfo'"  # Slurm not installed yet
    assert answer_from_events([event("runner_on_failed", {"rc": 9, "msg": "non-zero return code"})], F, HEAD).detail == \
        "sinfo exited 9"
    assert answer_from_events([event("runner_on_ok", {"stdout_lines": "not a list"})], F, HEAD).detail == \
        "sinfo's output could not be read"
    other = answer_from_events([event("runner_on_ok", {"stdout_lines": [f"{a}|mix"]}, host="lab-gb200-r001-n01")],
                               F, HEAD)
    assert (other.answered, other.detail) == (False, "the query ran no task on the controller")


def fake_sinfo(tmp_path: Path, monkeypatch, script: str) -> None:
    """A `sinfo` first on PATH for the local head node, and host overrides that make the head node local."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "sinfo").write_text(f"#!/bin/sh\n{script}\n")
    (bin_dir / "sinfo").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def local_head(tmp_path: Path) -> Path:
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({HEAD: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}))
    return overrides


def test_the_query_runs_the_playbook_on_the_first_controller_and_reads_sinfo(tmp_path, state, monkeypatch):
    a, b = F.nodes[1].name, F.nodes[19].name
    fake_sinfo(tmp_path, monkeypatch, f'[ "$*" = "--noheader --Node --format=%N|%t" ] || exit 9\n'
                                      f'printf "{a}|alloc\\n{b}|mix\\n{b}|mix\\n{F.nodes[2].name}|idle\\n{HEAD}|idle\\n"')
    options = BringupOptions(host_overrides=local_head(tmp_path), artifacts_root=tmp_path / "runs",
                             stages=["drivers"], extra_vars={"ignored": True})
    answer = ask_slurm(F, options)
    assert (answer.controller, answer.answered, answer.nodes) == (HEAD, True, {a, b}), answer
    fake_sinfo(tmp_path / "down", monkeypatch, 'echo "slurm_load_partitions: Unable to contact slurm controller" >&2; exit 1')
    answer = ask_slurm(F, options)
    assert not answer.answered and answer.detail == "slurm_load_partitions: Unable to contact slurm controller"


def test_a_node_running_jobs_is_in_service_without_a_record(tmp_path, state, monkeypatch, capsys):
    calls = fake_runner(monkeypatch)  # ansible-runner's stand-in: records what it was handed, runs nothing
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({n.name: CONTAINER_CAPABILITIES for n in F.nodes}))  # a lab: no prompt
    busy = F.nodes[20].name  # rack 2; the site has no record: by the records alone, a first bring-up
    asked = []
    monkeypatch.setattr(bringup_command, "ask_slurm", lambda f, options, runner: asked.append(options) or SlurmAnswer(
        HEAD, True, frozenset({busy}), "1 node(s) running jobs"))
    main(["bringup", str(LAB), "--stages", "drivers", "--host-overrides", str(overrides), "--format", "json",
          "--artifacts-dir", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    in_service = {busy}
    handed = {k: calls[-1]["extravars"][k] for k in (SERIAL_VAR, MAX_FAIL_VAR)}
    assert handed == drivers_vars(drivers_plan(F, in_service, []))
    assert handed[MAX_FAIL_VAR] == 0  # a node in service: no batch goes on past a failed tray
    assert drivers_vars(drivers_plan(F, set(), []))[MAX_FAIL_VAR] == F.compute.fresh_batch_max_fail_percent > 0
    situation = json.loads(out)["situation"]
    assert situation["slurm"] == {"controller": HEAD, "answered": True, "nodes": [busy], "detail": "1 node(s) running jobs",
                                  "summary": f"Slurm on {HEAD}: 1 node(s) running jobs"}
    assert situation["in_service"] == sorted(in_service) and situation["in_service_by_records"] == []
    assert f"Slurm on {HEAD}: 1 node(s) running jobs, 1 of them without a record ({busy})" in err
    assert "DCGM" not in err  # no acceptance stage in this run
    assert len(asked) == 1 and asked[0].stages == ["drivers"]
    assert bringup_command.BUSY_VAR not in calls[-1]["extravars"]  # no acceptance stage in this run


def test_the_acceptance_stage_is_told_which_nodes_run_jobs_so_it_spares_their_gpus(tmp_path, state, monkeypatch, capsys):
    calls = fake_runner(monkeypatch)
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({n.name: CONTAINER_CAPABILITIES for n in F.nodes}))
    busy = sorted({F.nodes[20].name, F.nodes[3].name})
    answers = [SlurmAnswer(HEAD, True, frozenset(busy), "2 node(s) running jobs"),
               SlurmAnswer(HEAD, False, detail="slurm_load_partitions: Unable to contact slurm controller")]
    monkeypatch.setattr(bringup_command, "ask_slurm", lambda f, options, runner: answers.pop(0))
    run = ["bringup", str(LAB), "--stages", "acceptance", "--host-overrides", str(overrides), "--format", "json",
           "--artifacts-dir", str(tmp_path / "runs")]
    main(run)
    assert calls[-1]["extravars"][bringup_command.BUSY_VAR] == busy
    assert (f"situation: 0 node(s) in service per the site's records; Slurm on {HEAD}: 2 node(s) running jobs, 2 of "
            f"them without a record ({', '.join(busy)}); acceptance runs no DCGM diagnostic on them"
            in capsys.readouterr().err)
    assert bringup_command.BUSY_VAR in yaml.safe_load(ACCEPTANCE_DEFAULTS.read_text())  # the role's own variable
    # Slurm not answering tells the stage nothing: every node gets the diagnostic, as on a first bring-up.
    main(run)
    assert bringup_command.BUSY_VAR not in calls[-1]["extravars"]
    assert ("Unable to contact slurm controller): the records alone decide; acceptance runs the DCGM diagnostic on "
            "every node" in capsys.readouterr().err)
    # The user's own value wins, as any extra variable.
    answers.append(SlurmAnswer(HEAD, True, frozenset(busy), ""))
    main([*run, "-e", json.dumps({bringup_command.BUSY_VAR: []})])
    assert calls[-1]["extravars"][bringup_command.BUSY_VAR] == []


def test_a_controller_that_does_not_answer_leaves_the_records_to_decide(tmp_path, state, monkeypatch, capsys):
    fake_runner(monkeypatch)  # runs nothing: the query finds no task result
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({n.name: CONTAINER_CAPABILITIES for n in F.nodes}))
    main(["bringup", str(LAB), "--stages", "os,drivers", "--host-overrides", str(overrides), "--format", "json",
          "--artifacts-dir", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert json.loads(out)["situation"]["slurm"]["answered"] is False
    assert (f"Slurm on {HEAD} did not answer (the query ran no task on the controller): the records alone decide"
            in err)


@pytest.mark.parametrize(("args", "asks"), [
    (["--stages", "drivers"], True), ([], True), (["--stages", "acceptance"], True), (["--stages", "os,storage"], False),
    (["--check"], False), (["--fresh"], False), (["--playbook", "own.yml"], False)])
def test_only_a_real_run_of_the_drivers_or_acceptance_stage_asks(tmp_path, args, asks):
    options = BringupOptions(stages=args[1].split(",") if args[:1] == ["--stages"] else None,
                             check="--check" in args, playbook=Path("own.yml") if "--playbook" in args else None)
    assert bringup_command.asks_slurm(F, options, fresh="--fresh" in args) is asks
    no_slurm = F.model_copy(update={"scheduler": F.scheduler.model_copy(update={"kind": "none"})})
    assert not bringup_command.asks_slurm(no_slurm, options, fresh=False)
    assert first_controller(F) == HEAD


def test_a_query_stopped_by_ctrl_c_stops_the_bringup_before_site_yml(tmp_path, state, monkeypatch, capsys):
    calls = fake_runner(monkeypatch)
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({n.name: CONTAINER_CAPABILITIES for n in F.nodes}))
    monkeypatch.setattr(bringup_command, "ask_slurm", lambda f, options, runner: SlurmAnswer(
        HEAD, False, detail="interrupted", interrupted_by=signal.SIGINT))
    assert main(["bringup", str(LAB), "--stages", "drivers", "--host-overrides", str(overrides),
                 "--artifacts-dir", str(tmp_path / "runs")]) == 130
    assert calls == []  # site.yml never started
    assert f"Slurm on {HEAD} did not answer (interrupted)" in capsys.readouterr().err
