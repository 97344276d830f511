"""Acceptance: the certificate's signing key, one the site can hold (aifactory.reports.signing signs with it), and the
performance baselines the site recorded."""

from __future__ import annotations

from collections.abc import Iterator

from aifactory.catalog.performance import performance_thresholds
from aifactory.spec.model import ACCEPTANCE_KMS_KEY_SPECS, DEFAULT_ACCEPTANCE_KMS_KEY_SPEC, Factory
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


@validator()
def certificate_kms_key_spec(f: Factory) -> Iterator[Problem]:
    """The KMS signing key's spec is one aifactory signs and verifies with, and only KMS signing sets it.

    Fix: Set acceptance.certificate.kms_key_spec to ECC_NIST_P256 (the default), RSA_3072 or RSA_4096; with
    local-key signing (Ed25519) leave it out."""
    certificate = f.acceptance.certificate
    if certificate is None:
        return
    field, spec = "acceptance.certificate.kms_key_spec", certificate.kms_key_spec
    if spec not in ACCEPTANCE_KMS_KEY_SPECS:
        yield Problem(field, "is not a KMS key spec the certificate is signed with: use ECC_NIST_P256 (ECDSA_SHA_256, "
                      "the default), or RSA_3072 or RSA_4096 (RSASSA_PSS_SHA_256) where the site's HSM policy "
                      "requires RSA", spec)
    elif certificate.signing == "local-key" and spec != DEFAULT_ACCEPTANCE_KMS_KEY_SPEC:
        yield Problem(field, "applies to kms signing only: local-key signs with an Ed25519 key; leave it out or set "
                      "acceptance.certificate.signing to kms", spec)


@validator()
def performance_baselines(f: Factory) -> Iterator[Problem]:
    """A recorded baseline names a check the catalog leaves to a site baseline on this platform, with a positive
    figure at or above the check's published floor.

    Fix: Keep in acceptance.performance_baselines only the checks aifactory/catalog/performance.yaml marks
    `site_baseline: true` for the platform, each with a positive figure (the check's unit) not below its floor."""
    baseline_checks = {name: t for name, t in performance_thresholds().get(f.compute.platform, {}).items()
                       if t.site_baseline}
    for name, figure in f.acceptance.performance_baselines.items():
        path = f"acceptance.performance_baselines.{name}"
        if name not in baseline_checks:
            yield Problem(path, f"is not a site-baseline check of {f.compute.platform}: use one of "
                          f"{', '.join(sorted(baseline_checks)) or '(none)'}", name)
        elif figure <= 0:
            yield Problem(path, "must be a positive figure in the check's unit", figure)
        elif (floor := baseline_checks[name].floor) is not None and figure < floor.min:
            yield Problem(path, f"is below the check's published floor, {floor.min:g}: a baseline under it could "
                          "never pass", figure)
