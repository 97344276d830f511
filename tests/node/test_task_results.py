"""The per-task comparison of two bring-up runs (aifactory.node.task_results), on synthetic runner events."""

from __future__ import annotations

import json

from aifactory.node.task_results import changed, differences, read_job_events, task_results, verdict_differences


def event(host: str, task: str, status: str = "ok", changed: bool = False, role: str = "os_baseline",
          play: str = "Stage 2", **data) -> dict:
    name = {"ok": "runner_on_ok", "failed": "runner_on_failed", "skipped": "runner_on_skipped",
            "unreachable": "runner_on_unreachable"}[status]
    return {"event": name, "event_data": {"host": host, "task": task, "role": role, "play": play,
                                          "res": {"changed": changed}, **data}}


def run(*events: dict) -> list[dict]:
    start = [{"event": "playbook_on_start", "event_data": {}}, {"event": "playbook_on_task_start",
                                                               "event_data": {"task": "x"}}]
    return [*start, *events, {"event": "playbook_on_stats", "event_data": {}}]


def test_the_same_results_in_another_host_order_are_equal():
    a = run(event("n1", "Install chrony", changed=True), event("n2", "Install chrony", changed=True),
            event("n1", "Mount", status="skipped"), event("n2", "Mount", status="skipped"))
    b = run(event("n2", "Install chrony", changed=True), event("n1", "Install chrony", changed=True),
            event("n2", "Mount", status="skipped"), event("n1", "Mount", status="skipped"))
    assert differences(a, b) == []


def test_a_changed_flag_a_status_and_a_missing_task_are_each_named_by_host_and_task():
    a = run(event("n1", "Install chrony", changed=True), event("n2", "Install chrony", changed=True),
            event("n1", "Write hosts"), event("n2", "Write hosts"), event("n2", "Mount", status="skipped"))
    b = run(event("n1", "Install chrony", changed=True), event("n2", "Install chrony"),
            event("n1", "Write hosts", status="failed"), event("n2", "Write hosts"))
    assert differences(a, b, names=("linear", "mitogen")) == [
        "n1: play 'Stage 2', task 'os_baseline : Write hosts': ok in the linear run, failed in the mitogen",
        "n2: play 'Stage 2', task 'os_baseline : Install chrony': ok, changed in the linear run, ok in the mitogen",
        "n2: play 'Stage 2', task 'os_baseline : Mount': ran only in the linear run (skipped)",
    ]


def test_a_task_name_run_twice_on_a_host_is_compared_run_by_run():
    a = run(event("n1", "Restart", changed=True), event("n1", "Restart"))
    b = run(event("n1", "Restart"), event("n1", "Restart"))
    assert differences(a, b) == ["n1: play 'Stage 2', task 'os_baseline : Restart': ok, changed in the first run,"
                                 " ok in the second"]
    assert differences(a, run(event("n1", "Restart", changed=True))) == [
        "n1: play 'Stage 2', task 'os_baseline : Restart' (run 2): ran only in the first run (ok)"]


def test_hosts_map_one_run_host_to_another_and_a_host_absent_from_a_run_differs():
    a = run(event("n1", "Install chrony", changed=True))
    b = run(event("n2", "Install chrony", changed=True))
    assert differences(a, b, hosts={"n1": "n2"}) == []
    assert differences(a, b) == [
        "n1: play 'Stage 2', task 'os_baseline : Install chrony': ran only in the first run (ok, changed)",
        "n2: play 'Stage 2', task 'os_baseline : Install chrony': ran only in the second run (ok, changed)"]
    c = run(event("n2", "Install chrony"))
    assert differences(a, c, hosts={"n1": "n2"}) == [
        "n1 (n2 in the second run): play 'Stage 2', task 'os_baseline : Install chrony': ok, changed in the"
        " first run, ok in the second"]


def test_an_ignored_failure_is_its_own_status_and_plays_keep_tasks_apart():
    results = task_results(run(event("n1", "Probe", status="failed", ignore_errors=True),
                               event("n1", "Probe", play="Stage 5", role="")))
    assert results == {"n1": {("Stage 2", "os_baseline : Probe", 0): {"status": "ignored", "changed": False},
                              ("Stage 5", "Probe", 0): {"status": "ok", "changed": False}}}


def test_acceptance_verdicts_differ_by_host_and_field():
    a = {"n1": {"result": "pass", "counts": {"pass": 3}}, "n2": {"result": "pass"}}
    b = {"n1": {"result": "fail", "counts": {"pass": 2, "fail": 1}}, "n3": {"result": "pass"}}
    assert verdict_differences(a, a) == []
    assert verdict_differences(a, b) == [
        'n1: acceptance counts {"pass": 3} in the first run, {"fail": 1, "pass": 2} in the second;'
        ' result "pass" in the first run, "fail" in the second',
        "n2: an acceptance verdict only in the first run",
        "n3: an acceptance verdict only in the second run"]


def test_job_events_are_read_in_counter_order(tmp_path):
    events = tmp_path / "artifacts" / "run" / "job_events"
    events.mkdir(parents=True)
    for counter, task in ((10, "later"), (9, "earlier")):
        e = event("n1", task)
        (events / f"{counter}-{task}.json").write_text(json.dumps({**e, "counter": counter}))
    assert [e["event_data"]["task"] for e in read_job_events(tmp_path)] == ["earlier", "later"]


CENSORED = {"censored": "the output has been hidden due to the fact that 'no_log: true' was specified for this result"}


def test_a_no_log_result_that_changed_its_host_counts_as_changed():
    # ansible-runner keeps only `censored` of a no_log result; the line Ansible printed still says.
    powered = {"event": "runner_on_ok", "stdout": "\x1b[0;33mchanged: [r001-sw01-bmc]\x1b[0m",
               "event_data": {"host": "r001-sw01-bmc", "task": "Send the power command", "play": "Racks", "res": CENSORED}}
    already_on = {**powered, "stdout": "\x1b[0;32mok: [r001-sw01-bmc]\x1b[0m"}
    assert changed(powered) and not changed(already_on)
    assert not changed({**powered, "stdout": "", "event_data": {**powered["event_data"], "res": {"changed": False}}})
    (result,) = task_results([powered])["r001-sw01-bmc"].values()
    assert result == {"status": "ok", "changed": True}
