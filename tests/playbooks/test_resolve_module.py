"""aifactory_resolve (playbooks/library): the aws_node_identity role's check that the private endpoint names
resolve to private addresses, every name in one module run. The judgement runs on fabricated answers; the
module itself runs once on `localhost` (the only name resolved here: nothing leaves this machine)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

MODULE = Path(__file__).resolve().parents[2] / "playbooks/library/aifactory_resolve.py"
ROLE = MODULE.parents[1] / "roles/aws_node_identity"
_spec = importlib.util.spec_from_file_location("aifactory_resolve", MODULE)
resolve = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(resolve)


def test_private_addresses_pass_and_public_or_missing_ones_are_named():
    found = {"sts": ["10.20.0.14", "10.20.1.9"], "kms": ["100.64.3.1"], "ssm": ["172.31.255.1", "192.168.0.5"],
             "s3": ["10.20.0.20", "52.219.170.1"], "logs": ["172.32.0.1"], "bedrock": []}
    judged = resolve.judge(found, list(resolve.PRIVATE_NETWORKS))
    assert judged["unresolved"] == ["bedrock"]
    assert judged["outside"] == {"s3": ["52.219.170.1"], "logs": ["172.32.0.1"]}  # 172.32/16 is past 172.16/12
    assert judged["addresses"] == found


def test_the_ranges_are_the_callers():
    assert resolve.judge({"lo": ["127.0.0.1"]}, ["127.0.0.0/8"])["outside"] == {}
    assert resolve.judge({"lo": ["127.0.0.1"]}, list(resolve.PRIVATE_NETWORKS))["outside"] == {"lo": ["127.0.0.1"]}


def run_module(tmp_path: Path, args: dict) -> dict:
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    done = subprocess.run([sys.executable, str(MODULE), str(args_file)], capture_output=True, text=True, timeout=60)
    return json.loads(done.stdout)


def test_the_module_resolves_every_name_in_one_run_and_changes_nothing(tmp_path):
    result = run_module(tmp_path, {"names": {"here": "localhost", "again": "localhost"}})
    assert result["changed"] is False and "127.0.0.1" in result["addresses"]["here"]
    assert result["outside"]["here"] == result["addresses"]["here"] and set(result["outside"]) == {"here", "again"}
    assert run_module(tmp_path, {"names": {"here": "localhost"}, "private_networks": ["127.0.0.0/8"]})["outside"] == {}


def test_the_module_refuses_a_range_that_is_not_one(tmp_path):
    result = run_module(tmp_path, {"names": {"here": "localhost"}, "private_networks": ["10.0.0.0/33"]})
    assert result["failed"] is True and result["msg"].startswith("private_networks:")


def test_the_role_resolves_all_endpoint_names_in_one_task():
    tasks = yaml.safe_load((ROLE / "tasks/dns.yml").read_text())
    resolving = [t for t in tasks if "aifactory_resolve" in t]
    assert len(resolving) == 1 and resolving[0]["aifactory_resolve"]["names"] == \
        "{{ aws_node_identity_outputs.endpoint_dns }}"
    main = yaml.safe_load((ROLE / "tasks/main.yml").read_text())
    blocks = [t for item in main for t in item.get("block", [])]
    check = next(t for t in blocks if t.get("name") == "Check the private endpoint names")
    assert "loop" not in check and check["ansible.builtin.import_tasks"] == "dns.yml"


def test_the_roles_check_names_each_name_outside_the_private_ranges(tmp_path):
    """The role's two tasks as Ansible runs them (on this machine, `localhost` as an endpoint name: 127.0.0.1 is
    in no private range): the check fails naming the name and its address."""
    book = tmp_path / "dns.yml"
    book.write_text(yaml.safe_dump([{
        "name": "DNS check", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars": {"aws_node_identity_outputs": {"endpoint_dns": {"sts": "localhost"}},
                 "ansible_python_interpreter": sys.executable},
        "tasks": [{"ansible.builtin.import_tasks": str(ROLE / "tasks/dns.yml")}]}]))
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(book)],
                          capture_output=True, text=True, timeout=120, cwd=MODULE.parents[2],
                          env={**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                               "ANSIBLE_CONFIG": str(MODULE.parents[2] / "ansible.cfg")})
    tasks = json.loads(done.stdout)["plays"][0]["tasks"]
    check = tasks[-1]["hosts"]["localhost"]
    assert done.returncode == 2 and check["failed"] and "Error rendering" not in check["msg"]
    assert check["msg"].startswith("private endpoint names must resolve to private addresses") and \
        'outside the private ranges: {"sts": ["127.0.0.1"]}' in check["msg"]
