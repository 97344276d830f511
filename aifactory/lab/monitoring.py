"""Monitoring in the lab: what a site's PKI gives the monitoring roles before the bring-up, and the rehearsal's
monitoring stage.

`seed` (at `lab up`, for a spec with monitoring.enabled) puts on each host what docs/MONITORING.md's "What the
operator provides" asks of a site, issued by the lab's CA (the stand-in for the site's): on every node and head
node the factory CA and node exporter's certificate and key for its management address; on each head node
Prometheus's certificate and key (it serves with it, and presents it to the exporters and Alertmanager) and the
password Prometheus logs in to Alertmanager with. That password is a lab-only value, like the lab's munge key; the
bring-ups get it and its bcrypt hash from the environment (`secrets`), as a site's would.

`monitoring_outcome` (after the performance stage) asks the head node's Prometheus for its alerts (its HTTP API,
called on the head node itself and checked against the factory CA) until every alert the injected faults raise
(`hardware.FAULTS[kind].alerts`, and SlurmNodeDrained for a node the health check drains) fires and no other alert
is pending or firing, and fails on any other alert that fired, or that is still pending when the wait ends (a
scrape missed under load leaves one pending for a moment): a lab without faults has none. An alert whose series the lab cannot serve (node
exporter's collectors of the kernel's sysfs: the InfiniBand ports) is named as not expected, with the reason; so is
the alert receiver where the bring-up reported it skipped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import bcrypt

from aifactory.lab import aws, hardware, nodes, procs, tls
from aifactory.lab import scheduler as scheduler_lab
from aifactory.lab.state import LabState
from aifactory.monitoring import alerts as alert_rules
from aifactory.monitoring import prometheus_config as pc
from aifactory.monitoring.role_vars import NODE_EXPORTER_CERT, NODE_EXPORTER_KEY
from aifactory.spec import Factory

PASSWORD_ENV, HASH_ENV = "AIFACTORY_ALERTMANAGER_PASSWORD", "AIFACTORY_ALERTMANAGER_PASSWORD_HASH"
LAB_ALERTMANAGER_PASSWORD = "aifactory-lab-stand-in-alertmanager"
FILES = pc.Files()
# How long the stage waits for the faults' alerts: the longest `for` it waits out (NvlinkDown's 2 minutes), a scrape
# and an evaluation (30 s each), the Slurm collector's minute. An alert whose `for` is longer counts once pending.
WAIT_S = 300
FIRING_WAIT_S = 180
COMMAND_TIMEOUT_S = 30
# Series of node exporter's InfiniBand collector: read from the kernel's sysfs, which the lab's containers lack.
SYSFS_SERIES = "node_infiniband_"
NOT_SERVED = "node exporter reads its series from the kernel's sysfs, which the lab's containers do not have"


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


def served(rule: alert_rules.Alert) -> bool:
    """Whether the lab's hosts serve every series `rule` reads."""
    return not any(name.startswith(SYSFS_SERIES) for name in rule.reads())


def expected_alerts(f: Factory, faults: dict[str, list[str]]) -> tuple[dict[str, set[str]], dict[str, str]]:
    """({node: the alerts its faults raise in the lab}, {alert: why the lab cannot raise it})."""
    rules = {rule.name: rule for rule in alert_rules.alerts(f)}
    expected: dict[str, set[str]] = {}
    unseen: dict[str, str] = {}
    for node, kinds in faults.items():
        for alert in (a for kind in kinds for a in hardware.FAULTS[kind].alerts):
            if served(rules[alert]):
                expected.setdefault(node, set()).add(alert)
            else:
                unseen[alert] = NOT_SERVED
    if f.scheduler.kind == "slurm":
        for node in scheduler_lab.expected_drains(f, faults):
            expected.setdefault(node, set()).add("SlurmNodeDrained")
    return expected, unseen


def read_alerts(text: str) -> list[tuple[str, str, str]]:
    """[(alert, node, state)] from Prometheus's /api/v1/alerts; ValueError when it is not that. A Slurm node's
    alert (its series come from the controller's collector) is the Slurm node's."""
    try:
        found = json.loads(text)["data"]["alerts"]
        return sorted((a["labels"]["alertname"], a["labels"].get("slurm_node") or a["labels"].get("node", "?"),
                       a["state"]) for a in found)
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"Prometheus's /api/v1/alerts answered no alert list ({err}): {text[-300:]!r}") from None


def alerts_command(address: str) -> str:
    """Run on the head node: Prometheus's alerts, over HTTPS checked against the factory CA."""
    url = f"https://{address}:{pc.PROMETHEUS_PORT}/api/v1/alerts"
    return ("python3 -c 'import ssl, urllib.request as r; "
            f"c = ssl.create_default_context(cafile=\"{FILES.ca}\"); "
            f"print(r.urlopen(\"{url}\", context=c, timeout=10).read().decode())'")


def judge(found: list[tuple[str, str, str]], expected: dict[str, set[str]], long_for: set[str],
          fired_before: set[tuple[str, str]] = frozenset()) -> list[str]:
    """The problems of Prometheus's alerts `found` (none: the stage is done): an expected alert that does not fire
    yet (one whose `for` is longer than the stage waits: not pending yet), any other alert pending or firing, and
    any other alert that fired at an earlier look (`fired_before`: (alert, node)) and has resolved since."""
    states = {(name, node): state for name, node, state in found}
    missing = [f"{node}: {name} {states.get((name, node), 'not raised')}" for node, names in sorted(expected.items())
               for name in sorted(names)
               if states.get((name, node)) != "firing" and not (name in long_for and (name, node) in states)]
    unexpected = {(name, node): state for (name, node), state in states.items() if name not in expected.get(node, set())}
    unexpected.update({key: "fired, then resolved" for key in fired_before if key not in unexpected})
    others = sorted((node, name, state) for (name, node), state in unexpected.items())
    return [f"not raised: {m}" for m in missing] + [f"unexpected: {node}: {name} {state}" for node, name, state in others]


def monitoring_outcome(f: Factory, state: LabState, faults: dict[str, list[str]],
                       bringup_stages: dict) -> tuple[str, str]:
    """(passed|failed, detail) of the monitoring stage."""
    head = f.head_nodes[0]
    expected, unseen = expected_alerts(f, faults)
    long_for = {a.name for a in alert_rules.alerts(f) if a.for_seconds() > FIRING_WAIT_S}
    seen: list[tuple[str, str, str]] = []
    fired: set[tuple[str, str]] = set()  # other alerts seen firing: a failure even if they resolve later

    def settled() -> bool:
        done = nodes.ssh(state, head.address, alerts_command(head.address), timeout=COMMAND_TIMEOUT_S)
        if done.returncode != 0:
            raise ValueError(f"Prometheus on {head.name} did not answer: {done.stderr.strip()[-300:]}")
        seen[:] = read_alerts(done.stdout)
        fired.update((name, node) for name, node, alert_state in seen
                     if alert_state == "firing" and name not in expected.get(node, set()))
        return not judge(seen, expected, long_for, fired)
    # A scrape missed under load leaves an alert pending for a moment (NodeDown's `up == 0`): the stage waits for it
    # to clear, and fails on one still pending when the wait ends, or on one that fired.
    try:
        procs.wait_until(settled, WAIT_S, every_s=5)
    except (ValueError, subprocess.TimeoutExpired) as err:
        return "failed", str(err)
    problems = judge(seen, expected, long_for, fired)
    by_node: dict[str, list[str]] = {}
    for name, node, alert_state in seen:
        by_node.setdefault(node, []).append(name if alert_state == "firing" else f"{name} ({alert_state})")
    fired = "; ".join(f"{node}: {', '.join(names)}" for node, names in sorted(by_node.items())) or "none"
    notes = [f"{name} not expected in the lab ({why})" for name, why in sorted(unseen.items())]
    receiver = [step["step"] for step in (bringup_stages.get("monitoring") or {}).get("not_run", [])
                if "alert receiver" in step["step"]]
    notes += [f"receiver's actions: none ({step})" for step in receiver]
    detail = (f"alerts on {head.name}'s Prometheus: {fired}" + (f"; {'; '.join(problems)}" if problems else "")
              + (f"; {'; '.join(notes)}" if notes else ""))
    return ("failed" if problems else "passed"), detail
