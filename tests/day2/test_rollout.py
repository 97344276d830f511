"""`aifactory rollout`: the batch plan, the gate, the record, stopping, resuming and Ctrl-C, with the
Ansible runs replaced by a recorder (the playbooks themselves: test_rollout_playbook.py and the lab)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from aifactory.node.acceptance_gate import KERNEL_BOUND_INCOMPLETE
from aifactory.node.batches import BatchPlanError, plan_batches
from aifactory.node.bringup import BringupOptions, BringupResult
from aifactory.node.parsers.acceptance import WITHOUT_KERNEL
from aifactory.day2.rollout import (RESUME_PLAYBOOK, ROLLOUT_PLAYBOOK, RolloutError, RolloutOptions, check_exit_code,
                                    check_lines, check_rollout, exit_code, prepare, record_lock, run_rollout,
                                    silence_seconds, state_lines)
from aifactory.monitoring import silences
from aifactory.monitoring.silences import Silencer
from aifactory.spec import load_spec
from tests.conftest import both, put, site_dir
from tests.hostile.conftest import run_inprocess
from tests.monitoring.fakes import FakeAlertmanager

GB200 = load_spec(site_dir("lab-gb200"))
# The lab boots the first two trays of each rack; the others are absent.
LAB_ABSENT = [n.name for n in GB200.nodes if n.slot > 2]


def names(batches):
    return [list(b.nodes) for b in batches]


def test_nvl72_canary_then_rest_of_its_rack_then_one_rack_per_batch():
    f = load_spec(site_dir("paris-gb200"))
    batches = plan_batches(f.nodes, rack_domain=True)
    assert names(batches)[0] == ["paris-gb200-r001-n01"]
    assert names(batches)[1] == [f"paris-gb200-r001-n{i:02d}" for i in range(2, 19)]
    assert names(batches)[2:] == [[f"paris-gb200-r{r:03d}-n{i:02d}" for i in range(1, 19)] for r in (2, 3, 4)]
    assert [b.label for b in batches] == ["canary paris-gb200-r001-n01", "rack01 (after the canary)", "rack02",
                                          "rack03", "rack04"]


def test_absent_hosts_are_skipped_and_the_canary_is_the_first_present_node():
    absent = LAB_ABSENT + ["lab-gb200-r001-n01"]
    assert names(plan_batches(GB200.nodes, True, absent=absent)) == [
        ["lab-gb200-r001-n02"], ["lab-gb200-r002-n01", "lab-gb200-r002-n02"]]


def test_other_platforms_take_n_nodes_per_batch_after_the_canary():
    f = load_spec(site_dir("ohio-trn3"))
    batches = plan_batches(f.nodes, rack_domain=False, batch_size=16)
    assert [len(b.nodes) for b in batches] == [1, 16, 16, 16, 16, 7]
    assert sum(names(batches), []) == [n.name for n in f.nodes]  # every node once, in rack and slot order


def test_other_platforms_go_rack_by_rack_without_a_batch_size():
    f = load_spec(site_dir("ohio-trn3"))
    assert [len(b.nodes) for b in plan_batches(f.nodes, rack_domain=False)] == [1, 35, 36]


def test_a_batch_size_on_nvl72_or_below_one_is_refused(tmp_path):
    with pytest.raises(BatchPlanError, match="--batch-size"):
        plan_batches(GB200.nodes, True, batch_size=4)
    with pytest.raises(BatchPlanError, match="--batch-size"):
        plan_batches(GB200.nodes, False, batch_size=0)
    with pytest.raises(RolloutError, match="--batch-size: on this platform a rack is one NVLink domain"):
        prepare(GB200, RolloutOptions(stage="drivers", batch_size=4, record=tmp_path / "record.json"))


# --- the driver, with a recording runner ----------------------------------------------------------------
class Runner:
    """Stands in for run_bringup: records each run and answers with the verdicts it is told."""

    def __init__(self, tmp: Path, verdict=lambda node: "pass", interrupt_on: int | None = None,
                 raise_on: int | None = None, raises: BaseException = KeyboardInterrupt(), skipped=lambda node: {}):
        self.tmp, self.verdict, self.interrupt_on, self.raise_on, self.raises = tmp, verdict, interrupt_on, raise_on, raises
        self.skipped = skipped  # {check: reason} of a node's checks that could not run
        self.runs: list[BringupOptions] = []

    def __call__(self, f, options: BringupOptions) -> BringupResult:
        self.runs.append(options)
        if self.raise_on == len(self.runs):
            raise self.raises
        nodes = options.extra_vars["aifactory_rollout_batch"]
        rollout = options.playbook == ROLLOUT_PLAYBOOK
        verdicts = {n: self.verdict(n) for n in nodes} if rollout else {}
        failed = any(v == "fail" for v in verdicts.values())
        return BringupResult(
            site=f.name, playbook=Path(options.playbook).name, stages=options.stages, check=options.check,
            status="failed" if failed else "successful", rc=2 if failed else 0,
            hosts={n: {"ok": 5, "changed": 1, "failed": int(verdicts.get(n) == "fail"), "unreachable": 0, "skipped": 0,
                       "rescued": 0, "ignored": 0} for n in nodes},
            run_dir=self.tmp / f"run{len(self.runs)}", unscrubbable=[],
            acceptance={n: {"result": v, "skipped": self.skipped(n)} for n, v in verdicts.items()},
            interrupted_by=signal.SIGINT if self.interrupt_on == len(self.runs) else None,
            changed_tasks={n: [f"{Path(options.playbook).name}: stand-in task"] for n in nodes})

    def batches(self) -> list[list[str]]:
        """The batches the rollout playbook ran on."""
        return [o.extra_vars["aifactory_rollout_batch"] for o in self.runs if o.playbook == ROLLOUT_PLAYBOOK]


def start(tmp_path, f=GB200, resume=False, **kw) -> tuple[Path, dict, RolloutOptions]:
    options = RolloutOptions(stage=kw.pop("stage", "drivers"), resume=resume, record=tmp_path / "record.json",
                             host_overrides={n: {"aifactory_absent": True} for n in LAB_ABSENT}, **kw)
    path, record = prepare(f, options)
    return path, record, options


def rollout(tmp_path, runner, f=GB200, resume=False, **kw) -> dict:
    path, record, options = start(tmp_path, f, resume, **kw)
    return run_rollout(f, options, path, record, runner=runner, progress=open(tmp_path / "progress.txt", "a"))


def test_every_batch_drains_applies_accepts_and_resumes_in_order(tmp_path):
    runner = Runner(tmp_path)
    record = rollout(tmp_path, runner)
    assert record["status"] == "done" and exit_code(record) == 0
    assert [(Path(o.playbook), o.limit) for o in runner.runs[:2]] == [
        (ROLLOUT_PLAYBOOK, "lab-gb200-r001-n01,lab-gb200-r001-n01-bmc"), (RESUME_PLAYBOOK, "lab-gb200-r001-n01")]
    assert runner.batches() == [["lab-gb200-r001-n01"], ["lab-gb200-r001-n02"],
                                ["lab-gb200-r002-n01", "lab-gb200-r002-n02"]]
    first = runner.runs[0]
    assert first.stages == ["drivers"]
    assert first.extra_vars["aifactory_rollout_drain_reason"] == "aifactory rollout drivers"
    assert first.extra_vars["aifactory_rollout_reboot_fact"] == "nvidia_gpu_reboot_required"
    assert first.extra_vars["aifactory_rollout_slurm"] is True
    # The stage's plays take the batch whole: one serial batch of its size, never split again.
    assert [o.extra_vars["aifactory_drivers_serial"] for o in runner.runs if Path(o.playbook) == ROLLOUT_PLAYBOOK] == [
        [1], [1], [2]]
    saved = json.loads((tmp_path / "record.json").read_text())
    assert saved["status"] == "done" and saved["skipped_absent"] == LAB_ABSENT
    assert [b["outcome"] for b in saved["batches"]] == ["passed"] * 3
    assert all(b["drained"] == [] for b in saved["batches"])


def test_the_drain_timeout_becomes_polls_of_squeue(tmp_path):
    runner = Runner(tmp_path)
    rollout(tmp_path, runner, drain_timeout=95)
    extra = runner.runs[0].extra_vars
    assert (extra["aifactory_rollout_drain_polls"], extra["aifactory_rollout_drain_poll_delay"]) == (10, 10)
    assert extra["aifactory_rollout_force"] is False


def test_a_failing_canary_stops_the_rollout_before_any_other_node(tmp_path):
    runner = Runner(tmp_path, verdict=lambda n: "fail" if n.endswith("r001-n01") else "pass")
    record = rollout(tmp_path, runner)
    assert len(runner.runs) == 1  # no resume run, no other batch
    assert record["status"] == "stopped" and exit_code(record) == 1 and record["stopped_at"] == 1
    assert record["batches"][0]["drained"] == ["lab-gb200-r001-n01"]
    assert record["batches"][0]["nodes_outcome"] == {"lab-gb200-r001-n01": "fail"}
    assert [b["outcome"] for b in record["batches"]] == ["failed", "pending", "pending"]
    lines = "\n".join(state_lines(record, "aifactory rollout lab-gb200 --stage drivers"))
    assert "stopped at batch 1 (canary lab-gb200-r001-n01): failed; nodes: lab-gb200-r001-n01 fail" in lines
    assert "drained in Slurm with reason 'aifactory rollout drivers': lab-gb200-r001-n01" in lines
    assert "not touched: batches 2, 3" in lines
    assert "--resume" in lines


def test_an_incomplete_acceptance_fails_the_gate_on_real_nodes(tmp_path):
    record = rollout(tmp_path, Runner(tmp_path, verdict=lambda n: "incomplete"))
    assert record["status"] == "stopped" and record["batches"][0]["nodes_outcome"] == {"lab-gb200-r001-n01": "incomplete"}


def test_resume_starts_again_at_the_failed_batch_and_finishes(tmp_path):
    rollout(tmp_path, Runner(tmp_path, verdict=lambda n: "fail" if n.endswith("r001-n02") else "pass"))
    runner = Runner(tmp_path)
    record = rollout(tmp_path, runner, resume=True)
    assert runner.batches() == [["lab-gb200-r001-n02"], ["lab-gb200-r002-n01", "lab-gb200-r002-n02"]]
    assert record["status"] == "done" and [b["outcome"] for b in record["batches"]] == ["passed"] * 3
    with pytest.raises(RolloutError, match="is done"):
        start(tmp_path, resume=True)


def test_ctrl_c_during_a_batch_leaves_a_clear_state_and_resume_finishes_it(tmp_path):
    record = rollout(tmp_path, Runner(tmp_path, interrupt_on=3))  # batch 2's rollout run
    assert record["status"] == "interrupted" and exit_code(record) == 130 and record["stopped_at"] == 2
    saved = json.loads((tmp_path / "record.json").read_text())
    assert [b["outcome"] for b in saved["batches"]] == ["passed", "interrupted", "pending"]
    assert saved["batches"][1]["drained"] == ["lab-gb200-r001-n02"]
    runner = Runner(tmp_path)
    assert rollout(tmp_path, runner, resume=True)["status"] == "done"
    assert runner.batches()[0] == ["lab-gb200-r001-n02"]


def test_ctrl_c_between_runs_is_recorded_the_same_way(tmp_path):
    record = rollout(tmp_path, Runner(tmp_path, raise_on=2))  # the canary's resume run
    assert record["status"] == "interrupted" and record["batches"][0]["outcome"] == "interrupted"
    assert record["batches"][0]["drained"] == ["lab-gb200-r001-n01"]


def test_sigterm_between_runs_is_exit_143_with_the_same_record(tmp_path):
    record = rollout(tmp_path, Runner(tmp_path, raise_on=1, raises=SystemExit(143)))
    assert record["status"] == "interrupted" and exit_code(record) == 143
    assert json.loads((tmp_path / "record.json").read_text())["batches"][0]["outcome"] == "interrupted"


def test_max_batches_pauses_and_resume_runs_the_rest(tmp_path):
    record = rollout(tmp_path, Runner(tmp_path), max_batches=2)
    assert record["status"] == "paused" and exit_code(record) == 0
    assert [b["outcome"] for b in record["batches"]] == ["passed", "passed", "pending"]
    runner = Runner(tmp_path)
    assert rollout(tmp_path, runner, resume=True)["status"] == "done"
    assert runner.batches() == [["lab-gb200-r002-n01", "lab-gb200-r002-n02"]]


def test_resume_can_force_or_wait_longer(tmp_path):
    rollout(tmp_path, Runner(tmp_path, verdict=lambda n: "fail"), drain_timeout=60)
    _, record, _ = start(tmp_path, resume=True)
    assert (record["force"], record["drain_timeout"]) == (False, 60)
    _, record, _ = start(tmp_path, resume=True, force=True, drain_timeout=600)
    assert (record["force"], record["drain_timeout"]) == (True, 600)


def test_an_unfinished_rollout_needs_resume_and_resume_needs_the_same_stage(tmp_path):
    rollout(tmp_path, Runner(tmp_path, verdict=lambda n: "fail"))
    with pytest.raises(RolloutError, match="unfinished rollout of drivers.*--resume"):
        start(tmp_path)
    with pytest.raises(RolloutError, match="stage 'drivers', not 'fabric'"):
        start(tmp_path, resume=True, stage="fabric")
    with pytest.raises(RolloutError, match="no rollout record"):
        start(tmp_path / "elsewhere", resume=True)


def test_without_a_scheduler_nothing_is_drained_or_resumed(tmp_path, site):
    f = load_spec(site("lab-gb200", both(put("scheduler", {"kind": "none"}), put("monitoring.enabled", False))))
    runner = Runner(tmp_path)
    record = rollout(tmp_path, runner, f=f)
    assert record["status"] == "done" and record["slurm"] is False
    assert all(Path(o.playbook) == ROLLOUT_PLAYBOOK for o in runner.runs)
    assert runner.runs[0].extra_vars["aifactory_rollout_slurm"] is False
    assert "nodes are not drained or resumed in Slurm" in (tmp_path / "progress.txt").read_text()


# --- Alertmanager silences ---------------------------------------------------------------------------
def silenced_rollout(tmp_path, am: FakeAlertmanager, runner: Runner, **kw) -> dict:
    """A rollout whose runs are written into `am.events` beside its silences."""
    def recording(f, options):
        am.events.append((Path(options.playbook).name, options.extra_vars["aifactory_rollout_batch"]))
        return runner(f, options)

    path, record, options = start(tmp_path, **kw)
    return run_rollout(GB200, options, path, record, runner=recording, progress=open(tmp_path / "progress.txt", "a"),
                       silencer=Silencer("aifactory rollout", am))


def test_each_batch_s_nodes_are_silenced_from_before_the_drain_until_they_are_resumed(tmp_path):
    am = FakeAlertmanager()
    record = silenced_rollout(tmp_path, am, Runner(tmp_path), drain_timeout=600)
    assert record["status"] == "done"
    canary, second, rack2 = ["lab-gb200-r001-n01"], ["lab-gb200-r001-n02"], ["lab-gb200-r002-n01", "lab-gb200-r002-n02"]
    assert am.events == [(kind, nodes) for nodes in (canary, second, rack2) for kind in
                         ("silence", "rollout.yml", "rollout_resume.yml", "expire")]
    first = am.silences["stand-in-1"]
    assert first["created_by"] == "aifactory rollout" and first["seconds"] == silence_seconds(600) > 600
    assert first["comment"].startswith("drivers rollout of lab-gb200, batch 1/3 (canary lab-gb200-r001-n01), record ")
    assert all(s["state"] == "expired" for s in am.silences.values())
    assert "silence stand-in-3 expired" in (tmp_path / "progress.txt").read_text()


def test_a_batch_that_stops_expires_its_silence_and_later_batches_are_not_silenced(tmp_path):
    am = FakeAlertmanager()
    record = silenced_rollout(tmp_path, am, Runner(tmp_path, verdict=lambda n: "fail" if n.endswith("r001-n02") else "pass"))
    assert record["status"] == "stopped"
    assert am.events[-3:] == [("silence", ["lab-gb200-r001-n02"]), ("rollout.yml", ["lab-gb200-r001-n02"]),
                              ("expire", ["lab-gb200-r001-n02"])]
    am = FakeAlertmanager()
    (tmp_path / "ctrl-c").mkdir()
    record = silenced_rollout(tmp_path / "ctrl-c", am, Runner(tmp_path, raise_on=2))  # Ctrl-C before the resume run
    assert record["status"] == "interrupted" and am.events[-1] == ("expire", ["lab-gb200-r001-n01"])


def test_an_alertmanager_that_does_not_answer_is_a_warning_and_the_rollout_goes_on(tmp_path):
    record = silenced_rollout(tmp_path, FakeAlertmanager(down=True), Runner(tmp_path))
    assert record["status"] == "done"
    progress = (tmp_path / "progress.txt").read_text()
    assert progress.count("warning: alerts of ") == 3 and "are not silenced: Alertmanager: https://10.0.0.1:9093" in progress


def test_with_monitoring_and_no_client_credentials_each_batch_warns_and_the_rollout_goes_on(tmp_path, site, monkeypatch):
    for name in (silences.ENV_CERT, silences.ENV_KEY, silences.ENV_PASSWORD):
        monkeypatch.delenv(name, raising=False)
    f = load_spec(site("lab-gb200", put("monitoring", {"enabled": True})))
    record = rollout(tmp_path, Runner(tmp_path), f=f)
    assert record["status"] == "done"
    progress = (tmp_path / "progress.txt").read_text()
    assert progress.count(f"are not silenced: {silences.ENV_CERT}, {silences.ENV_KEY}, {silences.ENV_PASSWORD} not set") == 3
    (tmp_path / "off").mkdir()
    off = load_spec(site("lab-gb200", put("monitoring", {"enabled": False}), as_name="monitoring-off"))
    assert rollout(tmp_path / "off", Runner(tmp_path), f=off)["status"] == "done"  # monitoring off: nothing said
    assert "silenced" not in (tmp_path / "off" / "progress.txt").read_text()


# --- --check ------------------------------------------------------------------------------------------
def test_check_runs_each_batch_in_check_mode_resumes_nothing_and_writes_no_record(tmp_path):
    path, record, options = start(tmp_path)
    runner = Runner(tmp_path)
    report = check_rollout(GB200, options, record, runner=runner, progress=open(tmp_path / "progress.txt", "a"))
    assert [o.check for o in runner.runs] == [True] * 3
    assert runner.batches() == [["lab-gb200-r001-n01"], ["lab-gb200-r001-n02"], ["lab-gb200-r002-n01", "lab-gb200-r002-n02"]]
    assert all(Path(o.playbook) == ROLLOUT_PLAYBOOK for o in runner.runs)  # no resume run
    assert not path.exists() and check_exit_code(report) == 0
    assert report["batches"][2]["would_change"] == {"lab-gb200-r002-n01": ["rollout.yml: stand-in task"],
                                                    "lab-gb200-r002-n02": ["rollout.yml: stand-in task"]}
    lines = check_lines(report)
    assert "check mode: nothing changed, no record written" in lines[0]
    assert "would drain in Slurm with reason 'aifactory rollout drivers'" in lines[1] and "check run ok" in lines[1]
    assert "    lab-gb200-r001-n01 would change: rollout.yml: stand-in task" in lines


def test_check_of_a_stopped_rollout_checks_from_its_batch_and_leaves_the_record_as_it_was(tmp_path):
    rollout(tmp_path, Runner(tmp_path, verdict=lambda n: "fail" if n == "lab-gb200-r001-n02" else "pass"))
    saved = (tmp_path / "record.json").read_text()
    _, record, options = start(tmp_path, resume=True, max_batches=1)
    runner = Runner(tmp_path, verdict=lambda n: "fail")
    report = check_rollout(GB200, options, record, runner=runner, progress=open(tmp_path / "progress.txt", "a"))
    assert runner.batches() == [["lab-gb200-r001-n02"]]  # from the stopped batch, at most --max-batches
    assert check_exit_code(report) == 1 and "check run FAILED (exit 1" in check_lines(report)[1]
    assert (tmp_path / "record.json").read_text() == saved


def test_check_stopped_by_ctrl_c_says_so(tmp_path):
    _, record, options = start(tmp_path)
    report = check_rollout(GB200, options, record, runner=Runner(tmp_path, raise_on=2),
                           progress=open(tmp_path / "progress.txt", "a"))
    assert len(report["batches"]) == 1 and check_exit_code(report) == 130
    assert "interrupted by SIGINT" in check_lines(report)[-1]


# --- the command ----------------------------------------------------------------------------------------
def test_cli_refuses_bad_input_with_2_naming_it(capsys, tmp_path):
    code, _, err = run_inprocess(capsys, "rollout", site_dir("lab-gb200"), "--stage", "drivers", "--batch-size", "4",
                        "--record", tmp_path / "r.json")
    assert code == 2 and "--batch-size" in err and "Traceback" not in err
    code, _, err = run_inprocess(capsys, "rollout", site_dir("lab-gb200"), "--stage", "acceptance")
    assert code == 2 and "--stage" in err
    code, _, err = run_inprocess(capsys, "rollout", site_dir("lab-gb200"), "--stage", "drivers", "--resume",
                        "--record", tmp_path / "r.json")
    assert code == 2 and "no rollout record" in err


def test_cli_on_a_real_site_without_yes_or_terminal_runs_nothing(capsys, tmp_path):
    code, _, err = run_inprocess(capsys, "rollout", site_dir("paris-gb200"), "--stage", "drivers", "--record", tmp_path / "r.json")
    assert code == 2 and "pass --yes" in err
    assert "batch 1: canary paris-gb200-r001-n01" in err
    assert not (tmp_path / "r.json").exists()


def test_an_incomplete_verdict_passes_the_gate_only_for_checks_without_the_kernel_they_need(tmp_path):
    path, record, options = start(tmp_path)
    kernel_bound = {"imex_channel": f"{WITHOUT_KERNEL}: IMEX channels are device nodes of a loaded NVIDIA driver"}
    runner = Runner(tmp_path, verdict=lambda n: "incomplete", skipped=lambda n: kernel_bound)
    record = run_rollout(GB200, options, path, record, runner=runner, progress=open(tmp_path / "progress.txt", "a"))
    assert record["status"] == "done"
    assert record["batches"][0]["nodes_outcome"] == {"lab-gb200-r001-n01": KERNEL_BOUND_INCOMPLETE}
    (tmp_path / "other").mkdir()
    path, record, options = start(tmp_path / "other")
    runner = Runner(tmp_path, verdict=lambda n: "incomplete", skipped=lambda n: kernel_bound | {"ecc": "`nvidia-smi` is not installed"})
    record = run_rollout(GB200, options, path, record, runner=runner, progress=open(tmp_path / "progress.txt", "a"))
    assert record["status"] != "done" and record["batches"][0]["nodes_outcome"] == {"lab-gb200-r001-n01": "incomplete"}


def test_a_record_that_is_not_one_is_bad_input(capsys, tmp_path):
    (tmp_path / "r.json").write_text("[1, 2")
    code, _, err = run_inprocess(capsys, "rollout", site_dir("lab-gb200"), "--stage", "drivers", "--record", tmp_path / "r.json")
    assert code == 2 and "not a rollout record" in err and "Traceback" not in err


def test_a_second_rollout_of_the_site_is_refused_while_one_runs(capsys, tmp_path):
    with record_lock(tmp_path / "r.json"):
        code, _, err = run_inprocess(capsys, "rollout", site_dir("lab-gb200"), "--stage", "drivers", "--record", tmp_path / "r.json")
    assert code == 2 and "another rollout runs from" in err
    code, _, err = run_inprocess(capsys, "rollout", site_dir("lab-gb200"), "--stage", "drivers", "--record", "/proc/no/r.json")
    # refused when parsed (not root: /proc cannot be written) or when the record is opened (root): either names the option
    assert code == 2 and "--record" in err and "/proc/no/r.json" in err
