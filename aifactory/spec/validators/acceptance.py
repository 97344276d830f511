"""The acceptance certificate's signing key: one the site can hold (aifactory.reports.signing signs with it)."""

from __future__ import annotations

from collections.abc import Iterator

from aifactory.spec.model import Factory
from aifactory.spec.validators.registry import Problem, validator


@validator()
def certificate_signing_key(f: Factory) -> Iterator[Problem]:
    """A KMS signing key only where KMS holds the factory's keys; a local key names its private key file.

    Fix: With sovereignty.keys external-key-store (an external key store holds symmetric keys only), set
    acceptance.certificate.signing to local-key; with local-key, set acceptance.certificate.private_key_file."""
    certificate = f.acceptance.certificate
    if certificate is None:
        return
    if certificate.signing == "kms" and f.sovereignty.keys != "customer-managed":
        yield Problem("acceptance.certificate.signing", "kms needs sovereignty.keys customer-managed: an external key "
                      "store holds symmetric keys only, so it cannot sign; use local-key", certificate.signing)
    if certificate.signing == "local-key" and not certificate.private_key_file:
        yield Problem("acceptance.certificate.private_key_file", "local-key signing needs the path of the Ed25519 "
                      "private key the customer holds", None)
