"""Slurm's textfile collector: sinfo's and squeue's output (as Slurm 24.11 prints it for the formats the collector
asks for) turned into node exporter's textfile format, the file replaced whole or left as it was, and the zipapp the
node_exporter role installs running on its own."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections import Counter

import pytest

from aifactory.monitoring import metrics as m, slurm_program, slurm_textfile as st
from aifactory.scheduler import health_program
from tests.monitoring.test_alert_rules import needs_promtool

# `sinfo --noheader --Node --format=%N|%T|%E`: a node once per partition it is in, flags after the state
# (`*` not responding), "none" for no reason.
SINFO = """\
paris-gb200-r001-n01|idle|none
paris-gb200-r001-n01|idle|none
paris-gb200-r001-n02|drained|aifactory alert: GpuEccDoubleBit
paris-gb200-r001-n03|draining|aifactory rollout drivers
paris-gb200-r001-n04|down*|Not responding
paris-gb200-r001-n05|allocated|none
paris-gb200-r001-n06|mixed|none
paris-gb200-r002-n01|idle~|none
paris-gb200-r002-n02|drained|operator: cable "A3" | reseat
"""
# `squeue --noheader --all --array --format=%T|%r`: array tasks one per line, "None" for a running job.
SQUEUE = """\
RUNNING|None
RUNNING|None
COMPLETING|None
PENDING|Priority
PENDING|Priority
PENDING|Resources
PENDING|ReqNodeNotAvail, UnavailableNodes:paris-gb200-r001-[02-04]
PENDING|ReqNodeNotAvail, UnavailableNodes:paris-gb200-r002-02
"""


def samples(text: str, metric: m.Metric) -> dict[str, str]:
    """{series: value} of one metric in a textfile."""
    return dict(line.rsplit(" ", 1) for line in text.splitlines() if line.startswith(metric.name + "{"))


def test_each_node_once_with_its_state_less_flags_and_its_reason():
    nodes = {n.node: n for n in st.parse_sinfo(SINFO)}
    assert len(nodes) == 8
    assert nodes["paris-gb200-r001-n01"] == st.NodeState("paris-gb200-r001-n01", "idle", "")
    assert nodes["paris-gb200-r001-n02"].reason == "aifactory alert: GpuEccDoubleBit"
    assert (nodes["paris-gb200-r001-n04"].state, nodes["paris-gb200-r002-n01"].state) == ("down", "idle")
    assert nodes["paris-gb200-r002-n02"].reason == 'operator: cable "A3" | reseat'  # the separator inside a reason


def test_jobs_by_state_and_pending_jobs_by_reason_without_the_node_list():
    jobs, pending = st.parse_squeue(SQUEUE)
    assert jobs == Counter({"pending": 5, "running": 2, "completing": 1})
    assert pending == Counter({"Priority": 2, "ReqNodeNotAvail": 2, "Resources": 1})


def test_the_textfile_carries_the_labels_the_slurm_rule_reads():
    text = st.textfile(st.parse_sinfo(SINFO), *st.parse_squeue(SQUEUE))
    drained = [line for line in text.splitlines() if line.startswith(m.SLURM_NODE_STATE.name + "{")
               and any(f'state="{s}"' in line for s in m.SLURM_DRAINED_STATES)]
    assert drained == [
        'aifactory_slurm_node_state{slurm_node="paris-gb200-r001-n02",state="drained",'
        'reason="aifactory alert: GpuEccDoubleBit"} 1',
        'aifactory_slurm_node_state{slurm_node="paris-gb200-r001-n03",state="draining",reason="aifactory rollout drivers"} 1',
        'aifactory_slurm_node_state{slurm_node="paris-gb200-r002-n02",state="drained",reason="operator: cable \\"A3\\" | reseat"} 1',
    ]
    assert 'aifactory_slurm_pending_jobs{reason="ReqNodeNotAvail"} 2' in text.splitlines()
    assert f"# TYPE {m.SLURM_JOBS.name} gauge" in text


def test_an_idle_cluster_still_says_none_pending_and_none_running():
    text = st.textfile(st.parse_sinfo("paris-gb200-r001-n01|idle|none\n"), *st.parse_squeue(""))
    assert samples(text, m.SLURM_JOBS) == {'aifactory_slurm_jobs{state="pending"}': "0",
                                           'aifactory_slurm_jobs{state="running"}': "0"}
    assert samples(text, m.SLURM_PENDING_JOBS) == {}


@pytest.mark.parametrize("parse, line", [(st.parse_sinfo, "paris-gb200-r001-n01 idle none"),
                                         (st.parse_squeue, "RUNNING"), (st.parse_sinfo, "|idle|none")],
                         ids=["sinfo-without-separators", "squeue-one-field", "sinfo-no-node"])
def test_output_in_another_format_is_refused(parse, line):
    with pytest.raises(st.SlurmOutputError, match="fields separated by"):
        parse(line + "\n")


@needs_promtool
def test_promtool_accepts_the_textfile(tmp_path):
    text = st.textfile(st.parse_sinfo(SINFO), *st.parse_squeue(SQUEUE))
    done = subprocess.run([shutil.which("promtool"), "check", "metrics"], input=text, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def fake_slurm(bin_dir, sinfo: str = SINFO, squeue: str = SQUEUE, sinfo_exit: int = 0):
    """sinfo and squeue on PATH that print captured output (sinfo exiting `sinfo_exit`, with an error)."""
    bin_dir.mkdir(exist_ok=True)
    for name, out, code in (("sinfo", sinfo, sinfo_exit), ("squeue", squeue, 0)):
        (bin_dir / f"{name}.out").write_text(out)
        script = bin_dir / name
        err = f"echo '{name}: error: Unable to contact slurm controller (connect failure)' >&2; " if code else ""
        script.write_text(f"#!/bin/sh\n{err}cat '{bin_dir / (name + '.out')}'\nexit {code}\n")
        script.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_main_replaces_the_file_and_a_silent_slurm_leaves_it_as_it_was(tmp_path, monkeypatch, capsys):
    out = tmp_path / "textfile"
    out.mkdir()
    monkeypatch.setattr(os, "environ", fake_slurm(tmp_path / "bin"))
    assert st.main(["--directory", str(out)]) == 0
    written = (out / st.FILE_NAME).read_text()
    assert written == st.textfile(st.parse_sinfo(SINFO), *st.parse_squeue(SQUEUE))
    assert stat.S_IMODE((out / st.FILE_NAME).stat().st_mode) == 0o644
    monkeypatch.setattr(os, "environ", fake_slurm(tmp_path / "bin", sinfo="", sinfo_exit=1))
    assert st.main(["--directory", str(out)]) == 1
    assert "Unable to contact slurm controller" in capsys.readouterr().err
    assert (out / st.FILE_NAME).read_text() == written and sorted(p.name for p in out.iterdir()) == [st.FILE_NAME]


def test_main_refuses_a_directory_that_is_not_there(tmp_path, capsys):
    assert st.main(["--directory", str(tmp_path / "missing")]) == 2
    assert "--directory" in capsys.readouterr().err


NODE_PYTHON = "/usr/bin/python3"  # what the collector's systemd unit runs it with: no aifactory installed there


@pytest.mark.skipif(not os.access(NODE_PYTHON, os.X_OK), reason=f"{NODE_PYTHON} is not on this machine")
def test_the_zipapp_runs_alone_and_is_the_same_for_the_same_sources(tmp_path):
    program = tmp_path / "aifactory-slurm-textfile.pyz"
    health_program.write(program, health_program.program_bytes(slurm_program.entries()))
    assert health_program.program_bytes(slurm_program.entries()) == program.read_bytes()
    out = tmp_path / "textfile"
    out.mkdir()
    env = {**fake_slurm(tmp_path / "bin"), "PYTHONPATH": ""}
    done = subprocess.run([NODE_PYTHON, "-I", str(program), "--directory", str(out)], env=env, cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert 'state="drained"' in (out / st.FILE_NAME).read_text()
