"""Silences of the nodes rollout and replace hold, against Debian's real Alertmanager on 127.0.0.1 with TLS that
requires a client certificate of the factory's CA and basic auth, as the prometheus_server role configures it."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime

import bcrypt
import pytest
import yaml

from aifactory.lab.procs import free_port, wait_until
from aifactory.monitoring import prometheus_config as pc
from aifactory.monitoring.silences import (ENV_CA, ENV_CERT, ENV_KEY, ENV_PASSWORD, Alertmanager, SilenceError, Silencer,
                                           alertmanager_urls, for_site, node_matcher)
from aifactory.spec import load_spec
from tests.conftest import put, site_dir
from tests.monitoring.test_receiver_tls import pki  # noqa: F401 - a fixture
from tests.spec.conftest import write_site  # noqa: F401 - a fixture

ALERTMANAGER = shutil.which("prometheus-alertmanager")
needs_alertmanager = pytest.mark.skipif(ALERTMANAGER is None, reason="prometheus-alertmanager is not installed: "
                                        "Debian's package of that name (scripts/install-lab-deps.sh) provides it")
PASSWORD = "stand-in-password-of-the-test"
NODES = ["paris-gb200-r001-n01", "paris-gb200-r001-n02"]
OTHER = "paris-gb200-r001-n03"


@pytest.fixture
def monitored(write_site):  # noqa: F811
    return load_spec(write_site("paris-gb200", put("monitoring.enabled", True)))


def environment(pki, password: str = PASSWORD, client: str = "factory-ca-client") -> dict[str, str]:  # noqa: F811
    return {ENV_CERT: pki[client][0], ENV_KEY: pki[client][1], ENV_PASSWORD: password, ENV_CA: pki["factory-ca"][0]}


def client(f, pki, urls: list[str], **kw) -> Alertmanager:  # noqa: F811
    """The client `for_site` makes from the environment, sent to `urls`."""
    made = for_site(f, None, "aifactory test", environment(pki, **kw)).alertmanager
    assert made is not None
    return Alertmanager(tuple(urls), made.context, made.authorization)


def answers(am: Alertmanager) -> bool:
    try:
        am._call("GET", "/api/v2/status")
        return True
    except SilenceError:
        return False


@pytest.fixture
def alertmanager(tmp_path, pki, monitored):  # noqa: F811
    """Debian's Alertmanager on a free port of 127.0.0.1 with the role's web configuration, and a client of it."""
    cert, key = pki["server"]
    web = {"tls_server_config": {"cert_file": cert, "key_file": key, "client_ca_file": pki["factory-ca"][0],
                                 "client_auth_type": "RequireAndVerifyClientCert"},
           "basic_auth_users": {pc.ALERTMANAGER_USER: bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()}}
    (tmp_path / "web.yml").write_text(yaml.safe_dump(web))
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump({"route": {"receiver": "none"},
                                                               "receivers": [{"name": "none"}]}))
    port = free_port()
    with (tmp_path / "alertmanager.log").open("wb") as log:
        process = subprocess.Popen([ALERTMANAGER, f"--config.file={tmp_path / 'alertmanager.yml'}",
                                    f"--storage.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                                    f"--web.config.file={tmp_path / 'web.yml'}", "--cluster.listen-address="],
                                   stdout=log, stderr=subprocess.STDOUT)
    am = client(monitored, pki, [f"https://127.0.0.1:{port}"])
    try:
        wait_until(lambda: process.poll() is not None or answers(am), 60)
        assert process.poll() is None and answers(am), (tmp_path / "alertmanager.log").read_text()
        yield am
    finally:
        process.terminate()
        process.wait()


def silence(am: Alertmanager, silence_id: str) -> dict:
    return next(s for s in am._call("GET", "/api/v2/silences") if s["id"] == silence_id)


def silenced_by(am: Alertmanager) -> dict[str, list[str]]:
    return {a["labels"]["node"]: a["status"]["silencedBy"] for a in am._call("GET", "/api/v2/alerts")}


@needs_alertmanager
def test_a_held_node_s_alerts_are_silenced_until_it_is_released_and_no_other_node_s(alertmanager):
    said: list[str] = []
    silencer = Silencer("aifactory rollout", alertmanager)
    silence_id = silencer.hold(NODES, "drivers rollout of paris-gb200, batch 2/5 (rack01)", 3600, said.append)
    assert silence_id and f"silence {silence_id}" in said[-1]
    held = silence(alertmanager, silence_id)
    assert held["status"]["state"] == "active" and held["createdBy"] == "aifactory rollout"
    assert held["comment"] == "drivers rollout of paris-gb200, batch 2/5 (rack01)"
    lasts = datetime.fromisoformat(held["endsAt"]) - datetime.fromisoformat(held["startsAt"])
    assert 3500 < lasts.total_seconds() <= 3600  # bounded: a killed command's silence ends by itself
    alertmanager._call("POST", "/api/v2/alerts", [{"labels": {"alertname": "XidError", "node": n}} for n in [*NODES, OTHER]])
    assert silenced_by(alertmanager) == {NODES[0]: [silence_id], NODES[1]: [silence_id], OTHER: []}
    silencer.release(silence_id, said.append)
    assert said[-1] == f"  silence {silence_id} expired"
    assert silence(alertmanager, silence_id)["status"]["state"] == "expired"
    assert silenced_by(alertmanager) == {NODES[0]: [], NODES[1]: [], OTHER: []}


@needs_alertmanager
def test_a_wrong_password_or_a_certificate_of_another_ca_is_a_warning_and_silences_nothing(alertmanager, pki,  # noqa: F811
                                                                                             monitored):
    said: list[str] = []
    for refused in (client(monitored, pki, list(alertmanager.urls), password="wrong-password"),
                    client(monitored, pki, list(alertmanager.urls), client="other-ca-client")):
        assert Silencer("aifactory replace", refused).hold([OTHER], "replacement", 600, said.append) is None
    assert said[0].startswith(f"warning: alerts of {OTHER} are not silenced: Alertmanager: ") and "HTTP 401" in said[0]
    assert said[1].startswith(f"warning: alerts of {OTHER} are not silenced: Alertmanager: https://127.0.0.1:")
    assert alertmanager._call("GET", "/api/v2/silences") == []
    assert not any(PASSWORD in line or "wrong-password" in line for line in said)


@needs_alertmanager
def test_the_next_head_node_takes_the_call_when_one_does_not_answer(alertmanager, pki, monitored):  # noqa: F811
    down = f"https://127.0.0.1:{free_port()}"
    am = client(monitored, pki, [down, *alertmanager.urls])
    silence_id = Silencer("aifactory rollout", am).hold([OTHER], "canary", 600, [].append)
    assert silence(alertmanager, silence_id)["status"]["state"] == "active"


def test_no_alertmanager_answering_is_a_warning_line_never_an_exception(monitored, pki):  # noqa: F811
    downs = [f"https://127.0.0.1:{free_port()}", f"https://127.0.0.1:{free_port()}"]
    said: list[str] = []
    silencer = Silencer("aifactory rollout", client(monitored, pki, downs))
    assert silencer.hold(NODES, "batch", 600, said.append) is None
    assert said[0].startswith(f"warning: alerts of {', '.join(NODES)} are not silenced: Alertmanager: {downs[0]}: ")
    assert f"; {downs[1]}: " in said[0]
    silencer.release("a-silence-id", said.append)
    assert said[1].startswith("warning: silence a-silence-id was not expired (it ends by itself)")


def test_without_monitoring_nothing_is_contacted_or_said():
    silencer = for_site(load_spec(site_dir("paris-gb200")), None, "aifactory rollout", {ENV_PASSWORD: "x"})
    said: list[str] = []
    assert silencer.alertmanager is None and silencer.hold(NODES, "batch", 600, said.append) is None
    assert said == []


def test_missing_or_unreadable_credentials_are_a_warning_naming_them_never_the_password(monitored, pki, tmp_path):  # noqa: F811
    said: list[str] = []
    for_site(monitored, None, "aifactory rollout", {ENV_PASSWORD: PASSWORD}).hold([OTHER], "r", 60, said.append)
    assert f"{ENV_CERT}, {ENV_KEY} not set" in said[0]
    unreadable = {**environment(pki), ENV_KEY: str(tmp_path / "missing.key")}
    for_site(monitored, None, "aifactory rollout", unreadable).hold([OTHER], "r", 60, said.append)
    assert f"{ENV_CERT} or {ENV_KEY} cannot be used (No such file or directory)" in said[1]
    assert not any(PASSWORD in line for line in said)


def test_alertmanager_is_every_head_node_s_management_address_a_host_override_first(monitored):
    head = monitored.head_nodes[0]
    assert alertmanager_urls(monitored, None) == tuple(f"https://{h.address}:9093" for h in monitored.head_nodes)
    assert alertmanager_urls(monitored, {head.name: {"ansible_host": "10.9.9.9"}})[0] == "https://10.9.9.9:9093"


def test_one_node_is_matched_by_equality_several_by_an_expression_of_exactly_them():
    assert node_matcher([OTHER]) == {"name": "node", "value": OTHER, "isRegex": False, "isEqual": True}
    assert node_matcher(reversed(NODES))["value"] == r"paris\-gb200\-r001\-n01|paris\-gb200\-r001\-n02"
