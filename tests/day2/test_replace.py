"""`aifactory replace`: the hardware read recorded, the old machine forgotten (facts, host key), the new
key learned or refused, the node brought up alone and resumed; Ansible runs replaced by a recorder."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from aifactory.node.bringup import BringupOptions, BringupResult
from aifactory.node.redfish import firmware_versions, select_system
from aifactory.day2.replace import (REPLACE_PLAYBOOK, HostKeyMismatch, ReplaceError, ReplaceOptions, check_exit_code,
                                    check_node, check_replace, exit_code, forget_host_key, hardware_record,
                                    known_hosts_files, learn_host_key, run_replace)
from aifactory.day2.rollout import RESUME_PLAYBOOK
from aifactory.monitoring.silences import Silencer
from aifactory.spec import load_spec
from tests.conftest import both, put, site_dir
from tests.hostile.conftest import run_inprocess
from tests.monitoring.fakes import FakeAlertmanager

GB200 = load_spec(site_dir("lab-gb200"))
NODE = "lab-gb200-r001-n02"
ADDRESS = next(n.address for n in GB200.nodes if n.name == NODE)
SYSTEMS = [[{"system_uri": "/redfish/v1/Systems/aaaa"}, {"SerialNumber": "OLD-1", "Model": "GB200 tray"}],
           [{"system_uri": "/redfish/v1/Systems/bbbb"}, {"SerialNumber": "SN-NEW-42", "Manufacturer": "Stand-in",
                                                        "Model": "GB200 compute tray", "BiosVersion": "1.2"}]]
FIRMWARE = [{"Id": "BMC", "Version": "24.10"}, {"Name": "BIOS", "Version": "1.2"}, {"Version": "no name"}]


def host_key(tmp_path: Path, name: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / name)], check=True)
    return " ".join((tmp_path / f"{name}.pub").read_text().split()[:2])


def test_the_hardware_record_is_the_bmc_system_of_this_node():
    # What replace.yml hands back: the bmc role's selection and firmware read (aifactory.node.redfish).
    read = {"system": select_system(SYSTEMS, "bbbb"), "firmware": firmware_versions(FIRMWARE)}
    assert hardware_record(read) == {"serial": "SN-NEW-42", "manufacturer": "Stand-in", "model": "GB200 compute tray",
                                     "bios_version": "1.2", "firmware": {"BMC": "24.10", "BIOS": "1.2"}}
    assert hardware_record({"system": {}, "firmware": {}})["serial"] is None


def test_known_hosts_are_the_labs_when_the_overrides_name_one(tmp_path):
    lab = {"ansible_ssh_common_args": f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={tmp_path}/kh"}
    assert known_hosts_files(lab) == [tmp_path / "kh"]
    assert known_hosts_files({}, home=tmp_path) == [tmp_path / ".ssh" / "known_hosts"]


def test_the_old_key_is_forgotten_by_name_and_address_and_others_kept(tmp_path):
    old, other = host_key(tmp_path, "old"), host_key(tmp_path, "other")
    kh = tmp_path / "known_hosts"
    kh.write_text(f"{ADDRESS} {old}\n{NODE} {old}\n10.9.9.9 {other}\n")
    assert len(forget_host_key([kh, tmp_path / "missing"], [NODE, ADDRESS])) == 2
    assert kh.read_text() == f"10.9.9.9 {other}\n"
    assert not (tmp_path / "known_hosts.old").exists()


def test_the_new_key_is_trusted_on_first_use_or_checked_against_host_key(tmp_path):
    new, rogue = host_key(tmp_path, "new"), host_key(tmp_path, "rogue")
    kh = tmp_path / "kh"
    learned = learn_host_key(ADDRESS, [kh], None, scan=lambda a: [new])
    assert kh.read_text() == f"{ADDRESS} {new}\n" and "trusted on first use" in learned["learned"]
    assert learned["fingerprint"].startswith("SHA256:")
    kh.unlink()
    with pytest.raises(HostKeyMismatch, match="not the key given with --host-key"):
        learn_host_key(ADDRESS, [kh], new, scan=lambda a: [rogue])
    assert not kh.exists()
    assert learn_host_key(ADDRESS, [kh], new, scan=lambda a: [rogue, new])["learned"] == "checked against --host-key"


class Runner:
    """Stands in for run_bringup: the replace run hands back the hardware; site.yml the verdict."""

    def __init__(self, tmp: Path, verdict: str = "pass"):
        self.tmp, self.verdict, self.runs = tmp, verdict, []

    def __call__(self, f, options: BringupOptions) -> BringupResult:
        self.runs.append(options)
        stats, acceptance = {}, {}
        if options.playbook == REPLACE_PLAYBOOK:
            stats = {"aifactory_replace_hardware": {NODE: {"system": select_system(SYSTEMS, "bbbb"),
                                                      "firmware": firmware_versions(FIRMWARE)}}}
        elif options.playbook is None:
            acceptance = {NODE: {"result": self.verdict}}
        failed = self.verdict == "fail" and options.playbook is None
        return BringupResult(site=f.name, playbook="x", stages=None, check=options.check, status="successful", rc=0,
                             hosts={NODE: {"ok": 1, "changed": 0, "failed": int(failed), "unreachable": 0, "skipped": 0,
                                           "rescued": 0, "ignored": 0}},
                             run_dir=self.tmp, unscrubbable=[], acceptance=acceptance, custom_stats=stats)


def replace(tmp_path, monkeypatch, runner, f=GB200, new_key=None, expected=None, stages=None) -> dict:
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))
    overrides = {NODE: {"ansible_host": ADDRESS, "ansible_ssh_common_args": f"-o UserKnownHostsFile={tmp_path}/kh"}}
    options = ReplaceOptions(node=NODE, host_key=expected, host_overrides=overrides, record=tmp_path / "record.json",
                             stages=stages, home=tmp_path / "home")
    return run_replace(f, options, runner=runner, scan=lambda a: [new_key], progress=open(tmp_path / "progress", "a"))


def test_a_replaced_node_is_read_forgotten_reinstalled_accepted_and_resumed(tmp_path, monkeypatch):
    old, new = host_key(tmp_path, "old"), host_key(tmp_path, "new")
    (tmp_path / "kh").write_text(f"{ADDRESS} {old}\n")
    (tmp_path / "home" / ".ssh").mkdir(parents=True)
    (tmp_path / "home" / ".ssh" / "known_hosts").write_text(f"{NODE} {old}\n")
    (tmp_path / "facts").mkdir()
    (tmp_path / "facts" / NODE).write_text("{}")
    runner = Runner(tmp_path)
    entry = replace(tmp_path, monkeypatch, runner, new_key=new)
    assert entry["outcome"] == "in service" and exit_code(entry) == 0
    assert [(o.playbook, o.limit) for o in runner.runs] == [
        (REPLACE_PLAYBOOK, f"{NODE},{NODE}-bmc"), (None, NODE), (RESUME_PLAYBOOK, NODE)]
    assert runner.runs[0].extra_vars["aifactory_replace_reason"] == "aifactory replace"
    assert runner.runs[2].extra_vars["aifactory_rollout_batch"] == [NODE]
    assert (tmp_path / "kh").read_text() == f"{ADDRESS} {new}\n"
    assert (tmp_path / "home" / ".ssh" / "known_hosts").read_text() == ""  # the user's copy forgotten too
    assert not (tmp_path / "facts" / NODE).exists()
    saved = json.loads((tmp_path / "record.json").read_text())["replacements"]
    assert saved[0]["hardware"]["serial"] == "SN-NEW-42" and saved[0]["previous_hardware"] is None
    assert list(saved[0]["steps"]) == ["forget the old machine", "drain, read the hardware, PXE boot and power cycle",
                                       "learn the new host key", "bring the node up and accept it", "resume it in Slurm"]
    second = replace(tmp_path, monkeypatch, Runner(tmp_path), new_key=host_key(tmp_path, "newer"))
    assert second["previous_hardware"]["serial"] == "SN-NEW-42"


def test_a_failed_acceptance_leaves_the_node_drained(tmp_path, monkeypatch):
    runner = Runner(tmp_path, verdict="fail")
    entry = replace(tmp_path, monkeypatch, runner, new_key=host_key(tmp_path, "new"))
    assert entry["outcome"] == "failed" and exit_code(entry) == 1
    assert len(runner.runs) == 2  # no resume
    assert "stays drained with reason 'aifactory replace'" in entry["steps"]["bring the node up and accept it"]


def test_a_host_key_other_than_the_given_one_stops_before_the_bring_up(tmp_path, monkeypatch):
    runner = Runner(tmp_path)
    entry = replace(tmp_path, monkeypatch, runner, new_key=host_key(tmp_path, "rogue"), expected=host_key(tmp_path, "new"))
    assert entry["outcome"] == "failed" and len(runner.runs) == 1
    assert entry["steps"]["learn the new host key"].startswith("refused")


def test_without_a_scheduler_nothing_is_resumed(tmp_path, monkeypatch, site):
    f = load_spec(site("lab-gb200", both(put("scheduler", {"kind": "none"}), put("monitoring.enabled", False))))
    runner = Runner(tmp_path)
    entry = replace(tmp_path, monkeypatch, runner, f=f, new_key=host_key(tmp_path, "new"), stages=["os", "drivers"])
    assert runner.runs[1].stages == ["os", "drivers"]
    assert entry["outcome"] == "in service" and len(runner.runs) == 2
    assert entry["steps"]["resume it in Slurm"].startswith("skipped")


def silenced_replace(tmp_path, monkeypatch, am: FakeAlertmanager, runner: Runner, key: str = "new") -> dict:
    """A replacement whose runs are written into `am.events` beside its silence."""
    def recording(f, options):
        am.events.append(Path(options.playbook).name if options.playbook else "site bring-up")
        return runner(f, options)

    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))
    options = ReplaceOptions(node=NODE, host_overrides={NODE: {"ansible_host": ADDRESS}}, record=tmp_path / "record.json",
                             boot_timeout=900, home=tmp_path / "home")
    return run_replace(GB200, options, runner=recording, scan=lambda a: [host_key(tmp_path, key)],
                       progress=open(tmp_path / "progress", "a"), silencer=Silencer("aifactory replace", am))


def test_the_node_is_silenced_from_before_its_drain_until_it_is_resumed(tmp_path, monkeypatch):
    am = FakeAlertmanager()
    assert silenced_replace(tmp_path, monkeypatch, am, Runner(tmp_path))["outcome"] == "in service"
    assert am.events == [("silence", [NODE]), "replace.yml", "site bring-up", "rollout_resume.yml", ("expire", [NODE])]
    silence, = am.silences.values()
    assert silence["created_by"] == "aifactory replace" and silence["state"] == "expired"
    assert silence["seconds"] > 900  # the network install's timeout and the bring-up: bounded
    assert silence["comment"].startswith(f"replacement of {NODE} on lab-gb200 started ")
    assert f"record {tmp_path / 'record.json'}" in silence["comment"]


def test_a_failed_replacement_expires_the_silence_and_an_unanswered_one_is_a_warning(tmp_path, monkeypatch):
    am = FakeAlertmanager()
    assert silenced_replace(tmp_path, monkeypatch, am, Runner(tmp_path, verdict="fail"))["outcome"] == "failed"
    assert am.events == [("silence", [NODE]), "replace.yml", "site bring-up", ("expire", [NODE])]
    entry = silenced_replace(tmp_path, monkeypatch, FakeAlertmanager(down=True), Runner(tmp_path), key="newer")
    assert entry["outcome"] == "in service"
    assert f"warning: alerts of {NODE} are not silenced: Alertmanager: " in (tmp_path / "progress").read_text()


def test_check_runs_both_playbooks_in_check_mode_and_forgets_resumes_and_records_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))
    old = host_key(tmp_path, "old")
    (tmp_path / "kh").write_text(f"{ADDRESS} {old}\n")
    (tmp_path / "facts").mkdir()
    (tmp_path / "facts" / NODE).write_text("{}")
    overrides = {NODE: {"ansible_host": ADDRESS, "ansible_ssh_common_args": f"-o UserKnownHostsFile={tmp_path}/kh"}}
    options = ReplaceOptions(node=NODE, host_overrides=overrides, record=tmp_path / "record.json", home=tmp_path / "home")
    runner = Runner(tmp_path)
    report = check_replace(GB200, options, runner=runner, progress=open(tmp_path / "progress", "a"))
    assert [(o.playbook, o.limit, o.check) for o in runner.runs] == [
        (REPLACE_PLAYBOOK, f"{NODE},{NODE}-bmc", True), (None, NODE, True)]  # no resume run
    assert (tmp_path / "kh").read_text() == f"{ADDRESS} {old}\n" and (tmp_path / "facts" / NODE).exists()
    assert not (tmp_path / "record.json").exists() and check_exit_code(report) == 0
    assert list(report["steps"]) == ["forget the old machine", "drain, read the hardware, PXE boot and power cycle",
                                     "learn the new host key", "bring the node up and accept it", "resume it in Slurm"]
    assert f"{tmp_path}/kh" in report["steps"]["forget the old machine"]
    assert "would drain it in Slurm with reason 'aifactory replace'" in report["steps"][
        "drain, read the hardware, PXE boot and power cycle"]
    assert report["steps"]["resume it in Slurm"] == "would resume it"
    report = check_replace(GB200, options, runner=Runner(tmp_path, verdict="fail"), progress=open(tmp_path / "progress", "a"))
    assert check_exit_code(report) == 1 and "check run FAILED" in report["steps"]["bring the node up and accept it"]


def test_unknown_and_absent_nodes_are_refused():
    with pytest.raises(ReplaceError, match="no such compute node"):
        check_node(GB200, ReplaceOptions(node="lab-gb200-r009-n01"))
    with pytest.raises(ReplaceError, match="marked absent"):
        check_node(GB200, ReplaceOptions(node=NODE, host_overrides={NODE: {"aifactory_absent": True}}))


def test_cli_refuses_bad_input_with_2(capsys, tmp_path):
    code, _, err = run_inprocess(capsys, "replace", site_dir("lab-gb200"), "lab-gb200-r009-n01")
    assert code == 2 and "NODE 'lab-gb200-r009-n01'" in err and "Traceback" not in err
    (tmp_path / "key.pub").write_text("not a key\n")
    code, _, err = run_inprocess(capsys, "replace", site_dir("lab-gb200"), NODE, "--host-key", tmp_path / "key.pub")
    assert code == 2 and "--host-key" in err
    code, _, err = run_inprocess(capsys, "replace", site_dir("lab-gb200"), NODE, "--stages", "os,nope")
    assert code == 2 and "'nope'" in err
    code, _, err = run_inprocess(capsys, "replace", site_dir("paris-gb200"), "paris-gb200-r001-n01", "--record", tmp_path / "r.json")
    assert code == 2 and "pass --yes" in err and not (tmp_path / "r.json").exists()
