"""The lab's AWS link stand-ins without a lab: the DNS answers, the lab CA and its HTTPS listener, the
signing helper's output (against an in-process moto_server), the SSM agent's registration record."""

from __future__ import annotations

import json
import socket
import ssl
import struct
import subprocess
import sys
import threading
from datetime import datetime

import boto3
import pytest
from moto.server import ThreadedMotoServer

from aifactory.lab import aws, dns, tls
from aifactory.lab.procs import wait_until

REGION = "eu-central-1"
STS = f"sts.{REGION}.amazonaws.com"
HELPER = aws.STAND_IN_TOOLS / aws.SIGNING_HELPER
AGENT = aws.STAND_IN_TOOLS / "amazon-ssm-agent"


def query_packet(name: str, qtype: int = dns.TYPE_A) -> bytes:
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, dns.CLASS_IN)


def rcode_and_answers(response: bytes) -> tuple[int, int]:
    flags, _qd, answers = struct.unpack("!HHH", response[2:8])
    return flags & 0xF, answers


# --- DNS --------------------------------------------------------------------------------------------
def test_endpoint_names_resolve_to_the_gateway_and_nothing_else_resolves():
    names = {STS, f"bedrock-runtime.{REGION}.amazonaws.com"}
    response = dns.answer(query_packet("STS.eu-central-1.amazonaws.com"), names, "10.77.1.1")
    assert rcode_and_answers(response) == (dns.NOERROR, 1)
    assert response.endswith(bytes([10, 77, 1, 1]))
    assert rcode_and_answers(dns.answer(query_packet(STS, qtype=28), names, "10.77.1.1")) == (dns.NOERROR, 0)  # AAAA
    assert rcode_and_answers(dns.answer(query_packet("deb.debian.org"), names, "10.77.1.1")) == (dns.NXDOMAIN, 0)
    assert rcode_and_answers(dns.answer(struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\x05ab", names, "10.77.1.1"))[0] == dns.FORMERR
    assert dns.answer(b"\x00", names, "10.77.1.1") is None


def test_dns_server_answers_what_the_stack_outputs_file_lists_as_it_changes(tmp_path):
    outputs = tmp_path / "stack-outputs.json"
    port = free_udp_port()
    threading.Thread(target=dns.serve, args=("127.0.0.1", outputs, "10.77.1.1", port), daemon=True).start()
    assert wait_for(lambda: answers_or_none("127.0.0.1", STS, port) is not None)
    assert dns.query("127.0.0.1", STS, port=port) == []  # no plan yet: no endpoint
    outputs.write_text(json.dumps({"region": REGION, "endpoint_dns": {"sts": STS}}))
    assert dns.query("127.0.0.1", STS, port=port) == ["10.77.1.1"]
    assert dns.query("127.0.0.1", "example.com", port=port) == []


def test_dns_server_writes_down_each_name_it_does_not_answer_once_per_asking_host(tmp_path, monkeypatch):
    outputs, misses = tmp_path / "stack-outputs.json", tmp_path / "dns-misses.jsonl"
    outputs.write_text(json.dumps({"region": REGION, "endpoint_dns": {"sts": STS}}))
    monkeypatch.setattr(dns, "MAX_MISSES", 2)
    port = free_udp_port()
    threading.Thread(target=dns.serve, args=("127.0.0.1", outputs, "10.77.1.1", port, misses), daemon=True).start()
    assert wait_for(lambda: answers_or_none("127.0.0.1", STS, port) is not None)
    for name in ("IAM.amazonaws.com", "iam.amazonaws.com", STS, "deb.debian.org", "example.com"):
        dns.query("127.0.0.1", name, port=port)
    # STS is answered; iam asked twice is written once; past MAX_MISSES (here 2) nothing more is written.
    assert [json.loads(line) for line in misses.read_text().splitlines()] == [
        {"name": "iam.amazonaws.com", "from": "127.0.0.1"}, {"name": "deb.debian.org", "from": "127.0.0.1"}]


# --- the lab CA and the HTTPS listener ----------------------------------------------------------------
def test_https_listener_serves_the_endpoint_names_with_the_lab_ca(tmp_path):
    ca = tls.ensure_ca(tmp_path)
    assert (tmp_path / "lab-ca.key").stat().st_mode & 0o077 == 0
    cert, key = tls.issue(ca, tmp_path, "aws-endpoints", aws.server_names(REGION), ["127.0.0.1"])
    backend = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=lambda: echo_once(backend), daemon=True).start()
    port = free_tcp_port()
    threading.Thread(target=tls.serve, args=(("127.0.0.1", port), cert, key, backend.getsockname()), daemon=True).start()
    context = ssl.create_default_context(cafile=str(ca[0]))
    assert wait_for(lambda: connectable(port))
    with socket.create_connection(("127.0.0.1", port)) as raw, context.wrap_socket(raw, server_hostname=STS) as s:
        s.sendall(b"ping")
        assert s.recv(4) == b"ping"
    with socket.create_connection(("127.0.0.1", port)) as raw, pytest.raises(ssl.SSLCertVerificationError):
        context.wrap_socket(raw, server_hostname="sts.amazonaws.com.example.org")


def test_lab_ca_is_kept_until_it_nears_expiry(tmp_path, monkeypatch):
    first = tls.ensure_ca(tmp_path)[0].read_bytes()
    assert tls.ensure_ca(tmp_path)[0].read_bytes() == first
    monkeypatch.setattr(tls, "VALID_DAYS", 0)
    (tmp_path / "lab-ca.crt").unlink()
    short = tls.ensure_ca(tmp_path)[0].read_bytes()  # valid for minutes only
    assert tls.ensure_ca(tmp_path)[0].read_bytes() != short


# --- the signing helper stand-in ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}/"
    server.stop()


def node_identity(tmp_path):
    ca = tls.ensure_ca(tmp_path)
    return tls.issue(ca, tmp_path, "lab-b200-r001-n01", client=True)


def helper(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HELPER), *args], capture_output=True, text=True, timeout=60)


def credential_process(cert, key, endpoint: str) -> subprocess.CompletedProcess:
    return helper("credential-process", "--certificate", str(cert), "--private-key", str(key),
                  "--trust-anchor-arn", f"arn:aws:rolesanywhere:{REGION}:222233334444:trust-anchor/0a1b2c3d4e5f",
                  "--profile-arn", f"arn:aws:rolesanywhere:{REGION}:222233334444:profile/1b2c3d4e5f6a",
                  "--role-arn", "arn:aws:iam::222233334444:role/lab-b200-node", "--endpoint", endpoint)


def test_signing_helper_prints_credentials_in_the_documented_format(tmp_path, moto_url):
    cert, key = node_identity(tmp_path)
    done = credential_process(cert, key, moto_url)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert list(out) == ["Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"]
    assert out["Version"] == 1 and out["AccessKeyId"].startswith("ASIA") and out["SessionToken"]
    datetime.fromisoformat(out["Expiration"].replace("Z", "+00:00"))
    whoami = boto3.client("sts", region_name=REGION, endpoint_url=moto_url, aws_access_key_id=out["AccessKeyId"],
                          aws_secret_access_key=out["SecretAccessKey"], aws_session_token=out["SessionToken"])
    assert whoami.get_caller_identity()["Arn"] == "arn:aws:sts::222233334444:assumed-role/lab-b200-node/lab-b200-r001-n01"


def test_signing_helper_refuses_a_key_that_is_not_the_certificates(tmp_path, moto_url):
    cert, _ = node_identity(tmp_path)
    _, other_key = tls.issue(tls.ensure_ca(tmp_path), tmp_path, "other", client=True)
    done = credential_process(cert, other_key, moto_url)
    assert done.returncode == 1 and done.stdout == ""
    assert "is not the private key of" in done.stderr


def test_signing_helper_says_it_is_a_stand_in():
    for args in (["--version"], ["version"], ["--help"]):
        assert "stand-in" in helper(*args).stdout


# --- the SSM agent stand-in ------------------------------------------------------------------------------
def test_ssm_agent_records_the_registration_never_the_code(tmp_path):
    registration = tmp_path / "ssm" / "registration"
    code = "lab-act-Zk2+Lm4/Qx9"
    done = subprocess.run([sys.executable, str(AGENT), "-register", "-code", code, "-id", "mock-0fb48c07caae",
                           "-region", REGION, "-y"], capture_output=True, text=True, timeout=30,
                          env={"AIFACTORY_SSM_REGISTRATION": str(registration)})
    assert done.returncode == 0, done.stderr
    recorded = json.loads(registration.read_text())
    assert recorded["ManagedInstanceID"].startswith("mi-") and recorded["Region"] == REGION
    assert "stand-in" in recorded["StandIn"]
    assert code not in registration.read_text() + done.stdout + done.stderr
    version = subprocess.run([sys.executable, str(AGENT), "-version"], capture_output=True, text=True, timeout=30)
    assert "stand-in" in version.stdout


def test_ssm_agent_package_is_named_as_a_stand_in(tmp_path):
    deb = aws.build_ssm_agent_deb(tmp_path / "amazon-ssm-agent.deb")
    info = subprocess.run(["dpkg-deb", "-I", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "Package: amazon-ssm-agent" in info and "stand-in for the Amazon SSM Agent" in info
    files = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "./usr/bin/amazon-ssm-agent" in files and "amazon-ssm-agent.service" in files


# --- helpers ------------------------------------------------------------------------------------------------
def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers_or_none(server: str, name: str, port: int):
    try:
        return dns.query(server, name, timeout=0.2, port=port)
    except OSError:
        return None


def connectable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def wait_for(ready) -> bool:
    return wait_until(ready, 10, every_s=0.05)


def echo_once(server: socket.socket) -> None:
    conn, _ = server.accept()
    with conn:
        conn.sendall(conn.recv(4))
