"""Monitoring in the lab: what a site's PKI gives the monitoring roles before the bring-up, and the rehearsal's
monitoring stage.

`seed` (at `lab up`, for a spec with monitoring.enabled) puts on each host what docs/MONITORING.md's "What the
operator provides" asks of a site, issued by the lab's CA (the stand-in for the site's): on every node and head
node the factory CA and node exporter's certificate and key for its management address; on each head node
Prometheus's certificate and key (it serves with it, and presents it to the exporters and Alertmanager) and the
password Prometheus logs in to Alertmanager with, and the alert receiver's certificate and key. That password is
a lab-only value, like the lab's munge key; the bring-ups get it and its bcrypt hash from the environment
(`secrets`), as a site's would. It also installs aifactory on each head node (`install_aifactory`), as the
operator does for the alert receiver.

`monitoring_outcome` (after the performance stage) asks the head node's Prometheus for its alerts (its HTTP API,
called on the head node itself and checked against the factory CA) until every alert the injected faults raise
(`hardware.FAULTS[kind].alerts`, and SlurmNodeDrained for a node the health check drains) fires and no other alert
is pending or firing, and fails on any other alert that fired (in the last hour: Prometheus's ALERTS series), or
that is still pending when the wait ends (a scrape missed under load leaves one pending for a moment): a lab
without faults has none. It also waits until the
receiver has decided on each expected alert that fires (its audit log on the head node: acted or observed), and
fails on a call it refused or an action that failed. An alert whose series the lab cannot serve (node exporter's
collectors of the kernel's sysfs: the InfiniBand ports) is named as not expected, with the reason; so is the
receiver where the bring-up reported it skipped. Without faults it judges no earlier than QUIET_S after the
bring-up: no alert may fire in those five minutes. Then it injects the faults given in service
(`rehearse --fault-in-service`), waits for their alerts and the receiver's decisions the same way, and reads
`sinfo` for each drain the receiver says it made.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import bcrypt

from aifactory.core import project
from aifactory.lab import aws, hardware, nodes, procs, tls
from aifactory.lab import scheduler as scheduler_lab
from aifactory.lab.state import LabState
from aifactory.monitoring import actions as alert_actions
from aifactory.monitoring import alerts as alert_rules
from aifactory.monitoring import prometheus_config as pc
from aifactory.monitoring import receiver as receiver_records
from aifactory.monitoring.role_vars import NODE_EXPORTER_CERT, NODE_EXPORTER_KEY, RECEIVER_CERT, RECEIVER_KEY, RECEIVER_STATE_DIR
from aifactory.spec import Factory

PASSWORD_ENV, HASH_ENV = "AIFACTORY_ALERTMANAGER_PASSWORD", "AIFACTORY_ALERTMANAGER_PASSWORD_HASH"
LAB_ALERTMANAGER_PASSWORD = "aifactory-lab-stand-in-alertmanager"
FILES = pc.Files()
# How long the stage waits for the faults' alerts: the longest `for` it waits out (NvlinkDown's 2 minutes), a scrape
# and an evaluation (30 s each), the Slurm collector's minute. An alert whose `for` is longer counts once pending.
WAIT_S = 300
FIRING_WAIT_S = 180
# A rehearsal without faults: no alert may fire within five minutes of the bring-up (Prometheus starts in its
# monitoring stage), so the stage judges no earlier than that.
QUIET_S = 300
COMMAND_TIMEOUT_S = 30
# How far back the stage looks for an alert that fired and resolved before it began: longer than a rehearsal
# runs after Prometheus starts (the second bring-up, acceptance, Slurm and performance stages).
FIRED_LOOKBACK = "1h"
# Series of node exporter's InfiniBand collector: read from the kernel's sysfs, which the lab's containers lack.
SYSFS_SERIES = "node_infiniband_"
# Where the lab installs aifactory on a head node, and the command the prometheus_server role looks for.
INSTALL_DIR, COMMAND = "/opt/aifactory", "/usr/local/bin/aifactory"
RECEIVER_AUDIT = f"{RECEIVER_STATE_DIR}/{receiver_records.AUDIT_FILE}"
NOT_SERVED = "node exporter reads its series from the kernel's sysfs, which the lab's containers do not have"
# With monitoring.amp_remote_write: the session file's owner, group and mode, then Prometheus's last error about its
# write to the workspace. moto has no AMP data plane, so the lab proves the part the factory owns: Prometheus signs
# with the head node's session, and its write reaches the private endpoint, whose answer (moto's 404) it logs.
AMP_COMMAND = (f"stat -c '%U:%G %a' {pc.AWS_SESSION_FILE} 2>/dev/null || echo missing; journalctl -u prometheus "
               "--no-pager -o cat 2>/dev/null | grep -F 'remote_name=amp' | grep -F 'err=' | tail -n 1")
AMP_SESSION_MODE = "root:prometheus 640"


def secrets() -> dict[str, str]:
    """The bring-ups' environment for a monitored lab: Alertmanager's password and its bcrypt hash (made here)."""
    digest = bcrypt.hashpw(LAB_ALERTMANAGER_PASSWORD.encode(), bcrypt.gensalt()).decode()
    return {PASSWORD_ENV: LAB_ALERTMANAGER_PASSWORD, HASH_ENV: digest}


def _put(root: Path, path: str, source: Path, private: bool = False) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    target.touch(mode=0o600 if private else 0o644)
    shutil.copyfile(source, target)


def seed(state: LabState, root: Path, host: str, address: str, head: bool) -> None:
    """The monitoring roles' TLS files (and, on a head node, Alertmanager's password file) in a host's root."""
    pki = aws.pki_dir(state)
    ca = tls.ensure_ca(pki)
    _put(root, FILES.ca, ca[0])
    cert, key = tls.issue(ca, pki / "monitoring", f"{host}-node-exporter", addresses=[address])
    _put(root, NODE_EXPORTER_CERT, cert)
    _put(root, NODE_EXPORTER_KEY, key, private=True)
    if head:
        cert, key = tls.issue(ca, pki / "monitoring", f"{host}-prometheus", addresses=[address], client=True,
                              server=True)
        _put(root, FILES.cert, cert)
        _put(root, FILES.key, key, private=True)
        password = root / FILES.alertmanager_password.lstrip("/")
        password.touch(mode=0o600)
        password.write_text(LAB_ALERTMANAGER_PASSWORD + "\n")
        cert, key = tls.issue(ca, pki / "monitoring", f"{host}-receiver", addresses=[address])
        _put(root, RECEIVER_CERT, cert)
        _put(root, RECEIVER_KEY, key, private=True)
        install_aifactory(root)


def install_aifactory(root: Path) -> None:
    """aifactory on a head node, as docs/MONITORING.md asks the operator to install it for the alert receiver: this
    checkout laid out as its wheel installs it (the package, and in `aifactory/_project` the project files
    pyproject.toml ships), under /opt/aifactory, run by Debian's python3 with Debian's packages of its dependencies
    (in the lab's base root: base.RECEIVER_PACKAGES); and the `aifactory` command the role looks for."""
    package = project.package_dir()
    checkout = project.checkout()
    if checkout is None:
        raise RuntimeError("the lab installs aifactory on its head nodes from a checkout; this one is installed")
    target = root / INSTALL_DIR.lstrip("/") / package.name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__"))
    setuptools = tomllib.loads((checkout / "pyproject.toml").read_text())["tool"]["setuptools"]
    for pattern in setuptools["package-data"][f"{package.name}.{project.SHIPPED}"]:
        for source in (p for p in checkout.glob(pattern) if p.is_file() and "__pycache__" not in p.parts):
            shipped = target / project.SHIPPED / source.relative_to(checkout)
            shipped.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, shipped)
    command = root / COMMAND.lstrip("/")
    command.parent.mkdir(parents=True, exist_ok=True)
    command.write_text(f"#!/bin/sh\n# aifactory, installed by the lab from {checkout}\n"
                       f"PYTHONPATH={INSTALL_DIR} PYTHONDONTWRITEBYTECODE=1 exec python3 -m aifactory.cli \"$@\"\n")
    command.chmod(0o755)


def served(rule: alert_rules.Alert) -> bool:
    """Whether the lab's hosts serve every series `rule` reads."""
    return not any(name.startswith(SYSFS_SERIES) for name in rule.reads())


def fault_alerts(f: Factory, faults: dict[str, list[str]]) -> tuple[dict[str, set[str]], dict[str, str]]:
    """({node: the alerts its faults raise themselves in the lab}, {alert: why the lab cannot raise it})."""
    rules = {rule.name: rule for rule in alert_rules.alerts(f)}
    expected: dict[str, set[str]] = {}
    unseen: dict[str, str] = {}
    for node, kinds in faults.items():
        for alert in (a for kind in kinds for a in hardware.FAULTS[kind].alerts):
            if served(rules[alert]):
                expected.setdefault(node, set()).add(alert)
            else:
                unseen[alert] = NOT_SERVED
    return expected, unseen


def expected_alerts(f: Factory, faults: dict[str, list[str]]) -> tuple[dict[str, set[str]], dict[str, str]]:
    """({node: the alerts its faults raise in the lab, and Slurm's drain where the health check drains it first},
    {alert: why the lab cannot raise it})."""
    expected, unseen = fault_alerts(f, faults)
    if f.scheduler.kind == "slurm":
        for node in scheduler_lab.expected_drains(f, faults):
            expected.setdefault(node, set()).add(alert_rules.SLURM_NODE_DRAINED)
    return expected, unseen


def read_alerts(text: str) -> list[tuple[str, str, str]]:
    """[(alert, node, state)] from Prometheus's /api/v1/alerts; ValueError when it is not that. A Slurm node's
    alert (its series come from the controller's collector) is the Slurm node's."""
    try:
        found = json.loads(text)["data"]["alerts"]
        return sorted((a["labels"]["alertname"], alert_rules.alert_node(a["labels"]) or "?",
                       a["state"]) for a in found)
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"Prometheus's /api/v1/alerts answered no alert list ({err}): {text[-300:]!r}") from None


def api_command(address: str, path: str) -> str:
    """Run on the head node: a call of Prometheus's HTTP API, over HTTPS checked against the factory CA."""
    url = f"https://{address}:{pc.PROMETHEUS_PORT}{path}"
    return ("python3 -c 'import ssl, urllib.request as r; "
            f"c = ssl.create_default_context(cafile=\"{FILES.ca}\"); "
            f"print(r.urlopen(\"{url}\", context=c, timeout=10).read().decode())'")


def alerts_command(address: str) -> str:
    """Prometheus's alerts now (pending and firing)."""
    return api_command(address, "/api/v1/alerts")


def fired_command(address: str) -> str:
    """Every alert that fired in the last FIRED_LOOKBACK (Prometheus's ALERTS series), resolved since or not."""
    return api_command(address, "/api/v1/query?query=" + quote(f'max_over_time(ALERTS{{alertstate="firing"}}[{FIRED_LOOKBACK}])'))


def read_fired(text: str) -> set[tuple[str, str]]:
    """{(alert, node)} from the answer to fired_command; ValueError when it is not a vector of ALERTS."""
    try:
        found = json.loads(text)["data"]["result"]
        return {(a["metric"]["alertname"], alert_rules.alert_node(a["metric"]) or "?") for a in found}
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"Prometheus's query of ALERTS answered no vector ({err}): {text[-300:]!r}") from None


def judge(found: list[tuple[str, str, str]], expected: dict[str, set[str]], long_for: set[str],
          fired_before: set[tuple[str, str]] = frozenset(), may_fire: set[tuple[str, str]] = frozenset()) -> list[str]:
    """The problems of Prometheus's alerts `found` (none: the stage is done): an expected alert that does not fire
    yet (one whose `for` is longer than the stage waits: not pending yet), any other alert pending or firing, and
    any other alert that fired at an earlier look (`fired_before`: (alert, node)) and has resolved since. An alert of
    `may_fire` ((alert, node)) is neither required nor a problem."""
    states = {(name, node): state for name, node, state in found}
    missing = [f"{node}: {name} {states.get((name, node), 'not raised')}" for node, names in sorted(expected.items())
               for name in sorted(names)
               if states.get((name, node)) != "firing" and not (name in long_for and (name, node) in states)]
    unexpected = {(name, node): state for (name, node), state in states.items()
                  if name not in expected.get(node, set()) and (name, node) not in may_fire}
    unexpected.update({key: "fired, then resolved" for key in fired_before if key not in unexpected})
    others = sorted((node, name, state) for (name, node), state in unexpected.items())
    return [f"not raised: {m}" for m in missing] + [f"unexpected: {node}: {name} {state}" for node, name, state in others]


def read_audit(text: str) -> list[dict]:
    """The receiver's audit log (one JSON object a line), read as input: ValueError naming a line that is not one."""
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("event", "detail")) or not all(
                isinstance(entry.get(k), (str, type(None))) for k in ("alert", "node", "action")):
            raise ValueError(f"{RECEIVER_AUDIT} line {number}: not an audit entry: {line[:200]!r}")
        entries.append(entry)
    return entries


def receiver_problems(audit: list[dict], firing: set[tuple[str, str]]) -> list[str]:
    """What is wrong with the receiver's decisions on the expected alerts `firing` ((alert, node)): one it has not
    decided yet (acted on or observed), and any call it refused or action that failed."""
    decided = {(e["alert"], e["node"]) for e in audit if e["event"] in receiver_records.DECISIONS}
    return ([f"receiver has not acted on: {node}: {name}" for name, node in sorted(firing - decided)]
            + [f"receiver {e['event']}: {e['node'] or '-'}: {e['alert'] or 'payload'}: {e['detail']}"
               for e in audit if e["event"] in receiver_records.PROBLEMS])


def receiver_actions(audit: list[dict]) -> str:
    """The receiver's decisions per node, by alert (Alertmanager calls for each alert's group in no set order), for
    the stage's detail."""
    by_node: dict[str, list[str]] = {}
    for e in audit:
        if e["event"] not in receiver_records.REPEATS and (e["alert"] or e["node"]):
            said = e["detail"] if e["event"] == "acted" else e["event"]
            by_node.setdefault(e["node"] or "-", []).append(f"{e['alert']}: {said}" if e["alert"] else said)
    return "; ".join(f"{node}: {', '.join(sorted(said))}" for node, said in sorted(by_node.items())) or "none"


def amp_write(answer: str) -> tuple[str | None, str]:
    """(the problem or None, the note) from the head node's answer to AMP_COMMAND."""
    mode, _, last = answer.strip().partition("\n")
    if mode.strip() != AMP_SESSION_MODE:
        return f"Prometheus's AWS session {pc.AWS_SESSION_FILE}: {mode.strip() or 'missing'}, not {AMP_SESSION_MODE}", ""
    answered = re.search(r"server returned HTTP status (\d{3})", last)
    if not answered:
        error = re.search(r'err="((?:[^"\\]|\\.){0,300})', last)
        return ("no write to the AMP workspace reached its endpoint: "
                + (error.group(1) if error else "Prometheus logged no attempt")), ""
    return None, (f"AMP remote write: signed with the head node's session ({AMP_SESSION_MODE}), sent through the "
                  f"private endpoint; the lab's moto answered HTTP {answered.group(1)} (it has no AMP data plane)")


def in_service_alerts(f: Factory, in_service: dict[str, list[str]]) -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    """({node: the alerts its in-service faults raise}, the (alert, node) pairs that may follow them): Slurm's drain
    of the node, by the receiver or by the health check at its next run, is seen a collector run and the rule's minute
    later, after the stage may have ended."""
    expected, _ = fault_alerts(f, in_service)
    return expected, {(alert_rules.SLURM_NODE_DRAINED, node) for node in in_service}


def slurm_drains(audit: list[dict], states: dict[str, tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Slurm's word on each drain the receiver says it made (its `drained` entries), from sinfo's `states`:
    (['<node> drained (<reason>)' for each Slurm shows out of service for the receiver's reason], [the problems])."""
    drained, problems = [], []
    for e in (e for e in audit if e["event"] == receiver_records.DRAINED):
        state, reason = states.get(e["node"], ("not listed", ""))
        want = alert_actions.drain_reason(e["alert"])
        if state.startswith(("drain", "drng")) and reason == want:
            drained.append(f"{e['node']} drained ({reason})")
        else:
            problems.append(f"Slurm shows {e['node']} {state} ({reason or 'no reason'}), not drained for {want!r}")
    return drained, problems


class _AlertWatch:
    """What the stage has seen on the head node so far: the alerts pending or firing, those that fired against
    `expected` (a failure even if they resolve later), and the receiver's audit log; `settled` looks again."""

    def __init__(self, f: Factory, state: LabState, expected: dict[str, set[str]], receiver_skipped: bool):
        self.f, self.state, self.head = f, state, f.head_nodes[0]
        self.expected, self.receiver_skipped = expected, receiver_skipped
        self.long_for = {a.name for a in alert_rules.alerts(f) if a.for_seconds() > FIRING_WAIT_S}
        self.seen: list[tuple[str, str, str]] = []
        self.audit: list[dict] = []
        self.fired: set[tuple[str, str]] = set()
        self.may_fire: set[tuple[str, str]] = set()

    def ssh(self, command: str) -> subprocess.CompletedProcess:
        return nodes.ssh(self.state, self.head.address, command, timeout=COMMAND_TIMEOUT_S)

    def on_head(self, command: str, what: str) -> str:
        done = self.ssh(command)
        if done.returncode != 0:
            raise ValueError(f"{what} on {self.head.name} did not answer: {done.stderr.strip()[-300:]}")
        return done.stdout

    def problems(self) -> list[str]:
        firing = {(name, node) for name, node, alert_state in self.seen
                  if alert_state == "firing" and name in self.expected.get(node, set())}
        return (judge(self.seen, self.expected, self.long_for, self.fired, self.may_fire)
                + ([] if self.receiver_skipped else receiver_problems(self.audit, firing)))

    def settled(self) -> bool:
        self.seen[:] = read_alerts(self.on_head(alerts_command(self.head.address), "Prometheus"))
        ever = read_fired(self.on_head(fired_command(self.head.address), "Prometheus"))
        self.fired.update((name, node) for name, node in ever | {(n, node) for n, node, st in self.seen if st == "firing"}
                          if name not in self.expected.get(node, set()) and (name, node) not in self.may_fire)
        if not self.receiver_skipped:
            self.audit[:] = read_audit(self.on_head(f"cat {RECEIVER_AUDIT} 2>/dev/null || true", "the receiver's audit log"))
        return not self.problems()


def _in_service(watch: _AlertWatch, faults: dict[str, list[str]], inject: Callable[[dict[str, list[str]]], None],
                progress: Callable[[str], None]) -> tuple[list[str], str]:
    """The in-service phase: `inject` the faults, wait for their alerts and the receiver's decisions, and read Slurm
    for the receiver's drains. (problems, the note for the detail)."""
    progress("in service: " + "; ".join(f"{node}: {', '.join(kinds)}" for node, kinds in sorted(faults.items())))
    inject(faults)
    late, may_fire = in_service_alerts(watch.f, faults)
    for node, names in late.items():
        watch.expected.setdefault(node, set()).update(names)
    watch.may_fire.update(may_fire)
    procs.wait_until(watch.settled, WAIT_S, every_s=5)
    drained, wrong = slurm_drains(watch.audit, scheduler_lab.node_states(watch.ssh))
    return watch.problems() + wrong, ("in service: " + "; ".join(f"{node}: {', '.join(kinds)} injected"
                                                                for node, kinds in sorted(faults.items()))
                                      + (f"; Slurm: {', '.join(drained)}" if drained else ""))


def monitoring_outcome(f: Factory, state: LabState, faults: dict[str, list[str]], bringup_stages: dict,
                       brought_up_at: float | None = None, in_service: dict[str, list[str]] | None = None,
                       inject: Callable[[dict[str, list[str]]], None] = lambda faults: None,
                       progress: Callable[[str], None] = lambda line: None) -> tuple[str, str]:
    """(passed|failed, detail) of the monitoring stage. Without `faults`, no alert may fire until QUIET_S after the
    bring-up ended (`brought_up_at`, time.time()). Then `inject` puts the `in_service` faults into the nodes'
    hardware, and the stage waits for their alerts and the receiver's actions, and reads Slurm for its drains."""
    expected, unseen = expected_alerts(f, faults)
    skipped = [step["step"] for step in (bringup_stages.get("monitoring") or {}).get("not_run", [])
               if "alert receiver" in step["step"]]
    watch = _AlertWatch(f, state, expected, bool(skipped))
    # A scrape missed under load leaves an alert pending for a moment (NodeDown's `up == 0`): the stage waits for it
    # to clear, and fails on one still pending when the wait ends, or on one that fired. Alertmanager calls the
    # receiver once an alert's group has waited (group_wait): the stage waits for its decisions too.
    quiet_until = brought_up_at + QUIET_S if brought_up_at is not None and not faults else None
    notes = [f"{name} not expected in the lab ({why})" for name, why in sorted(unseen.items())]
    try:
        if quiet_until is not None:
            progress(f"no fault injected: no alert may fire until {QUIET_S // 60} minutes after the bring-up")
        procs.wait_until(lambda: watch.settled() and (quiet_until is None or time.time() >= quiet_until),
                         WAIT_S + max(0.0, (quiet_until or 0) - time.time()), every_s=5)
        found = watch.problems()
        if quiet_until is not None:
            window = f"{(time.time() - brought_up_at) / 60:.1f} min since the bring-up"
            if time.time() < quiet_until:
                found.append(f"quiet window not held: {window}, not {QUIET_S // 60}")
            elif not found:
                notes.insert(0, f"no alert in the {window}")
        if f.monitoring.amp_remote_write:
            problem, note = amp_write(watch.on_head(AMP_COMMAND, "the AMP remote write's session and log"))
            found += [problem] if problem else []
            notes += [note] if note else []
        if in_service and found:
            notes.append("in-service faults not injected: the stage had failed before")
        elif in_service:
            found, note = _in_service(watch, in_service, inject, progress)
            notes.append(note)
    except (ValueError, subprocess.TimeoutExpired) as err:
        return "failed", str(err)
    by_node: dict[str, list[str]] = {}
    for name, node, alert_state in watch.seen:
        by_node.setdefault(node, []).append(name if alert_state == "firing" else f"{name} ({alert_state})")
    alerts = "; ".join(f"{node}: {', '.join(names)}" for node, names in sorted(by_node.items())) or "none"
    actions = f"none ({skipped[0]})" if skipped else receiver_actions(watch.audit)
    detail = (f"alerts on {watch.head.name}'s Prometheus: {alerts}" + (f"; {'; '.join(found)}" if found else "")
              + f"; receiver's actions: {actions}" + (f"; {'; '.join(notes)}" if notes else ""))
    return ("failed" if found else "passed"), detail
