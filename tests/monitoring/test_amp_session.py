"""AMP remote write through the inventory: the head nodes get an AWS identity of their own in the monitoring stage
(group metrics_writers, Roles Anywhere without SSM), and Prometheus signs with a short-lived session of it that a
root timer fetches (the prometheus_server role's aifactory-prometheus-aws-session)."""

from __future__ import annotations

import grp
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aifactory.monitoring import prometheus_config as pc
from aifactory.monitoring.role_vars import METRICS_WRITERS, with_monitoring_vars
from aifactory.node.inventory import InventoryInputError, awslink_required_outputs, build_inventory
from aifactory.spec import load_spec
from tests.conftest import both, put
from tests.monitoring.test_prometheus_config import AMP_URL
from tests.spec.conftest import write_site  # noqa: F401 - a fixture

REPO = Path(__file__).resolve().parents[2]
FETCHER = REPO / "playbooks" / "roles" / "prometheus_server" / "files" / "aifactory-prometheus-aws-session"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
SESSION = {"Version": 1, "AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": SECRET, "SessionToken": "token",
           "Expiration": "2026-12-07T16:00:00Z"}


@pytest.fixture
def paris(write_site):  # noqa: F811
    return load_spec(write_site("paris-gb200", put("monitoring.enabled", True)))


def outputs(**more) -> dict:
    return {"region": "eu-west-3", "ssm_activation_id": "act-0123", "amp_remote_write_url": AMP_URL, **more}


def test_the_head_nodes_get_roles_anywhere_and_prometheus_its_session(paris):
    inv = with_monitoring_vars(build_inventory(paris, stack_outputs=outputs()), paris)
    writers = inv.groups[METRICS_WRITERS]
    assert writers.children == ["head_nodes"]
    identity = writers.vars["aws_node_identity_outputs"]
    assert identity["region"] == "eu-west-3" and "ssm_activation_id" not in identity  # the nodes' activation alone
    assert "aws_node_identity_ssm_agent_url" not in writers.vars
    head = inv.groups["head_nodes"].vars
    assert head["prometheus_server_config"]["remote_write"] == [
        {"url": AMP_URL, "name": "amp", "sigv4": {"region": "eu-west-3", "profile": head["prometheus_server_aws_profile"]}}]
    assert head["prometheus_server_environment"] == {
        "AWS_SHARED_CREDENTIALS_FILE": head["prometheus_server_aws_credentials_file"]}
    assert head["prometheus_server_aws_session_profile"] == "aifactory-node"  # the aws_node_identity role's profile
    assert head["prometheus_server_aws_session_file"].startswith("/run/")
    plays = yaml.safe_load((REPO / "playbooks" / "monitoring.yml").read_text())
    identity = next(i for i, p in enumerate(plays) if p["hosts"] == METRICS_WRITERS)
    servers = next(i for i, p in enumerate(plays) if p["hosts"] == "monitoring_servers")
    assert plays[identity]["roles"] == [{"role": "aws_node_identity"}] and identity < servers


def test_metrics_stay_home_before_the_stack_exists(paris):
    inv = with_monitoring_vars(build_inventory(paris), paris)  # no stack outputs yet
    assert METRICS_WRITERS not in inv.groups and "prometheus_server_aws_session_profile" not in inv.groups["head_nodes"].vars
    assert "remote_write" not in inv.groups["head_nodes"].vars["prometheus_server_config"]
    assert "amp_remote_write_url" not in awslink_required_outputs(paris)  # the awslink stage does not need it


def test_metrics_stay_home_without_the_spec_s_word(write_site):  # noqa: F811
    home = load_spec(write_site("paris-gb200", both(put("monitoring.enabled", True),
                                                   put("monitoring.amp_remote_write", False))))
    inv = with_monitoring_vars(build_inventory(home, stack_outputs=outputs()), home)
    assert METRICS_WRITERS not in inv.groups and "remote_write" not in inv.groups["head_nodes"].vars["prometheus_server_config"]


def test_a_workspace_of_another_region_or_none_is_refused(paris):
    other = AMP_URL.replace("eu-west-3", "us-east-1")
    with pytest.raises(InventoryInputError) as refused:
        build_inventory(paris, stack_outputs=outputs(amp_remote_write_url=other))
    assert [p.path for p in refused.value.problems] == ["amp_remote_write_url"]
    with pytest.raises(InventoryInputError) as refused:
        with_monitoring_vars(build_inventory(paris, stack_outputs={"region": "eu-west-3"}), paris)
    assert "missing: monitoring.amp_remote_write is true" in str(refused.value)


def fetcher_site(tmp_path, printed: str, code: int = 0) -> tuple[Path, Path]:
    """An AWS config whose profile's credential_process prints `printed` and exits `code`; the session's path."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    process = tmp_path / "signing-helper"
    process.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write({printed!r})\n"
                       f"sys.stderr.write('signing failed\\n' if {code} else '')\nsys.exit({code})\n")
    process.chmod(0o755)
    config = tmp_path / "config"
    config.write_text(f"[profile aifactory-node]\ncredential_process = {process} credential-process --x 1\n")
    return config, tmp_path / "run" / "session.json"


def fetch(config: Path, output: Path) -> subprocess.CompletedProcess:
    group = grp.getgrgid(os.getgid()).gr_name
    return subprocess.run([sys.executable, str(FETCHER), "--config", str(config), "--profile", "aifactory-node",
                           "--output", str(output), "--group", group], capture_output=True, text=True, timeout=60)


def test_the_fetcher_leaves_the_session_for_the_group_alone(tmp_path):
    config, output = fetcher_site(tmp_path, json.dumps(SESSION))
    done = fetch(config, output)
    assert done.returncode == 0, done.stderr
    assert json.loads(output.read_text()) == SESSION
    assert stat.S_IMODE(output.stat().st_mode) == 0o640 and stat.S_IMODE(output.parent.stat().st_mode) == 0o750
    assert output.stat().st_gid == os.getgid() and SECRET not in done.stdout + done.stderr
    assert [p.name for p in output.parent.iterdir()] == ["session.json"]  # no partial file left


@pytest.mark.parametrize("printed, code, said", [
    (json.dumps(SESSION), 1, "exited 1: signing failed"),
    (json.dumps({**SESSION, "Expiration": ""}), 0, "printed no session"),
    (f"not json {SECRET}", 0, "printed no session"),
])
def test_a_failed_fetch_keeps_the_last_session_and_shows_no_secret(tmp_path, printed, code, said):
    config, output = fetcher_site(tmp_path / "good", json.dumps(SESSION))
    assert fetch(config, output).returncode == 0
    bad, _ = fetcher_site(tmp_path, printed, code)
    done = fetch(bad, output)
    assert done.returncode == 1 and said in done.stderr and SECRET not in done.stdout + done.stderr
    assert json.loads(output.read_text()) == SESSION


def test_a_profile_without_a_credential_process_is_named(tmp_path):
    config = tmp_path / "config"
    config.write_text("[profile other]\nregion = eu-west-3\n")
    done = fetch(config, tmp_path / "run" / "session.json")
    assert done.returncode == 1 and "[profile aifactory-node] has no credential_process" in done.stderr


def test_a_stop_mid_write_leaves_the_whole_session_and_no_partial_copy(tmp_path):
    """SIGTERM (the timer's unit stopped) arriving between the write and the rename takes effect after the rename."""
    config, output = fetcher_site(tmp_path, json.dumps(SESSION))
    driver = (
        "import importlib.machinery, importlib.util, os, signal, sys\n"
        f"loader = importlib.machinery.SourceFileLoader('fetcher', {str(FETCHER)!r})\n"
        "fetcher = importlib.util.module_from_spec(importlib.util.spec_from_loader('fetcher', loader))\n"
        "loader.exec_module(fetcher)\n"
        "rename = os.replace\n"
        "def stopped_then_rename(src, dst):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    rename(src, dst)\n"
        "os.replace = stopped_then_rename\n"
        "sys.exit(fetcher.main(sys.argv[1:]))\n")
    group = grp.getgrgid(os.getgid()).gr_name
    done = subprocess.run([sys.executable, "-c", driver, "--config", str(config), "--profile", "aifactory-node",
                           "--output", str(output), "--group", group], capture_output=True, text=True, timeout=60)
    assert done.returncode == -15, done.stderr  # stopped by the signal, once the file was whole
    assert json.loads(output.read_text()) == SESSION
    assert [p.name for p in output.parent.iterdir()] == ["session.json"]
