"""The os stage on lab nodes, air-gapped as on a real site: APT points only at the lab's mirror
bundle, what a fresh node lacks is installed from it (its signatures checked with the bundle's keyring, which
the role installs) and held when asked, and a second run changes nothing and gathers no facts again (the shared fact cache)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aifactory.cli import main
from aifactory.lab import lifecycle
from aifactory.node.role_vars import mirror_keyring_path
from tests.scenarios.conftest import node_ssh

pytestmark = pytest.mark.lab
LAB_SCRATCH_DISKS = 0
LAB_COPY = ("lab-os", 84)  # a lab of its own (tests/conftest.py's LAB_SITES), up beside lab-b200's


def bringup_os(f, state, tmp_path, capsys) -> dict:
    rc = main(["bringup", str(f.site_dir), "--stages", "os", "--limit", "nodes",
               "--host-overrides", str(state.dir / lifecycle.OVERRIDES_FILE),
               "-e", json.dumps({"os_baseline_held_packages": ["chrony"]}),
               "--artifacts-dir", str(tmp_path), "--format", "json"])
    result = json.loads(capsys.readouterr().out)
    assert rc == 0, result["totals"]
    return result


def test_os_stage_installs_from_the_mirror_only_and_is_idempotent(lab, tmp_path, capsys):
    f, state = lab
    first = bringup_os(f, state, tmp_path, capsys)
    assert first["totals"]["changed"] > 0
    for n in f.nodes:
        out = node_ssh(state, n.address, "dpkg-query -W -f '${Status}' chrony; echo; cat /etc/apt/sources.list;"
                                         " cat /etc/apt/sources.list.d/*; apt-get update --error-on=any >/dev/null 2>&1; echo rc=$?")
        status, *rest = out.stdout.splitlines()
        assert status == "hold ok installed"  # installed from the mirror, then held as asked
        sources = "\n".join(rest)
        assert f"URIs: {state.endpoints['apt']}" in sources and "deb.debian.org" not in sources
        assert f"Signed-By: {mirror_keyring_path(f.name)}" in sources  # the lab's mirror bundle's key
        assert sources.endswith("rc=0")  # the mirror verifies under that keyring
    assert gathered_facts(first) == {n.name for n in f.nodes}
    again = bringup_os(f, state, tmp_path, capsys)
    assert again["totals"]["changed"] == 0
    assert gathered_facts(again) == set()  # smart gathering found every node in the fact cache


def gathered_facts(result: dict) -> set[str]:
    """Hosts whose facts the run gathered, from its event files."""
    hosts = set()
    for path in (Path(result["artifacts"]) / "artifacts").glob("*/job_events/*.json"):
        event = json.loads(path.read_text())
        data = event.get("event_data", {})
        if event.get("event") == "runner_on_ok" and data.get("task_action") in ("gather_facts", "ansible.builtin.gather_facts"):
            hosts.add(data["host"])
    return hosts
