"""Refusals that say what to change (issue 27, class 8): bad input that used to reach the last resort ("unexpected
X (a bug in aifactory)") or an empty reason now names the file, option or field; git's reason reaches `diff`; no
credential given in an option or field is echoed. In-process runs keep the last resort's traceback, so reaching it
fails these tests."""

from __future__ import annotations

import json
import subprocess

import pytest

from aifactory.core.inputs import BadInput
from aifactory.spec.validators import shown
from tests.conftest import site_dir
from tests.hostile.conftest import assert_refused, run_inprocess, run_subprocess

SITE = site_dir("lab-gb200")
LONG = "x" * 300  # past NAME_MAX (255)
DEEP = "/".join(["d" * 200] * 30)  # past PATH_MAX (4096)


@pytest.mark.parametrize("argv, named", [
    (["validate", LONG], "File name too long"),
    (["lab", "status", DEEP], "File name too long"),
    (["report", SITE, "-o", "/nonexistent-dir/page.html"], "-o/--output: /nonexistent-dir/page.html: no such directory"),
    (["report", SITE, "-o", DEEP], "-o/--output"),
    (["rollout", SITE, "--stage", "drivers", "--record", f"/{LONG}/r.json"], "--record"),
    (["plan", SITE, "--sarif", "/"], "--sarif: /: not a regular file to write (a directory)"),
    (["bringup", SITE, "--artifacts-dir", "/proc/version/runs"], "--artifacts-dir: /proc/version/runs: Not a directory"),
])
def test_paths_no_command_can_use_are_refused_by_name(capsys, argv, named):
    code, _, err = run_inprocess(capsys, *argv)
    assert_refused(code, err, named)


def test_a_record_that_is_json_but_not_a_record_is_refused_before_a_replacement_starts(capsys, tmp_path):
    record = tmp_path / "replace.json"
    record.write_text(json.dumps([1, 2, 3]))
    code, _, err = run_inprocess(capsys, "replace", SITE, "lab-gb200-r001-n01", "--record", record, "--yes",
                                 "--artifacts-dir", tmp_path / "artifacts")
    assert_refused(code, err, str(record), "not a replacement record", "fix or remove the file")
    assert not (tmp_path / "artifacts").exists(), "something ran"


def test_diff_says_why_git_refused(capsys, site):
    code, _, err = run_inprocess(capsys, "diff", SITE, "--against", "no-such-ref-27")
    assert_refused(code, err, "no-such-ref-27 is neither a commit of", "nor a saved plan file")
    outside = site("lab-gb200")  # a copy outside any git repository
    code, _, err = run_inprocess(capsys, "diff", outside, "--against", "HEAD")
    assert_refused(code, err, "git rev-parse --show-toplevel", "not a git repository")


def test_a_saved_plan_that_is_not_one_names_the_option(capsys, tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text('{"resources": ')
    code, _, err = run_inprocess(capsys, "diff", SITE, "--against", plan)
    assert_refused(code, err, f"--against {plan}: not a plan JSON", "not valid JSON at line 1")


@pytest.mark.parametrize("value", ["http://admin:hunter2-27@127.0.0.1:5000 x", "https://admin:hunter2-27@[::1"])
def test_no_credential_in_an_option_is_echoed(value):
    result = run_subprocess("plan", SITE, "--aws-endpoint", value)
    assert_refused(result.returncode, result.stderr, "--aws-endpoint", "://***@")
    assert "hunter2-27" not in result.stderr + result.stdout


def test_no_credential_in_a_spec_field_is_echoed(site):
    spec = site("lab-gb200", lambda d: d["software"].setdefault("mirrors", {}).update(
        apt="http://admin:hunter2-27@203.0.113.9/ubuntu"))
    for fmt in ("table", "json", "sarif", "junit"):
        result = run_subprocess("validate", spec, "--format", fmt)
        assert result.returncode == 2 and "software.mirrors.apt" in result.stderr + result.stdout
        assert "hunter2-27" not in result.stderr + result.stdout


def test_shown_masks_the_user_info_of_every_url_and_keeps_the_rest():
    assert shown("mirror http://u:p@host/x and ftp://token@h") == "mirror http://***@host/x and ftp://***@h"
    assert shown("http://host/path@v2 and user@example.org") == "http://host/path@v2 and user@example.org"


# Credentials in URLs of any scheme, written as people write them: a password holding '/', '?' or '#' unencoded
# (AWS secret keys hold '/'), a token as the user name. Each field: (URL, the parts that must never be echoed).
CREDENTIAL_FIELDS = {
    "software.mirrors.apt": ("ftp://mirror-user:hunter2/27@mirror.example/debian", ["hunter2", "mirror-user"]),
    "software.mirrors.nvidia": ("s3://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY@bucket/apt",
                                ["AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI", "bPxRfiCY"]),
    "software.mirrors.pypi": ("sftp://ops:pa?ss#27@mirror.example/simple", ["pa?ss", "ss#27"]),  # an unknown field
    "compute.racks": ("rsync://ghp_token27secret@mirror.example/x", ["ghp_token27secret"]),  # a type error
}


def test_shown_masks_user_info_holding_slashes_queries_and_fragments_for_every_scheme():
    for url, secrets in CREDENTIAL_FIELDS.values():
        echoed = shown(url, 200)
        assert "://***@" in echoed and not [s for s in secrets if s in echoed], echoed
    assert shown("s3://KEY:se/cr/et@bucket/p") == "s3://***@bucket/p"
    assert shown("ftp://u:p@ss@host/x") == "ftp://***@host/x"  # an '@' in the password too


@pytest.mark.parametrize("fmt", ["table", "json", "sarif", "junit"])
def test_no_credential_in_a_url_of_any_scheme_is_echoed_in_any_format(site, fmt):
    def mutate(data):
        data["software"].setdefault("mirrors", {}).update(
            {field.rsplit(".", 1)[1]: url for field, (url, _) in CREDENTIAL_FIELDS.items() if field.startswith("software")})
        data["compute"]["racks"] = CREDENTIAL_FIELDS["compute.racks"][0]

    result = run_subprocess("validate", site("lab-gb200", mutate), "--format", fmt)
    said = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in said
    for field, (_url, secrets) in CREDENTIAL_FIELDS.items():
        assert field in said, (field, said)
        assert not [s for s in secrets if s in said], (field, said)


def test_a_git_that_cannot_run_is_named(monkeypatch, capsys):
    def missing(*args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", "git")

    monkeypatch.setattr(subprocess, "run", missing)
    code, _, err = run_inprocess(capsys, "diff", SITE, "--against", "HEAD")
    assert_refused(code, err, "cannot run git")


@pytest.mark.parametrize("variable, value, named", [
    ("AIFACTORY_STATE_DIR", "{file}", "not a directory"),
    ("AIFACTORY_STATE_DIR", "{file}/state", "is not one"),
    ("AIFACTORY_STATE_DIR", "relative/state", "not an absolute path"),
    ("AIFACTORY_STATE_DIR", "/" + LONG, "File name too long"),
    ("XDG_STATE_HOME", "{file}", "not a directory"),
    ("AIFACTORY_LAB_DIR", "{file}", "not a directory"),
])
@pytest.mark.parametrize("argv", [["schema"], ["rollout", SITE, "--stage", "drivers", "--resume"]])
def test_a_state_directory_that_cannot_be_one_is_refused_by_its_variable(capsys, monkeypatch, tmp_path, variable,
                                                                         value, named, argv):
    """A file (or a relative path) where the environment names aifactory's state directory: exit 2 naming the
    variable, before any command writes there (rollout used to reach the last resort)."""
    (tmp_path / "a-file").write_text("")
    monkeypatch.chdir(tmp_path)
    if variable == "XDG_STATE_HOME":
        monkeypatch.delenv("AIFACTORY_STATE_DIR")
    monkeypatch.setenv(variable, value.format(file=tmp_path / "a-file"))
    code, _, err = run_inprocess(capsys, *argv)
    assert_refused(code, err, f"{variable}=", named, f"set {variable} to an absolute path")
    assert not (tmp_path / "relative").exists()


def test_a_relative_xdg_state_home_is_ignored(monkeypatch, tmp_path):
    """The XDG Base Directory specification: a relative path in XDG_STATE_HOME is invalid and ignored."""
    from aifactory.core.userstate import state_dir

    monkeypatch.delenv("AIFACTORY_STATE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", "relative")
    assert state_dir() == tmp_path / ".local" / "state" / "aifactory"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert state_dir() == tmp_path / "xdg" / "aifactory"


@pytest.mark.parametrize("options, named", [
    (["--trays-per-rack", "0"], "--trays-per-rack must be 1 to"),
    (["--trays-per-rack", "1", "--fault", "lab-gb200-r001-n02:gpu-missing"], "--fault: lab-gb200-r001-n02 would not boot"),
])
def test_lab_up_options_out_of_range_exit_2_before_anything_starts(capsys, monkeypatch, options, named):
    from aifactory.commands import lab

    monkeypatch.setattr(lab, "_preflight", lambda: pytest.fail("the host was checked before the options"))
    code, _, err = run_inprocess(capsys, "lab", "up", SITE, *options)
    assert_refused(code, err, named)


def test_a_directory_where_the_spec_belongs_is_refused_by_name(capsys, tmp_path):
    """A site whose factory.yaml is a directory: exit 2 naming it (the reader used to open it as a file object and
    reach the last resort)."""
    (tmp_path / "site" / "factory.yaml").mkdir(parents=True)
    code, _, err = run_inprocess(capsys, "validate", tmp_path / "site")
    assert_refused(code, err, "site/factory.yaml", "not a regular file")


@pytest.mark.parametrize("summary", ["directory", "not JSON", "another shape"])
def test_an_acceptance_summary_that_is_not_one_is_refused_naming_it(tmp_path, summary):
    """A report never leaves a rack out silently: a summary it cannot read is named, exit 2."""
    from aifactory.reports.html import last_acceptance
    from aifactory.spec import load_spec

    (tmp_path / "summary-rack01.json").write_text(json.dumps({"rack": "rack01", "result": "pass", "hosts": {}, "checks": {}}))
    bad = tmp_path / "summary-rack02.json"
    if summary == "directory":
        bad.mkdir()
    else:
        bad.write_text("{not json" if summary == "not JSON" else '{"rack": "rack02", "verdict": "pass"}')
    with pytest.raises(BadInput) as refused:
        last_acceptance(load_spec(SITE), tmp_path)
    assert str(bad) in str(refused.value) and "run the acceptance stage again" in str(refused.value)
    bad.unlink() if summary != "directory" else bad.rmdir()
    assert [r["rack"] for r in last_acceptance(load_spec(SITE), tmp_path)] == ["rack01"]


def test_a_state_bucket_name_s3_refuses_is_refused_before_aws_is_asked(capsys):
    # The endpoint is never reached: port 9 (discard) on 127.0.0.1 answers nothing.
    code, _, err = run_inprocess(capsys, "bootstrap", SITE, "--bucket", "BAD bucket", "--aws-endpoint", "http://127.0.0.1:9")
    assert_refused(code, err, "--bucket", "BAD bucket", "lowercase letters")


def test_a_region_to_verify_outside_the_allowed_ones_is_refused(capsys):
    code, _, err = run_inprocess(capsys, "verify", SITE, "--region", "x y", "--aws-endpoint", "http://127.0.0.1:9")
    assert_refused(code, err, "--region", "x y", "sovereignty.allowed_regions")
