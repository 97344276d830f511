"""aifactory_files (playbooks/library): the files and directories a role keeps, compared and put right in one
module run. The module runs as Ansible runs it (a JSON arguments file), on a temporary tree owned by this user."""

from __future__ import annotations

import grp
import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

MODULE = Path(__file__).resolve().parents[2] / "playbooks/library/aifactory_files.py"
OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def run_module(files: list, check: bool = False, diff: bool = False, tmp: Path | None = None) -> dict:
    """The module's result for these entries."""
    args = {"files": files, "_ansible_check_mode": check, "_ansible_diff": diff}
    args_file = (tmp or Path("/tmp")) / f"args-{os.getpid()}.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    try:
        done = subprocess.run([sys.executable, str(MODULE), str(args_file)], capture_output=True, text=True,
                              timeout=60)
    finally:
        args_file.unlink()
    return json.loads(done.stdout)


def entries(root: Path) -> list[dict]:
    """A role's files: a directory with a parent still missing, and two files in it."""
    return [{"path": str(root / "etc/app"), "state": "directory", "owner": OWNER, "group": GROUP, "mode": "0750"},
            {"path": str(root / "etc/app/app.conf"), "content": "port = 80\n", "owner": OWNER, "group": GROUP,
             "mode": "0644"},
            {"path": str(root / "etc/app/token"), "content": "s3cret\n", "mode": "0600"}]


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def test_a_first_run_creates_every_path_with_its_attributes_and_a_second_changes_nothing(tmp_path):
    first = run_module(entries(tmp_path))
    assert first["changed"] is True and not first.get("failed")
    assert first["changed_paths"] == [e["path"] for e in entries(tmp_path)]
    assert (tmp_path / "etc/app/app.conf").read_text() == "port = 80\n"
    assert mode(tmp_path / "etc") == mode(tmp_path / "etc/app") == 0o750  # the missing parent too
    assert mode(tmp_path / "etc/app/app.conf") == 0o644 and mode(tmp_path / "etc/app/token") == 0o600
    second = run_module(entries(tmp_path))
    assert second["changed"] is False and second["changed_paths"] == []
    assert sorted(p.name for p in (tmp_path / "etc/app").iterdir()) == ["app.conf", "token"]  # no temporary file


def test_drift_in_content_or_mode_is_put_right_on_just_those_paths(tmp_path):
    run_module(entries(tmp_path))
    (tmp_path / "etc/app/app.conf").write_text("port = 8080\n")
    (tmp_path / "etc/app/token").chmod(0o644)
    result = run_module(entries(tmp_path), diff=True)
    assert result["changed_paths"] == [str(tmp_path / "etc/app/app.conf"), str(tmp_path / "etc/app/token")]
    assert (tmp_path / "etc/app/app.conf").read_text() == "port = 80\n" and mode(tmp_path / "etc/app/token") == 0o600
    assert result["diff"] == [{"before_header": str(tmp_path / "etc/app/app.conf"),
                               "after_header": str(tmp_path / "etc/app/app.conf"),
                               "before": "port = 8080\n", "after": "port = 80\n"}]  # the mode alone has no content diff


def test_check_mode_names_what_would_change_and_changes_nothing(tmp_path):
    run_module(entries(tmp_path))
    (tmp_path / "etc/app/app.conf").write_text("port = 8080\n")
    (tmp_path / "etc/app/token").unlink()
    (tmp_path / "etc/app").chmod(0o755)
    result = run_module(entries(tmp_path), check=True)
    assert result["changed_paths"] == [e["path"] for e in entries(tmp_path)]
    assert (tmp_path / "etc/app/app.conf").read_text() == "port = 8080\n"
    assert not (tmp_path / "etc/app/token").exists() and mode(tmp_path / "etc/app") == 0o755
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert run_module(entries(fresh), check=True)["changed_paths"] == [e["path"] for e in entries(fresh)]
    assert list(fresh.iterdir()) == []


def test_a_symbolic_link_at_a_files_path_is_replaced_by_the_file(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("port = 80\n")
    (tmp_path / "app.conf").symlink_to(target)
    result = run_module([{"path": str(tmp_path / "app.conf"), "content": "port = 80\n", "mode": "0644"}])
    assert result["changed_paths"] == [str(tmp_path / "app.conf")]
    assert not (tmp_path / "app.conf").is_symlink() and target.read_text() == "port = 80\n"


def test_bad_entries_and_a_host_that_does_not_fit_fail_naming_each_and_change_nothing(tmp_path):
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "a-file").write_text("x")
    bad = run_module([{"path": "relative", "content": ""}, {"path": str(tmp_path / "x"), "state": "link"},
                      {"path": str(tmp_path / "y")}, {"path": str(tmp_path / "z"), "state": "directory", "content": ""},
                      {"path": str(tmp_path / "w"), "content": "", "modes": "0644"}])
    assert bad["failed"] and bad["changed_paths"] == []
    for part in ("files[0] (relative): path must be absolute", "state must be one of file, directory",
                 "files[2]", "a file needs its content", "a directory has no content", "unknown keys modes"):
        assert part in bad["msg"], bad["msg"]
    host = run_module([{"path": str(tmp_path / "new.conf"), "content": "x"},
                       {"path": str(tmp_path / "a-dir"), "content": "x"},
                       {"path": str(tmp_path / "a-file"), "state": "directory"},
                       {"path": str(tmp_path / "a-file/below/app.conf"), "content": "x"}])
    assert host["failed"]
    for part in ("a-dir: a directory is there", "a-file: something other than a directory",
                 f"app.conf: {tmp_path / 'a-file'} is not a directory"):
        assert part in host["msg"], host["msg"]
    assert not (tmp_path / "new.conf").exists()  # nothing written, the good entry's included


def test_a_files_missing_directories_are_created_as_copy_creates_them(tmp_path):
    path = tmp_path / "etc/app/app.conf"
    assert run_module([{"path": str(path), "content": "x", "mode": "0600"}], check=True)["changed_paths"] == [str(path)]
    assert not (tmp_path / "etc").exists()
    assert run_module([{"path": str(path), "content": "x", "mode": "0600"}])["changed_paths"] == [str(path)]
    assert path.read_text() == "x" and mode(path) == 0o600 and (tmp_path / "etc/app").is_dir()


def test_a_large_or_binary_content_is_not_shown_in_a_diff(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"\0" * 10)
    result = run_module([{"path": str(path), "content": "x" * 70000}], diff=True)
    assert result["diff"][0]["before"] == "(10 bytes, not shown)\n"
    assert result["diff"][0]["after"] == "(70000 bytes, not shown)\n"


def test_the_modules_directory_and_attributes_apply_to_entries_that_give_none(tmp_path):
    files = [{"path": "slurm.conf", "content": "a\n"}, {"path": "gres.conf", "content": "b\n", "mode": "0600"},
             {"path": str(tmp_path / "elsewhere.conf"), "content": "c\n"}]
    args = {"files": files, "directory": str(tmp_path / "etc"), "mode": "0640", "_ansible_check_mode": False}
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    done = subprocess.run([sys.executable, str(MODULE), str(args_file)], capture_output=True, text=True, timeout=60)
    result = json.loads(done.stdout)
    assert result["changed_paths"] == [str(tmp_path / "etc/slurm.conf"), str(tmp_path / "etc/gres.conf"),
                                       str(tmp_path / "elsewhere.conf")]
    assert mode(tmp_path / "etc/slurm.conf") == 0o640 and mode(tmp_path / "etc/gres.conf") == 0o600
    assert mode(tmp_path / "elsewhere.conf") == 0o640
