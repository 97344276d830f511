"""The trust anchor file, as a hostile user would hand it over: every defect refused with the field named."""

from __future__ import annotations

import datetime
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from aifactory.spec import load_spec
from tests.hostile.conftest import assert_refused, run_inprocess

FIELD = "identity.trust_anchor.certificate_file"
NOW = datetime.datetime.now(datetime.timezone.utc)


def certificate(key=None, *, ca: bool = True, start: datetime.timedelta = datetime.timedelta(days=-1),
                days: int = 3650) -> bytes:
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "factory root CA")])
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(NOW + start).not_valid_after(NOW + start + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(key, algorithm))
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def small_rsa():
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


CASES = {
    "expired": (lambda k: certificate(start=datetime.timedelta(days=-30), days=10), "expired on"),
    "not yet valid": (lambda k: certificate(start=datetime.timedelta(days=5)), "is not valid before"),
    "RSA 1024": (lambda k: certificate(k), "RSA key of 1024 bits"),
    "EC P-521": (lambda k: certificate(ec.generate_private_key(ec.SECP521R1())), "use P-256 or P-384"),
    "Ed25519": (lambda k: certificate(ed25519.Ed25519PrivateKey.generate()), "use RSA"),
    "not a CA": (lambda k: certificate(ca=False), "not a CA certificate"),
    "trailing data": (lambda k: certificate() + b"#!/bin/sh\nrm -rf /\n", "after the certificate's PEM block"),
    "two certificates": (lambda k: certificate() + certificate(), "after the certificate's PEM block"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_certificate_is_refused(site, capsys, small_rsa, case):
    make, message = CASES[case]
    target = site("lab-b200")
    (target / "pki" / "factory-root-ca.pem").write_bytes(make(small_rsa))
    code, _, err = run_inprocess(capsys, "validate", target)
    assert_refused(code, err, FIELD, message)


def test_symlink_out_of_the_site_is_refused(site, capsys, tmp_path):
    outside = tmp_path / "elsewhere.pem"
    outside.write_bytes(certificate())
    target = site("lab-b200")
    anchor = target / "pki" / "factory-root-ca.pem"
    anchor.unlink()
    anchor.symlink_to(outside)
    code, _, err = run_inprocess(capsys, "validate", target)
    assert_refused(code, err, FIELD, "inside the site directory")


@pytest.mark.parametrize("path,message", [("../../etc/passwd", "inside the site directory"),
                                          ("/dev/zero", "inside the site directory"),
                                          ("pki/fifo.pem", "not a regular file"),
                                          ("pki/loop.pem", "cannot be read")])
def test_other_files_are_refused(site, capsys, path, message):
    target = site("lab-b200", lambda d: d["identity"]["trust_anchor"].update(certificate_file=path))
    os.mkfifo(target / "pki" / "fifo.pem")
    (target / "pki" / "loop.pem").symlink_to(target / "pki" / "loop.pem")
    code, _, err = run_inprocess(capsys, "validate", target)
    assert_refused(code, err, FIELD, message)


def test_expiring_within_90_days_is_a_warning(site):
    target = site("lab-b200")
    (target / "pki" / "factory-root-ca.pem").write_bytes(certificate(days=40))
    warnings = []
    load_spec(target, warnings=warnings)
    [warning] = [w for w in warnings if w.path == FIELD]
    assert warning.level == "warning" and "expires in 38 days" in warning.message


def test_rsa_2048_and_p384_are_accepted(site):
    target = site("lab-b200")
    for key in (rsa.generate_private_key(public_exponent=65537, key_size=2048), ec.generate_private_key(ec.SECP384R1())):
        (target / "pki" / "factory-root-ca.pem").write_bytes(certificate(key))
        assert load_spec(target).name == "lab-b200"
