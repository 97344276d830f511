"""No traceback, ever, from user input (issue 13, item 2): every command turns bad files and options into
exit 2 and a message naming the file or option."""

from __future__ import annotations

import json
import os

import pytest

from aifactory.cli import build_parser
from tests.hostile.conftest import REPO, assert_refused, run_inprocess, run_subprocess

LAB = str(REPO / "inventories" / "lab-b200")


@pytest.fixture
def files(tmp_path):
    """One hostile input file per kind, by name."""
    made = {}
    made["fifo"] = tmp_path / "fifo.json"
    os.mkfifo(made["fifo"])
    made["loop"] = tmp_path / "loop.json"
    made["loop"].symlink_to(made["loop"])
    made["latin1"] = tmp_path / "latin1.json"
    made["latin1"].write_bytes(b'{"region": "caf\xe9"}')
    made["deep"] = tmp_path / "deep.json"
    made["deep"].write_text("[" * 200_000 + "]" * 200_000)
    made["deep_object"] = tmp_path / "deep-object.json"
    made["deep_object"].write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
    made["huge_int"] = tmp_path / "huge.json"
    made["huge_int"].write_text('{"forks": ' + "9" * 50_000 + "}")
    made["devzero"] = "/dev/zero"
    made["spec_latin1"] = tmp_path / "site" / "factory.yaml"
    made["spec_latin1"].parent.mkdir()
    made["spec_latin1"].write_bytes("name: caf\xe9\n".encode("latin-1"))
    return made


BRINGUP_FILE_OPTIONS = ["--stack-outputs", "--host-overrides", "-e"]
BAD_FILES = {"fifo": "not a regular file", "loop": "Too many levels of symbolic links", "latin1": "not UTF-8",
             "deep": "nested too deeply", "huge_int": "not usable JSON", "devzero": "not a regular file"}


@pytest.mark.parametrize("option", BRINGUP_FILE_OPTIONS)
@pytest.mark.parametrize("kind", BAD_FILES)
def test_bringup_input_files(capsys, tmp_path, files, option, kind):
    value = f"@{files[kind]}" if option == "-e" else str(files[kind])
    code, _, err = run_inprocess(capsys, "bringup", LAB, "--check", option, value,
                                 "--artifacts-dir", tmp_path / "artifacts")
    assert_refused(code, err, BAD_FILES[kind])
    assert not (tmp_path / "artifacts").exists(), "something ran"


@pytest.mark.parametrize("argv,named", [
    (["plan", LAB, "--aws-endpoint", "not a url"], "--aws-endpoint"),
    (["plan", LAB, "--aws-endpoint", "http://[::1"], "--aws-endpoint"),
    (["verify", LAB, "--aws-endpoint", "http://127.0.0.1:99999"], "--aws-endpoint"),
    (["bootstrap", LAB, "--aws-endpoint", "file:///etc/passwd"], "--aws-endpoint"),
    (["bringup", LAB, "--forks", "-3"], "--forks"),
    (["bringup", LAB, "--forks", "9" * 400], "--forks"),
    (["bringup", LAB, "--check", "-e", "[1, 2]"], "not a JSON object"),
    (["bringup", LAB, "--check", "-e", "{" * 100_000], "--extra-vars"),
    (["bringup", LAB, "--check", "--playbook", "/nonexistent/site.yml"], "--playbook: /nonexistent/site.yml: no such file"),
    (["bringup", LAB, "--check", "--stack-outputs", "bad\0path.json"], "NUL byte"),
    (["bringup", LAB, "--check", "--playbook", "bad\0path.yml"], "--playbook"),
    (["bringup", LAB, "--check", "--artifacts-dir", "/dev/null/runs"], "--artifacts-dir"),
    (["bringup", LAB, "--check", "--host-overrides", "/nonexistent.json"], "no such file"),
])
def test_bad_options(capsys, argv, named):
    code, _, err = run_inprocess(capsys, *argv)
    assert_refused(code, err, named)


@pytest.mark.parametrize("command", [["validate"], ["plan"], ["verify"], ["bootstrap"], ["bringup", "--check"],
                                     ["lab", "up"], ["lab", "status"], ["lab", "down"], ["rehearse"]])
def test_every_command_refuses_a_bad_spec(capsys, files, command):
    """A spec that is not UTF-8 stops every command with exit 2 before anything starts."""
    code, _, err = run_inprocess(capsys, command[0], *command[1:2], files["spec_latin1"], *command[2:])
    assert_refused(code, err, "(file)", "not UTF-8")


def test_subprocess_subset(files, tmp_path):
    """The same refusals through the console script: deep JSON as stack outputs, a malformed endpoint."""
    result = run_subprocess("bringup", LAB, "--check", "--stack-outputs", files["deep_object"],
                            "--artifacts-dir", tmp_path / "artifacts")
    assert_refused(result.returncode, result.stderr, "deep-object.json", "nested too deeply")
    result = run_subprocess("plan", LAB, "--aws-endpoint", "localhost:5000")
    assert_refused(result.returncode, result.stderr, "--aws-endpoint")


def test_every_help_documents_its_exit_codes():
    parser = build_parser()
    helps = [parser.format_help()]
    for action in parser._subparsers._group_actions:
        for name, sub in action.choices.items():
            helps.append(sub.format_help())
            for inner in sub._subparsers._group_actions if sub._subparsers else []:
                helps += [p.format_help() for p in inner.choices.values()]
    assert len(helps) > 9
    for text in helps:
        assert "exit codes:" in text and "  2  " in text.replace("  2    ", "  2  "), text


@pytest.mark.parametrize("command", [["bringup", "--check"], ["rollout", "--stage", "drivers", "--record"],
                                     ["replace", "--record"]])
def test_a_host_override_mark_that_is_not_a_boolean_is_refused_naming_host_and_mark(capsys, tmp_path, command):
    """`aifactory_absent: "yes"` would be read as absent by one reader and present by another: refused."""
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"lab-b200-r001-n01": {"aifactory_absent": "yes"}}))
    node = ["lab-b200-r001-n01"] if command[0] == "replace" else []
    record = [tmp_path / "record.json"] if command[-1] == "--record" else []
    code, _, err = run_inprocess(capsys, command[0], LAB, *node, *command[1:], *record, "--host-overrides", overrides,
                                 "--yes", "--artifacts-dir", tmp_path / "artifacts")
    assert_refused(code, err, "lab-b200-r001-n01", "aifactory_absent must be true or false")
    assert not (tmp_path / "artifacts").exists() and not (tmp_path / "record.json").exists(), "something ran"


@pytest.mark.parametrize("switch, instead", [("aifactory_stand_in", "aifactory_kernel_modules"),
                                             ("scratch_storage_stand_in", "scratch_storage_kernel_modules")])
def test_an_old_lab_switch_in_host_overrides_is_refused_naming_the_capability_variables(capsys, tmp_path, switch, instead):
    """The lab enters through capabilities: a host override that still sets the old switch would silently do
    nothing, so it is refused, saying what to set instead."""
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"lab-b200-r001-n02": {switch: True}}))
    code, _, err = run_inprocess(capsys, "bringup", LAB, "--check", "--host-overrides", overrides,
                                 "--artifacts-dir", tmp_path / "artifacts")
    assert_refused(code, err, f"lab-b200-r001-n02.{switch}", "the lab switch is gone", instead)
    assert not (tmp_path / "artifacts").exists(), "something ran"


def test_json_problems_of_a_bad_input_file(capsys, files):
    code, out, err = run_inprocess(capsys, "validate", files["fifo"], "--format", "json")
    assert code == 2 and "Traceback" not in err
    assert json.loads(out)["problems"][0]["path"] == "(file)"


def test_host_output_cannot_drive_the_terminal():
    """A failing task's message comes from the host: its escape sequences are shown, not obeyed."""
    import io

    from aifactory.node.bringup import Progress, Redactor

    stream = io.StringIO()
    progress = Progress(stream, Redactor([]), tty=False)
    progress({"event": "runner_on_failed", "event_data": {"host": "n1", "res": {"msg": "\x1b[2J\x1b]0;owned\x07" + "x" * 900}}})
    line = stream.getvalue()
    assert "\x1b" not in line and "\\x1b[2J" in line and "(914 characters)" in line
