"""aifactory_packages (playbooks/library): what dpkg says of the packages a role asks about, and what its
apt task would have to install. The decision runs on fabricated `dpkg-query` output; the module itself
runs once against a stand-in dpkg-query to show how it asks and what it returns."""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aifactory.node.parsers.acceptance import FABRIC_PACKAGES

MODULE = Path(__file__).resolve().parents[2] / "playbooks/library/aifactory_packages.py"
_spec = importlib.util.spec_from_file_location("aifactory_packages", MODULE)
packages = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(packages)


def dpkg(*rows: str) -> str:
    """dpkg-query output in the module's format from "name version want flag status" rows."""
    lines = []
    for row in rows:
        name, version, status = row.split(" ", 2)
        lines.append(f"{name}\t{'' if version == '-' else version}\t{status}")
    return "\n".join(lines) + "\n"


def test_unpinned_packages_installed_are_left_alone_and_unknown_ones_are_to_install():
    out = dpkg("munge 0.5.15-2 install ok installed", "libmunge2 0.5.15-2 install ok installed")
    state = packages.package_state(["munge", "libmunge2", "chrony"], {}, out)
    assert state["missing"] == ["chrony"] and state["to_install"] == ["chrony"] and state["outdated"] == []
    assert state["packages"]["munge"] == {"version": "0.5.15-2", "status": "installed", "installed": True, "held": False}
    assert state["packages"]["chrony"]["status"] == "not-installed"


@pytest.mark.parametrize("status", ["install reinstreq half-installed", "deinstall ok config-files",
                                    "install ok unpacked", "install ok half-configured", "unknown ok not-installed"])
def test_a_package_dpkg_knows_but_not_as_installed_is_missing(status):
    state = packages.package_state(["chrony"], {}, dpkg(f"chrony 4.3-2 {status}"))
    assert state["missing"] == ["chrony"] and state["to_install"] == ["chrony"]
    assert state["packages"]["chrony"]["status"] == status.split()[-1]
    assert state["packages"]["chrony"]["version"] == ""  # what dpkg records of it is not an installed version


def test_a_pinned_package_at_the_pin_is_left_alone_and_one_missing_is_asked_at_the_pin():
    out = dpkg("nvidia-open-580 580.95.05-0ubuntu1 hold ok installed")
    state = packages.package_state(["nvidia-open-580", "nvidia-imex-580"],
                                   {"nvidia-open-580": "580.95.05", "nvidia-imex-580": "580.95.05"}, out)
    assert state["outdated"] == [] and state["missing"] == ["nvidia-imex-580"]
    assert state["to_install"] == ["nvidia-imex-580=580.95.05*"]


def test_packages_held_at_another_version_are_outdated_and_asked_at_the_pin():
    out = dpkg("nvidia-open-580 580.82.07-1 hold ok installed", "nvidia-imex-580 580.82.07-1 hold ok installed")
    pins = dict.fromkeys(["nvidia-open-580", "nvidia-imex-580"], "580.95.05")
    state = packages.package_state(["nvidia-open-580", "nvidia-imex-580"], pins, out)
    assert state["outdated"] == ["nvidia-open-580", "nvidia-imex-580"] and state["missing"] == []
    assert state["to_install"] == ["nvidia-open-580=580.95.05*", "nvidia-imex-580=580.95.05*"]
    assert state["held"] == ["nvidia-open-580", "nvidia-imex-580"]


@pytest.mark.parametrize("installed", ["580.95.051-1", "580.9-1", "580.95.0-1", "1:580.95.05-1"])
def test_a_version_that_only_starts_like_the_pin_is_another_version(installed):
    state = packages.package_state(["nvidia-open-580"], {"nvidia-open-580": "580.95.05"},
                                   dpkg(f"nvidia-open-580 {installed} install ok installed"))
    assert state["outdated"] == ["nvidia-open-580"]


@pytest.mark.parametrize("installed", ["580.95.05", "580.95.05-1", "580.95.05+really", "580.95.05~rc1"])
def test_the_pin_then_a_debian_suffix_is_the_pinned_version(installed):
    state = packages.package_state(["nvidia-open-580"], {"nvidia-open-580": "580.95.05"},
                                   dpkg(f"nvidia-open-580 {installed} install ok installed"))
    assert state["outdated"] == [] and state["to_install"] == []


def test_a_downgrade_is_outdated_too_and_an_empty_pin_is_no_pin():
    out = dpkg("nvidia-open-580 580.95.05-1 hold ok installed", "doca-ofed 3.1.0-1 install ok installed")
    state = packages.package_state(["nvidia-open-580", "doca-ofed"], {"nvidia-open-580": "580.65.06", "doca-ofed": ""},
                                   out)
    assert state["outdated"] == ["nvidia-open-580"] and state["to_install"] == ["nvidia-open-580=580.65.06*"]


def test_held_is_the_hold_selection_whatever_the_status():
    out = dpkg("linux-image-6.8.0-45-generic 6.8.0-45.45 hold ok installed", "linux-generic 6.8.0.45.45 install ok installed",
               "cuda-keyring 1.1-1 hold ok config-files")
    state = packages.package_state(["linux-image-6.8.0-45-generic", "linux-generic", "cuda-keyring"], {}, out)
    assert state["held"] == ["linux-image-6.8.0-45-generic", "cuda-keyring"]
    assert state["missing"] == ["cuda-keyring"]


def test_of_a_package_listed_per_architecture_the_installed_one_counts():
    out = dpkg("libfoo1 1.0-1 install ok installed", "libfoo1 - unknown ok not-installed")
    assert packages.package_state(["libfoo1"], {}, out)["missing"] == []
    out = dpkg("libfoo1 - unknown ok not-installed", "libfoo1 1.0-1 install ok installed")
    assert packages.package_state(["libfoo1"], {}, out)["missing"] == []


def test_a_wildcard_reports_the_installed_matches_and_is_never_to_install():
    out = dpkg("nvidia-fabricmanager-580 580.95.05-1 hold ok installed", "nvidia-fabricmanager-570 - unknown ok not-installed",
               "nvidia-imex-580 580.95.05-1 install ok installed")
    state = packages.package_state(["nvidia-fabricmanager*", "nvidia-imex*", "nvidia-nscq*"], {}, out)
    assert sorted(state["packages"]) == ["nvidia-fabricmanager-580", "nvidia-imex-580"]
    assert state["missing"] == state["to_install"] == []


def run_module(tmp_path: Path, args: dict, answer: str, rc: int) -> tuple[dict, list[str]]:
    """The module run as Ansible runs it, with a stand-in dpkg-query first on PATH that records its
    arguments and prints `answer`, exiting `rc`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dpkg-query"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\n"
                    f"open({str(tmp_path / 'argv.json')!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
                    f"sys.stdout.write({answer!r})\nsys.exit({rc})\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    done = subprocess.run([sys.executable, str(MODULE), str(args_file)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    argv_file = tmp_path / "argv.json"
    return json.loads(done.stdout), json.loads(argv_file.read_text()) if argv_file.exists() else []


def test_the_module_asks_dpkg_query_for_just_those_names_and_changes_nothing(tmp_path):
    result, argv = run_module(tmp_path, {"names": ["munge", "chrony"], "versions": {}},
                              dpkg("munge 0.5.15-2 install ok installed"), rc=1)  # 1: chrony unknown to dpkg
    assert argv == ["--show", "--showformat", packages.SHOW_FORMAT, "--", "munge", "chrony"]
    assert result["changed"] is False and not result.get("failed")
    assert result["to_install"] == ["chrony"]


def test_the_module_fails_on_a_dpkg_query_error(tmp_path):
    result, _ = run_module(tmp_path, {"names": ["munge"]}, "", rc=2)
    assert result["failed"] is True and "dpkg-query failed (exit 2)" in result["msg"]


def test_the_acceptance_role_reads_the_fabric_packages_the_verdict_checks():
    role_vars = yaml.safe_load((MODULE.parents[1] / "roles/acceptance/vars/main.yml").read_text())
    assert role_vars["__acceptance_fabric_packages"] == [f"{prefix}*" for prefix in FABRIC_PACKAGES]


def tasks_in(items: list, conditions: tuple = ()):
    """Every task of a task list with the conditions of the blocks around it, blocks opened."""
    for task in items or []:
        when = task.get("when", [])
        here = conditions + tuple(when if isinstance(when, list) else [when])
        if "block" in task:
            yield from tasks_in(task["block"] + task.get("rescue", []) + task.get("always", []), here)
        else:
            yield task, here


def role_tasks():
    for path in sorted((MODULE.parents[1] / "roles").glob("*/tasks/*.yml")):
        for task, conditions in tasks_in(yaml.safe_load(path.read_text())):
            yield f"{path.parts[-3]}/{path.name}: {task.get('name')}", task, " ".join(map(str, conditions))


def test_every_package_install_runs_only_when_the_roles_read_of_dpkg_finds_something_to_install():
    """A no-op converge loads no APT cache and waits no async poll: each apt task that installs is conditioned
    on aifactory_packages' answer, and no role learns package state any other way."""
    unguarded, other_reads = [], []
    for where, task, conditions in role_tasks():
        apt = task.get("ansible.builtin.apt")
        if apt and ("name" in apt or "deb" in apt) and not any(k in conditions for k in ("to_install", ".missing")):
            unguarded.append(where)
        command = task.get("ansible.builtin.command") or {}
        argv = command.get("argv", []) if isinstance(command, dict) else []
        if "ansible.builtin.package_facts" in task or (argv and argv[0] == "dpkg-query"):
            other_reads.append(where)
    assert unguarded == [] and other_reads == []


# The roles whose packages ship daemons the role itself starts once their configuration is written.
DAEMON_ROLES = {"munge": {"munge"}, "slurm": {"slurmctld", "slurmd"}, "slurmdbd": {"mariadb", "slurmdbd"}}


def test_daemon_packages_install_without_starting_and_the_role_starts_each_daemon():
    """slurmd and slurmctld (Type=notify) started by their package's scripts before slurm.conf exists wait out
    systemd's start timeout (about 90 s a node): the install forbids starts (policy-rc.d 101) and the role
    starts every daemon itself after writing its configuration."""
    for role, daemons in DAEMON_ROLES.items():
        tasks = [(where, task) for where, task, _ in role_tasks() if where.startswith(f"{role}/")]
        installs = [task["ansible.builtin.apt"] for _, task in tasks if "name" in task.get("ansible.builtin.apt", {})]
        assert installs and all(apt.get("policy_rc_d") == 101 for apt in installs), role
        started = {task["ansible.builtin.systemd_service"]["name"] for _, task in tasks
                   if task.get("ansible.builtin.systemd_service", {}).get("state") == "started"}
        assert started == daemons, role
