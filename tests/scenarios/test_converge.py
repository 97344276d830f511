"""A whole bring-up of lab-b200 (as `lab-converge` on 10.82, a lab of its own that can be up beside lab-b200's),
four scenarios on one lab:

0. Before anything is brought up, `aifactory bringup --check` on the fresh nodes (issue 13, item 5): every stage
   reports what it would change and the run exits 0, because nothing is wrong. A service of a package not yet
   installed is "would enable", and acceptance, which judges the nodes as they are before the run, fails no host;
   the nodes are left as they were.
1. A node powered off in the middle of the run fails alone: the other nodes finish every stage, and a re-run
   limited to that node, once it is back, converges it. The node is killed deterministically from
   ansible-runner's event handler (bringup's progress stream) when the storage stage's play starts, i.e. after
   the OS stage ran on it.
2. The AWS link on the nodes (issue 14, item 4): with the plan's stack outputs (planned against the lab's
   moto_server), a node gets credentials through the signing helper stand-in and calls STS under the private
   endpoint name (the lab's DNS stand-in, HTTPS with the lab CA, moto behind), the SSM agent stand-in is
   registered, the acceptance Bedrock checks pass, and the activation code appears in no output or artifact.
3. Drift is caught (issue 26, item 2): a file a role manages (chrony's configuration), the hold on the pinned
   driver packages and a service a role keeps running (munge) are changed behind Ansible's back; `bringup --check`
   reports exactly those and changes nothing, and the next run repairs exactly those.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from aifactory.cli import main
from aifactory.lab import lifecycle, network
from aifactory.lab.rehearsal import LAB_BMC_CREDENTIALS, SSM_CODE_ENV
from aifactory.node.bringup import BringupOptions, run_bringup
from tests.scenarios.conftest import node_ssh

pytestmark = pytest.mark.lab

LAB_COPY = ("lab-converge", 82)  # tests/conftest.py's LAB_SITES names its group
LAB_SCRATCH_DISKS = 1
KILL_AT_PLAY = "Set up scratch and shared storage"
CODE = "lab-act-7Qx9+Zk2/Lm4-converge"
WHOAMI = ("AWS_CONFIG_FILE=/etc/aifactory/aws/config python3 -c \"import boto3; "
          "print(boto3.Session(profile_name='aifactory-node').client('sts').get_caller_identity()['Arn'])\"")
# What the drift test changes behind Ansible's back, and the task of each role that must repair it.
CHRONY_CONF = "/etc/chrony/chrony.conf"
# What the changed tasks list: a file task names the files it changed.
DRIFT_TASKS = {f"Write the chrony configuration ({CHRONY_CONF})", "Hold the driver packages with the kernel",
               "Keep munge running"}
DRIFT_STAGES = "os,drivers,scheduler"


class KillNodeAtPlay(io.StringIO):
    """A progress stream for run_bringup that powers `node` off when the play `play` starts."""

    def __init__(self, site: str, node: str, play: str):
        super().__init__()
        self.site, self.node, self.play = site, node, play
        self.killed = False

    def write(self, text: str) -> int:
        if not self.killed and text.startswith("PLAY ") and self.play in text:
            lifecycle.stop_node(self.site, self.node)
            self.killed = True
        return super().write(text)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("converge")


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    for name, value in {**LAB_BMC_CREDENTIALS, SSM_CODE_ENV: CODE}.items():
        monkeypatch.setenv(name, value)


def options(state, outputs: Path, work: Path, limit: str | None = None) -> BringupOptions:
    """The whole converge's options. It runs with Mitogen's strategy (the same task results as the default,
    linear: test_strategy_equality.py, in about half the time); the drift runs below and lab-b200's
    rehearsal use the default."""
    return BringupOptions(limit=limit, host_overrides=state.dir / lifecycle.OVERRIDES_FILE, stack_outputs=outputs,
                          extra_vars={"acceptance_results_dir": str(work / "acceptance")}, artifacts_root=work / "runs",
                          strategy="mitogen")


def test_check_mode_on_fresh_nodes_exits_0_and_changes_nothing(lab, lab_stack_outputs, tmp_path, capsys):
    f, state = lab
    rc = main(["bringup", str(f.site_dir), "--check", "--format", "json",
               "--host-overrides", str(state.dir / lifecycle.OVERRIDES_FILE), "--stack-outputs", str(lab_stack_outputs),
               "--artifacts-dir", str(tmp_path / "runs"),
               "-e", json.dumps({"acceptance_results_dir": str(tmp_path / "acceptance")})])
    summary = json.loads(capsys.readouterr().out)
    assert rc == 0, {h: s for h, s in summary["hosts"].items() if s["failed"] or s["unreachable"]}
    assert summary["check"] and summary["totals"]["failed"] == 0
    node = f.nodes[0].name
    assert "Install chrony" in summary["changed_tasks"][node]  # it would install it ...
    after = node_ssh(state, f.nodes[0].address, "test -x /usr/sbin/chronyd && echo chronyd; findmnt -n /scratch; echo end")
    assert after.stdout.split() == ["end"], after.stdout  # ... and changed nothing: no chrony, no scratch mounted


def test_node_killed_mid_run_fails_alone_and_a_limited_rerun_converges_it(lab, lab_stack_outputs, work):
    f, state = lab
    victim = f.nodes[1]
    others = [n.name for n in f.nodes if n.name != victim.name]
    results = work / "acceptance"

    progress = KillNodeAtPlay(f.name, victim.name, KILL_AT_PLAY)
    first = run_bringup(f, options(state, lab_stack_outputs, work), progress_stream=progress)
    assert progress.killed, progress.getvalue()[-2000:]
    assert first.exit_code == 1
    assert first.hosts[victim.name]["unreachable"] + first.hosts[victim.name]["failed"] > 0
    assert first.hosts[victim.name]["ok"] > 0  # it had taken part until it was killed
    for host in others + [f"{n}-bmc" for n in others]:
        assert (first.hosts[host]["failed"], first.hosts[host]["unreachable"]) == (0, 0), host
    awslink = first.stage_results["awslink"]
    assert awslink["not_run"] == [] and awslink["tasks"] - awslink["skipped"] >= 15 * len(others), awslink
    for host in others:  # they went on through storage, AWS link and acceptance
        assert json.loads((results / f"{host}.json").read_text())["result"] == "pass"  # every check, on stand-ins
    assert not (results / f"{victim.name}.json").exists()

    lifecycle.start_node(f.name, victim.name)
    rerun = run_bringup(f, options(state, lab_stack_outputs, work, limit=victim.name))
    assert rerun.exit_code == 0, rerun.hosts  # nothing failed, and acceptance passed
    assert victim.name in rerun.hosts and not set(others) & set(rerun.hosts)
    assert rerun.hosts[victim.name]["changed"] > 0  # the stages it missed were applied now
    checks = json.loads((results / f"{victim.name}.json").read_text())
    assert checks["result"] == "pass" and checks["counts"]["fail"] == 0
    scratch = node_ssh(state, victim.address, "findmnt -n -o SOURCE /scratch")
    assert scratch.stdout.strip() == state.nodes[victim.name]["disks"][0]


def test_every_node_reaches_aws_through_the_private_endpoint_names_and_no_activation_code_leaks(
        lab, lab_stack_outputs, work):
    f, state = lab
    outputs = json.loads(lab_stack_outputs.read_text())
    gateway = str(network.gateway(f.network.host_cidr).ip)
    sts = outputs["endpoint_dns"]["sts"]
    role_name = outputs["node_role_arn"].rsplit("/", 1)[1]
    for node in f.nodes:
        verdict = json.loads((work / "acceptance" / f"{node.name}.json").read_text())
        checks = {c["name"]: c for c in verdict["checks"]}
        assert checks["bedrock_dns"]["status"] == "pass", checks["bedrock_dns"]
        assert checks["bedrock_https"]["status"] == "pass", checks["bedrock_https"]
        resolved = node_ssh(state, node.address, f"getent ahostsv4 {sts}")
        assert resolved.stdout.split()[0] == gateway
        whoami = node_ssh(state, node.address, WHOAMI)
        assert whoami.stdout.strip().endswith(f":assumed-role/{role_name}/{node.name}"), whoami.stderr[-1500:]
        helper = node_ssh(state, node.address, "/usr/local/bin/aws_signing_helper --version")
        assert "stand-in" in helper.stdout
        agent = node_ssh(state, node.address, "cat /var/lib/amazon/ssm/registration; systemctl is-active amazon-ssm-agent")
        registration, active = agent.stdout.rsplit("}", 1)
        assert json.loads(registration + "}")["Region"] == outputs["region"] and active.strip() == "active"
        assert CODE not in agent.stdout
    # The activation code is a secret: in no output, log or artifact of either run.
    leaked = [p for p in (work / "runs").rglob("*") if p.is_file() and CODE.encode() in p.read_bytes()]
    assert leaked == []


def drift_run(f, state, outputs: Path, work: Path, node: str, capsys, *more: str) -> dict:
    rc = main(["bringup", str(f.site_dir), "--stages", DRIFT_STAGES, "--limit", node, "--format", "json",
               "--host-overrides", str(state.dir / lifecycle.OVERRIDES_FILE), "--stack-outputs", str(outputs),
               "--artifacts-dir", str(work / "runs"),
               "-e", json.dumps({"acceptance_results_dir": str(work / "acceptance")}), *more])
    out = capsys.readouterr()
    assert CODE not in out.out + out.err
    result = json.loads(out.out)
    assert rc == 0, (result["hosts"], out.err[-2000:])
    return result


def test_drift_is_reported_by_check_and_repaired_by_the_next_run(lab, lab_stack_outputs, work, capsys):
    f, state = lab
    node = f.nodes[0]

    def on_node(command: str) -> str:
        done = node_ssh(state, node.address, command)
        assert done.returncode == 0, (command, done.stderr[-500:])
        return done.stdout

    held = on_node("apt-mark showhold").split()
    driver = [p for p in held if p.startswith("nvidia-open")]
    assert driver, f"the drivers stage holds the pinned driver package: held {held}"
    conf = on_node(f"cat {CHRONY_CONF}")
    on_node(f"echo 'server drift.example.invalid iburst' >> {CHRONY_CONF}; apt-mark unhold {driver[0]}; "
            "systemctl stop munge")

    check = drift_run(f, state, lab_stack_outputs, work, node.name, capsys, "--check")
    assert set(check["changed_tasks"]) <= {node.name}
    assert set(check["changed_tasks"].get(node.name, [])) == DRIFT_TASKS, check["changed_tasks"]
    # --check changed nothing: the drift is all still there.
    assert "drift.example.invalid" in on_node(f"cat {CHRONY_CONF}")
    assert driver[0] not in on_node("apt-mark showhold").split()
    assert node_ssh(state, node.address, "systemctl is-active munge").stdout.strip() != "active"

    repair = drift_run(f, state, lab_stack_outputs, work, node.name, capsys)
    assert set(repair["changed_tasks"]) <= {node.name}
    assert set(repair["changed_tasks"].get(node.name, [])) == DRIFT_TASKS, repair["changed_tasks"]
    assert on_node(f"cat {CHRONY_CONF}") == conf
    assert set(on_node("apt-mark showhold").split()) == set(held)
    assert on_node("systemctl is-active munge").strip() == "active"
