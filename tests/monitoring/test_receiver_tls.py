"""The receiver's HTTPS server: mutual TLS with the factory's CA, and `aifactory monitoring-receiver`'s bad input."""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import json
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aifactory.cli import main
from aifactory.monitoring.receiver import AUDIT_FILE, Receiver, ReceiverServer, server_context
from aifactory.spec import load_spec
from tests.conftest import put, site_dir
from tests.monitoring.fakes import FakeSlurm, alert, payload
from tests.spec.conftest import write_site  # noqa: F401 - a fixture

NODE = "paris-gb200-r001-n03"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key, issuer: str, issuer_key, ca: bool = False, ip: str | None = None) -> x509.Certificate:
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(directory, name: str, cert: x509.Certificate, key) -> tuple[str, str]:
    (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption()))
    (directory / f"{name}.key").chmod(0o600)
    return str(directory / f"{name}.pem"), str(directory / f"{name}.key")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The factory's CA with the receiver's and Alertmanager's certificates, and another CA with a client's."""
    d = tmp_path_factory.mktemp("pki")
    files = {}
    for ca_name in ("factory-ca", "other-ca"):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        files[ca_name] = _write(d, ca_name, _cert(ca_name, ca_key, ca_name, ca_key, ca=True), ca_key)
        client_key = ec.generate_private_key(ec.SECP256R1())
        files[f"{ca_name}-client"] = _write(d, f"{ca_name}-client", _cert("alertmanager", client_key, ca_name, ca_key),
                                           client_key)
        if ca_name == "factory-ca":
            server_key = ec.generate_private_key(ec.SECP256R1())
            files["server"] = _write(d, "server", _cert("receiver", server_key, ca_name, ca_key, ip="127.0.0.1"),
                                     server_key)
    return files


@pytest.fixture
def served(tmp_path, pki):
    slurm = FakeSlurm()
    receiver = Receiver(load_spec(site_dir("paris-gb200")), slurm, None, tmp_path)
    cert, key = pki["server"]
    server = ReceiverServer(("127.0.0.1", 0), receiver, server_context(cert, key, pki["factory-ca"][0]))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server, slurm, tmp_path
    server.shutdown()
    thread.join()
    server.server_close()


def post(server, pki, body: bytes, client: str | None = "factory-ca-client") -> tuple[int, str]:
    context = ssl.create_default_context(cafile=pki["factory-ca"][0])
    if client:
        context.load_cert_chain(*pki[client])
    connection = http.client.HTTPSConnection("127.0.0.1", server.server_address[1], context=context, timeout=10)
    try:
        connection.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_alertmanager_with_a_certificate_of_the_factory_ca_is_served(served, pki):
    server, slurm, _ = served
    assert post(server, pki, payload(alert("GpuEccDoubleBit", NODE))) == (200, "ok\n")
    assert slurm.drains == [(NODE, "aifactory alert: GpuEccDoubleBit")]


@pytest.mark.parametrize("client", [None, "other-ca-client"])
def test_a_client_without_a_certificate_or_with_one_of_another_ca_is_refused(served, pki, client):
    server, slurm, state = served
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
        post(server, pki, payload(alert("GpuEccDoubleBit", NODE)), client)
    assert slurm.drains == []
    # one request at a time: once the next is answered, the refusal is in the audit log
    assert post(server, pki, payload(alert("GpuThermalThrottling", NODE)))[0] == 200
    refused = [json.loads(line) for line in (state / AUDIT_FILE).read_text().splitlines()]
    assert [e["event"] for e in refused] == ["refused", "observed"]
    assert "TLS connection from 127.0.0.1" in refused[0]["detail"]


def test_a_malformed_payload_over_https_is_a_400_naming_the_field(served, pki):
    server, slurm, _ = served
    status, text = post(server, pki, b'{"version": "4", "status": "firing", "alerts": "many"}')
    assert status == 400 and "alerts: " in text and slurm.drains == []


# --- the command's bad input -------------------------------------------------------------------------------
def receiver_args(pki, site: str = "inventories/paris-gb200", listen: str = "127.0.0.1:9095") -> list[str]:
    return ["monitoring-receiver", site, "--listen", listen, "--cert", pki["server"][0], "--key", pki["server"][1],
            "--ca", pki["factory-ca"][0]]


def test_the_command_refuses_a_bad_listen_address(pki, capsys):
    with pytest.raises(SystemExit) as exited:
        main(receiver_args(pki, listen="127.0.0.1"))
    assert exited.value.code == 2 and "--listen" in capsys.readouterr().err


def test_the_command_refuses_a_key_others_can_read(pki, tmp_path, capsys):
    key = tmp_path / "server.key"
    key.write_bytes(open(pki["server"][1], "rb").read())
    key.chmod(0o644)
    args = receiver_args(pki)
    args[args.index("--key") + 1] = str(key)
    assert main(args + ["--state-dir", str(tmp_path / "state")]) == 2
    err = capsys.readouterr().err
    assert "--key" in err and "readable by others" in err and "PRIVATE KEY" not in err


def test_automatic_power_cycles_need_bmc_credentials_that_only_root_reads(pki, tmp_path, write_site, capsys,
                                                                          monkeypatch):
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    site = write_site("paris-gb200", put("monitoring.actions", {"power_cycle": "automatic"}))
    args = receiver_args(pki, site=str(site)) + ["--state-dir", str(tmp_path / "state")]
    assert main(args) == 2
    assert "monitoring.actions.power_cycle is automatic: give --bmc-credentials" in capsys.readouterr().err
    credentials = tmp_path / "bmc.json"
    credentials.write_text('{"username": "admin", "password": "hunter2-bmc"}')
    credentials.chmod(0o640)
    assert main(args + ["--bmc-credentials", str(credentials)]) == 2
    err = capsys.readouterr().err
    assert "readable by others" in err and "hunter2" not in err


def test_a_share_out_of_range_is_a_spec_error_at_its_field(pki, tmp_path, write_site, capsys):
    site = write_site("paris-gb200", put("monitoring.actions", {"max_rack_out": 1.5}))
    assert main(receiver_args(pki, site=str(site)) + ["--state-dir", str(tmp_path / "state")]) == 2
    assert "monitoring.actions.max_rack_out" in capsys.readouterr().err
