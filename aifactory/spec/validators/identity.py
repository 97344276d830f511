"""The trust anchor of IAM Roles Anywhere: one CA certificate inside the site, valid, with a strong key."""

from __future__ import annotations

import datetime
import os
import re
import stat
from collections.abc import Iterator

from aifactory.spec.model import Factory
from aifactory.spec.validators.registry import Problem, shown, validator

TRUST_ANCHOR_MAX_BYTES = 64 * 1024
TRUST_ANCHOR_WARN_DAYS = 90
PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----")
EC_CURVES = ("secp256r1", "secp384r1")  # P-256 and P-384: what IAM Roles Anywhere accepts beside RSA


def _trust_anchor(f: Factory):
    """(certificate, None) or (None, problem message) for the spec's trust anchor file."""
    from cryptography import x509

    given = f.identity.trust_anchor.certificate_file
    site = f.site_dir.resolve()
    if "\0" in given:
        return None, "holds a NUL byte"
    try:
        file = (site / given).resolve()  # links followed as far as they go, `..` resolved
        if not file.is_relative_to(site):
            return None, f"must be a file inside the site directory {shown(site, 200)} (a link must not lead out of it)"
        info = os.stat(file)
    except FileNotFoundError:
        return None, f"file not found at {shown(site / given, 200)}"
    except (OSError, RuntimeError) as err:  # a symlink loop, a directory in the way
        return None, f"cannot be read ({getattr(err, 'strerror', None) or err})"
    if not stat.S_ISREG(info.st_mode):
        return None, "is not a regular file"
    if info.st_size > TRUST_ANCHOR_MAX_BYTES:
        return None, f"is {info.st_size} bytes; a CA certificate is a few kilobytes"
    data = file.read_bytes()
    if b"PRIVATE KEY" in data:
        return None, "holds a private key; the trust anchor is the public CA certificate only"
    blocks = list(PEM_CERTIFICATE.finditer(data))
    if not blocks:
        return None, "not a PEM X.509 certificate"
    if len(blocks) > 1 or data[blocks[0].end():].strip():
        return None, "holds something after the certificate's PEM block; the file is one CA certificate only"
    try:
        return x509.load_pem_x509_certificate(data), None
    except ValueError:
        return None, "not a PEM X.509 certificate"


@validator()
def trust_anchor_certificate(f: Factory) -> Iterator[Problem]:
    """One CA certificate, in its validity window, RSA >= 2048 bits or EC P-256/P-384, inside the site.

    Fix: Point identity.trust_anchor.certificate_file at one PEM CA certificate inside the site directory, valid
    now, with an RSA key of 2048 bits or more or an EC P-256/P-384 key."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    path = "identity.trust_anchor.certificate_file"
    given = f.identity.trust_anchor.certificate_file
    cert, problem = _trust_anchor(f)
    if problem:
        yield Problem(path, problem, given)
        return
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        yield Problem(path, "is not a CA certificate (basicConstraints CA:TRUE missing)", given)
    now = datetime.datetime.now(datetime.timezone.utc)
    if now < cert.not_valid_before_utc:
        yield Problem(path, f"is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC", given)
    if now > cert.not_valid_after_utc:
        yield Problem(path, f"expired on {cert.not_valid_after_utc:%Y-%m-%d}", given)
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            yield Problem(path, f"has an RSA key of {key.key_size} bits; at least 2048", given)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_CURVES:
            yield Problem(path, f"has an EC key on {key.curve.name}; use P-256 or P-384", given)
    else:
        yield Problem(path, f"has a {type(key).__name__.removeprefix('_')} key; use RSA (2048 bits or more) or "
                      "EC P-256/P-384", given)


@validator(level="warning")
def trust_anchor_expiry(f: Factory) -> Iterator[Problem]:
    """The trust anchor's CA certificate does not expire within the warning window (a warning).

    Fix: Renew the factory CA and update identity.trust_anchor.certificate_file before the date the problem gives."""
    cert, _ = _trust_anchor(f)
    if cert is None:
        return
    left = cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    if datetime.timedelta(0) <= left <= datetime.timedelta(days=TRUST_ANCHOR_WARN_DAYS):
        yield Problem("identity.trust_anchor.certificate_file", f"expires in {left.days} days "
                      f"({cert.not_valid_after_utc:%Y-%m-%d}): renew the CA and update the trust anchor",
                      f.identity.trust_anchor.certificate_file)
