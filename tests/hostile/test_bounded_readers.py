"""Readers with the spec's limits (issue 27, class 7): a FIFO where a marker, an acceptance summary, a record or a
lab's state is expected hangs nothing; an oversized record is refused without being read whole; a spec asking
for more racks or nodes than any factory has is refused before a node is expanded. A forked child with a time-out
guards each case that used to hang (the guard fails the test; no timing is asserted)."""

from __future__ import annotations

import json
import multiprocessing
import os

import pytest

from aifactory import cli
from aifactory.core.inputs import MAX_INPUT_BYTES, MAX_RECORD_BYTES, BadInput
from aifactory.lab.state import LabState
from aifactory.spec.model import MAX_NODES, MAX_RACKS
from tests.conftest import site_dir
from tests.hostile.conftest import assert_refused

GUARD_SECONDS = 10
SITE = site_dir("lab-gb200")


def finishes(target, *args):
    """Run target(*args) in a forked child; its return value, or a failed test if it still runs after the guard."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=lambda: results.put(target(*args)))
    child.start()
    child.join(GUARD_SECONDS)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail(f"{getattr(target, '__name__', target)} still ran after {GUARD_SECONDS} s")
    return results.get(timeout=GUARD_SECONDS)


def quiet_main(argv):
    """cli.main with stderr captured into the return value (exit code, stderr)."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return code, err.getvalue()


def test_a_fifo_marker_hangs_no_command(tmp_path):
    runs = tmp_path / "state" / "bringup-runs"
    runs.mkdir(parents=True)
    os.mkfifo(runs / "1-run.json")
    code, err = finishes(quiet_main, ["schema"])
    assert code == 0 and "1-run.json" in err and "not a regular file" in err, err


def test_a_fifo_record_at_the_default_place_hangs_no_rollout(tmp_path):
    record = tmp_path / "state" / "sites" / "lab-gb200" / "day2" / "rollout.json"
    record.parent.mkdir(parents=True)
    os.mkfifo(record)
    code, err = finishes(quiet_main, ["rollout", str(SITE), "--stage", "drivers", "--resume"])
    assert code == 2 and str(record) in err and "not a regular file" in err, err


def test_an_oversized_record_at_the_default_place_is_refused_unread(tmp_path):
    record = tmp_path / "state" / "sites" / "lab-gb200" / "day2" / "replace.json"
    record.parent.mkdir(parents=True)
    with record.open("wb") as out:  # sparse: reading it whole would take 300 MB
        out.truncate(300 * 1024 * 1024)
    code, err = finishes(quiet_main, ["replace", str(SITE), "lab-gb200-r001-n01", "--yes"])
    assert code == 2 and str(record) in err and f"at most {MAX_RECORD_BYTES}" in err, err


def test_a_fifo_acceptance_summary_hangs_no_report(tmp_path):
    from aifactory.reports.html import last_acceptance
    from aifactory.spec import load_spec

    results = tmp_path / "acceptance"
    results.mkdir()
    os.mkfifo(results / "summary-rack01.json")

    def read():
        try:
            last_acceptance(load_spec(SITE), results)
        except BadInput as err:
            return str(err)
        return None

    refused = finishes(read)
    assert refused and "summary-rack01.json: not an acceptance summary" in refused and "not a regular file" in refused


@pytest.mark.parametrize("what", ["pointer", "state"])
def test_a_fifo_lab_state_hangs_nothing(tmp_path, monkeypatch, what):
    monkeypatch.setenv("AIFACTORY_LAB_DIR", str(tmp_path / "labs"))
    target = (tmp_path / "state" / "labs" / "lab-gb200.path" if what == "pointer"
              else tmp_path / "labs" / "lab-gb200" / "state.json")
    target.parent.mkdir(parents=True)
    os.mkfifo(target)

    def load():
        try:
            LabState.load("lab-gb200")
        except BadInput as err:
            return str(err)
        return "loaded"

    said = finishes(load)
    assert str(target) in said and "not a regular file" in said


def _spec_asking(racks: int, nodes_per_rack: int | None = None):
    def edit(data):
        data["compute"]["racks"] = racks
        if nodes_per_rack is not None:
            data["compute"]["nodes_per_rack"] = nodes_per_rack
    return edit


def _wide(data):
    """Ranges and power that hold 200,000 racks: only the size caps stand between the spec and its summary."""
    data["facility"]["power_budget_kw"] = 10**9
    for field, cidr in (("onprem_cidr", "10.0.0.0/8"), ("bmc_cidr", "10.0.0.0/10"), ("host_cidr", "10.64.0.0/10"),
                        ("storage_cidr", "10.128.0.0/10")):
        data["network"][field] = cidr


@pytest.mark.parametrize("racks, per_rack, named", [
    (200_000, None, f"compute.racks: at most {MAX_RACKS} racks"),
    (MAX_RACKS, 17, f"at most {MAX_NODES} (MAX_NODES"),
    (1, 10**9, "compute.nodes_per_rack: 1 racks x 1000000000 nodes"),
])
def test_a_spec_asking_for_more_than_any_factory_is_refused_before_expansion(site, racks, per_rack, named):
    spec = site("lab-b200", lambda data: (_wide(data), _spec_asking(racks, per_rack)(data)))
    code, err = finishes(quiet_main, ["validate", str(spec)])
    assert_refused(code, err, named)


def _lab_pointer(tmp_path, hostile):
    from aifactory.core.userstate import labs_dir

    hostile(labs_dir() / "lab-gb200.path")
    return lambda: LabState(site="lab-gb200", root=tmp_path / "labs").remove()


def _acceptance_verdict(tmp_path, hostile):
    from aifactory.lab.rehearsal import read_acceptance

    hostile(tmp_path / "acceptance" / "lab-gb200-r001-n01.json")
    return lambda: read_acceptance(tmp_path / "acceptance", ["lab-gb200-r001-n01"])


def _known_hosts(tmp_path, hostile):
    from aifactory.lab import nodes

    state = LabState(site="lab-gb200", root=tmp_path / "labs")
    root = tmp_path / "node-root"
    for folder in ("etc/ssh", "root"):
        (root / folder).mkdir(parents=True)
    hostile(nodes.known_hosts(state))
    return lambda: nodes.seed(state, root, "lab-gb200-r001-n01", {"lab-gb200-r001-n01": "10.0.0.11"})


def _lab_ca(tmp_path, hostile):
    from aifactory.lab import tls

    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "lab-ca.key").write_text("")
    hostile(tmp_path / "pki" / "lab-ca.crt")
    return lambda: tls.ensure_ca(tmp_path / "pki")


def _make_fifo(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)


def _make_oversized(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:  # sparse: past every cap without writing it
        out.truncate(MAX_RECORD_BYTES + 1)


@pytest.mark.parametrize("reader", [_lab_pointer, _acceptance_verdict, _known_hosts, _lab_ca])
@pytest.mark.parametrize("make, said", [(_make_fifo, "not a regular file"), (_make_oversized, "are read")])
def test_the_labs_own_readers_refuse_a_fifo_and_an_oversized_file_by_name(tmp_path, reader, make, said):
    """What the lab wrote and reads back (the note of where it lives, the acceptance verdicts, its known_hosts,
    its CA) is read as any input: a FIFO or an oversized file is refused naming it, never a hang or a whole read."""
    from aifactory.lab.rehearsal import StageFailed

    made = []
    read = reader(tmp_path, lambda path: (make(path), made.append(path)))

    def refusal():
        try:
            read()
        except (BadInput, StageFailed) as err:
            return str(err)
        return "read without a refusal"

    message = finishes(refusal)
    assert str(made[0]) in message and said in message, message


def _make_padded_outputs(path):
    """Stack outputs naming an endpoint, padded past MAX_INPUT_BYTES: usable, were the size not capped."""
    path.write_text(json.dumps({"endpoint_dns": {"sts": "sts.eu-central-1.amazonaws.com"},
                                "padding": " " * MAX_INPUT_BYTES}))


@pytest.mark.parametrize("make", [_make_fifo, _make_padded_outputs])
def test_the_lab_dns_answers_no_name_from_a_fifo_or_an_oversized_stack_outputs_file(tmp_path, make):
    from aifactory.lab.dns import endpoint_names

    outputs = tmp_path / "stack-outputs.json"
    make(outputs)
    assert finishes(endpoint_names, outputs) == set()
    outputs.unlink()
    outputs.write_text(json.dumps({"endpoint_dns": {"sts": "sts.eu-central-1.amazonaws.com."}}))
    assert endpoint_names(outputs) == {"sts.eu-central-1.amazonaws.com"}  # the control: a usable file is read


def test_an_oversized_file_at_the_health_programs_place_is_replaced_unread(monkeypatch):
    """The Slurm health check's zipapp, cached in the state directory, is read back only at its own size."""
    from pathlib import Path

    from aifactory.scheduler import health_program

    path = health_program.cached_program()
    with path.open("r+b") as out:  # sparse: 300 MB were it read
        out.truncate(300 * 1024 * 1024)
    reads = []
    read_bytes = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or read_bytes(self))
    assert health_program.cached_program() == path and path not in reads
    monkeypatch.undo()
    assert path.read_bytes() == health_program.program_bytes()
