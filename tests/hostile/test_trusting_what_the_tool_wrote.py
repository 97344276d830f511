"""What aifactory wrote and reads back is input like any other (issue 27, class 4): a rollout or replace record, a
host override, stack outputs, a bring-up marker and a lab's state are typed, bounded and checked against the site
they claim to be of, so a record naming `all`, a "false" that Jinja reads as true, outputs of another region or a
marker naming someone's files are refused, never acted on."""

from __future__ import annotations

import json

import pytest

from aifactory.core.inputs import BadInput
from aifactory.day2.records import write_record
from aifactory.day2.rollout import RolloutOptions, prepare
from aifactory.lab.state import LabState
from aifactory.spec import load_spec
from tests.conftest import site_dir
from tests.hostile.conftest import assert_refused, run_inprocess

SITE = site_dir("lab-gb200")
NODE = "lab-gb200-r001-n01"


@pytest.fixture
def rollout_record(tmp_path):
    """A stopped drivers rollout of lab-gb200, as aifactory writes it; `edit(record)` changes it first."""

    def write(edit) -> object:
        path = tmp_path / "rollout.json"
        _, record = prepare(load_spec(SITE), RolloutOptions(stage="drivers", record=path))
        record["status"], record["stopped_at"], record["batches"][0]["outcome"] = "stopped", 1, "failed"
        edit(record)
        write_record(path, record)
        return path

    return write


def resume(capsys, path, tmp_path):
    return run_inprocess(capsys, "rollout", SITE, "--stage", "drivers", "--resume", "--record", path, "--yes",
                         "--artifacts-dir", tmp_path / "artifacts")


def test_an_untouched_record_resumes_past_the_checks(capsys, tmp_path, rollout_record, monkeypatch):
    """The checks refuse what is wrong, not every record: aifactory's own gets to the run."""
    from aifactory.commands import rollout as command

    started = []
    monkeypatch.setattr(command, "run_rollout", lambda f, options, path, record: started.append(record) or record)
    path = rollout_record(lambda r: None)
    code, _, err = resume(capsys, path, tmp_path)
    assert started and started[0]["batches"][0]["nodes"] == [NODE], err


@pytest.mark.parametrize("edit, named", [
    (lambda r: r["batches"][0].update(nodes=["all"]), "batches.1.nodes: all"),
    (lambda r: r["batches"][1]["nodes"].append("evil.example.org"), "evil.example.org"),
    (lambda r: r["batches"][0].update(drained=["lab-gb200-head01"]), "lab-gb200-head01"),
    (lambda r: r.update(slurm=False, drain_reason=None), "does not drain"),
    (lambda r: r.update(slurm="false"), "slurm: Input should be a valid boolean"),
    (lambda r: r.update(site="paris-gb200"), "a rollout record of paris-gb200, not of lab-gb200"),
    (lambda r: r.update(drain_timeout=10**9), "drain_timeout"),
    (lambda r: r["batches"].append(dict(r["batches"][0], index=len(r["batches"]) + 1)), "names a node already"),
    (lambda r: r["batches"][0].update(outcome="skipped"), "batches.0.outcome"),
    (lambda r: r.update(stage="../../etc"), "is not one rolled out in batches"),
], ids=["batch of all", "foreign host", "drained head node", "slurm said off", "boolean as text", "another site",
        "unbounded timeout", "node twice", "unknown outcome", "unknown stage"])
def test_a_rollout_record_is_checked_before_resume(capsys, tmp_path, rollout_record, edit, named):
    path = rollout_record(edit)
    code, _, err = resume(capsys, path, tmp_path)
    assert_refused(code, err, str(path), named)
    assert not (tmp_path / "artifacts").exists(), "something ran"


def test_a_replace_record_of_another_site_or_node_is_refused(capsys, tmp_path):
    record = tmp_path / "replace.json"
    entry = {"node": "all", "address": "10.0.0.1", "started": "2026-01-01T00:00:00Z", "outcome": "in service",
             "steps": {}, "hardware": None, "previous_hardware": None, "host_key": None}
    for data, named in [({"site": "lab-gb200", "replacements": [entry]}, "replacements.0.node: all"),
                        ({"site": "paris-gb200", "replacements": []}, "not of lab-gb200"),
                        ({"site": "lab-gb200", "replacements": [dict(entry, node=NODE, outcome=1)]}, "outcome")]:
        record.write_text(json.dumps(data))
        code, _, err = run_inprocess(capsys, "replace", SITE, NODE, "--record", record, "--yes",
                                     "--artifacts-dir", tmp_path / "artifacts")
        assert_refused(code, err, str(record), named)
        assert not (tmp_path / "artifacts").exists(), "something ran"


@pytest.mark.parametrize("name, value", [("os_baseline_apply_sysctl", "false"), ("aifactory_kernel_modules", "false"),
                                         ("nvidia_gpu_kernel_modules", 0), ("bmc_validate_certs", "no")])
def test_a_boolean_host_override_given_as_text_is_refused(capsys, tmp_path, name, value):
    """"false" is true to Jinja: the kernel modules would be loaded on a host that said it has none."""
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({NODE: {name: value}}))
    code, _, err = run_inprocess(capsys, "bringup", SITE, "--check", "--host-overrides", overrides,
                                 "--artifacts-dir", tmp_path / "artifacts")
    assert_refused(code, err, f"{NODE}.{name}", "must be true or false")
    assert not (tmp_path / "artifacts").exists(), "something ran"


REGION = "eu-central-1"  # lab-gb200's home region
OUTPUTS = {"region": REGION, "trust_anchor_arn": f"arn:aws:rolesanywhere:{REGION}:111122223333:trust-anchor/1b2c",
           "node_role_arn": "arn:aws:iam::111122223333:role/lab-gb200-node",
           "endpoint_dns": {"ssm": f"vpce-0a1b-ssm.{REGION}.vpce.amazonaws.com"}}


@pytest.mark.parametrize("change, named", [
    ({}, None),
    ({"region": "us-east-1"}, "region"),
    ({"trust_anchor_arn": "arn:aws:rolesanywhere:us-east-1:111122223333:trust-anchor/1b2c"}, "trust_anchor_arn"),
    ({"trust_anchor_arn": f"arn:aws-cn:rolesanywhere:{REGION}:111122223333:trust-anchor/1b2c"}, "trust_anchor_arn"),
    ({"node_role_arn": "arn:aws:iam::444455556666:role/lab-gb200-node"}, "different AWS accounts"),
    ({"endpoint_dns": {"ssm": "vpce-0a1b-ssm.us-east-1.vpce.amazonaws.com"}}, "endpoint_dns.ssm"),
], ids=["own stack", "other region", "arn of other region", "other partition", "other account", "endpoint elsewhere"])
def test_stack_outputs_of_another_stack_are_refused(capsys, tmp_path, change, named):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({**OUTPUTS, **change}))
    code, _, err = run_inprocess(capsys, "rollout", SITE, "--stage", "drivers", "--resume", "--record",
                                 tmp_path / "none.json", "--stack-outputs", outputs)
    if named is None:  # the own stack's outputs pass the checks; the missing record stops the run after them
        assert code == 2 and "no rollout record" in err and "stack outputs" not in err, err
    else:
        assert_refused(code, err, "stack outputs", named, "home region" if "account" not in named else "")


def test_a_marker_naming_someone_elses_directory_rewrites_nothing(tmp_path, capsys, monkeypatch):
    """A marker in the state directory could name any directory: the next command (even `schema`) would mask
    secret values in its files. Only a run directory that names the marker back is scrubbed."""
    secret = "s3cr3t-value-for-the-marker-test"
    monkeypatch.setenv("AIFACTORY_SSH_PASSWORD", secret)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text(f"password={secret}\n")
    (victim / "secrets.fifo").write_text("not ours to remove")
    runs = tmp_path / "state" / "bringup-runs"
    runs.mkdir(parents=True)
    marker = runs / f"999999999-{victim.name}.json"
    marker.write_text(json.dumps({"pid": 999999999, "run_dir": str(victim)}))
    code, _, err = run_inprocess(capsys, "schema")
    assert code == 0
    assert (victim / "notes.txt").read_text() == f"password={secret}\n" and (victim / "secrets.fifo").exists()
    assert f"warning: {marker}" in err and "is no run directory of aifactory's" in err and "left alone" in err


def test_the_secrets_masking_env_is_what_the_marker_test_sets():
    """The marker test's variable is one aifactory treats as a secret (else it would prove nothing)."""
    from aifactory.node.bringup import secret_env

    assert "AIFACTORY_SSH_PASSWORD" in secret_env({"AIFACTORY_SSH_PASSWORD": "x"})


@pytest.mark.parametrize("state, named", [
    ({"site": "lab-b200", "resources": [{"kind": "netns"}], "endpoints": {}, "nodes": {}}, "not the lab state of lab-gb200"),
    ({"site": "lab-gb200", "resources": [{"kind": "rm -rf"}], "endpoints": {}, "nodes": {}}, "resources of the kinds"),
    ({"site": "lab-gb200", "resources": "all", "endpoints": {}, "nodes": {}}, "not the lab state"),
])
def test_a_lab_state_of_another_site_or_shape_is_refused(tmp_path, monkeypatch, state, named):
    monkeypatch.setenv("AIFACTORY_LAB_DIR", str(tmp_path / "labs"))
    path = tmp_path / "labs" / "lab-gb200" / "state.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(state))
    with pytest.raises(BadInput, match=named):
        LabState.load("lab-gb200")


def test_lab_ssh_refuses_a_site_name_that_walks_out_of_the_state_directory(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_inprocess(capsys, "lab", "ssh", "../../x", NODE)
    assert_refused(code, err, "../../x", "not a site's name")
