"""The lab's certificate authority, and the HTTPS listener that serves moto under AWS's endpoint names.

`lab up` makes a CA of its own per lab (a stand-in for a site's CA, named as one in its subject;
its key lives in the lab's state directory only, never in the repository) and issues from it:
the certificate of the HTTPS listener, valid for the private endpoint names the plan lists, and
one client certificate per node (what a site's CA issues for IAM Roles Anywhere). Nodes trust the
CA the way a site installs its own: in the system store (update-ca-certificates).

`python -m aifactory.lab.tls --listen ADDR:PORT --cert C --key K --to HOST:PORT` accepts TLS on
ADDR:PORT and forwards each connection's bytes to HOST:PORT (the lab's moto_server on 127.0.0.1),
so moto sees the request as sent, `Host: sts.<region>.amazonaws.com` included.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import socket
import ssl
import sys
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from aifactory.core.inputs import BadInput, InputFileError, read_text

CA_NAME = "aifactory lab CA (stand-in for the site's CA)"
VALID_DAYS = 30


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aifactory lab (stand-in)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.touch(mode=0o600)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _read_pem(path: Path) -> bytes:
    """A certificate or key the lab wrote, read back as any input (a regular file of bounded size); BadInput
    naming it otherwise."""
    try:
        return read_text(path).encode()
    except InputFileError as err:
        raise BadInput(f"{path}: {err}: remove the lab's pki directory (the next `lab up` makes a new CA)") from None


def ensure_ca(directory: Path) -> tuple[Path, Path]:
    """The lab CA's certificate and key under `directory`, made once and again when it expires within a day."""
    cert_path, key_path = directory / "lab-ca.crt", directory / "lab-ca.key"
    now = datetime.datetime.now(datetime.timezone.utc)
    if cert_path.exists() and key_path.exists():
        expires = x509.load_pem_x509_certificate(_read_pem(cert_path)).not_valid_after_utc
        if expires - now > datetime.timedelta(days=1):
            return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(CA_NAME)).issuer_name(_name(CA_NAME))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def issue(ca: tuple[Path, Path], directory: Path, name: str, dns_names: list[str] = (),
          addresses: list[str] = (), client: bool = False, server: bool | None = None) -> tuple[Path, Path]:
    """A certificate and key `<directory>/<name>.crt|.key` from the lab CA: for a TLS server (the DNS
    names and addresses as subject alternative names) or, with `client`, for a node's identity; with both
    `client` and `server`, for a service that serves and calls others (Prometheus)."""
    if server is None:  # a server certificate, unless it is a client's
        server = not client
    usages = [oid for oid, wanted in ((ExtendedKeyUsageOID.SERVER_AUTH, server), (ExtendedKeyUsageOID.CLIENT_AUTH, client))
              if wanted]
    ca_cert = x509.load_pem_x509_certificate(_read_pem(ca[0]))
    ca_key = serialization.load_pem_private_key(_read_pem(ca[1]), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    sans = [x509.DNSName(n) for n in dns_names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    builder = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


# --- the HTTPS listener ----------------------------------------------------------------------------
def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _serve_one(conn: socket.socket, context: ssl.SSLContext, target: tuple[str, int]) -> None:
    try:
        tls = context.wrap_socket(conn, server_side=True)
        upstream = socket.create_connection(target, timeout=30)
    except OSError:
        conn.close()
        return
    upstream.settimeout(None)
    back = threading.Thread(target=_pump, args=(upstream, tls), daemon=True)
    back.start()
    _pump(tls, upstream)
    back.join()
    tls.close()
    upstream.close()


def serve(listen: tuple[str, int], cert: Path, key: Path, target: tuple[str, int]) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with socket.create_server(listen, reuse_port=False) as server:
        while True:
            conn, _ = server.accept()
            threading.Thread(target=_serve_one, args=(conn, context, target), daemon=True).start()


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m aifactory.lab.tls",
                                description="aifactory lab stand-in: HTTPS in front of the lab's moto_server")
    p.add_argument("--listen", required=True, type=_host_port, metavar="ADDR:PORT")
    p.add_argument("--cert", required=True, type=Path)
    p.add_argument("--key", required=True, type=Path)
    p.add_argument("--to", required=True, type=_host_port, metavar="HOST:PORT")
    args = p.parse_args(argv)
    serve(args.listen, args.cert, args.key, args.to)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
