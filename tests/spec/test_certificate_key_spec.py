"""`acceptance.certificate.kms_key_spec`: the KMS key spec the certificate is signed with, one aifactory signs and
verifies with (ECC_NIST_P256 by default, RSA_3072, RSA_4096), and set only where KMS signs."""

from __future__ import annotations

import pytest

from aifactory.cli import main
from aifactory.spec import load_spec
from tests.conftest import site_dir

SITE = "ohio-trn3"  # signs its certificate with KMS


def key_spec(value, signing: str = "kms"):
    def mutate(data):
        data["acceptance"]["certificate"]["kms_key_spec"] = value
        data["acceptance"]["certificate"]["signing"] = signing
        if signing == "local-key":
            data["acceptance"]["certificate"]["private_key_file"] = "/secure/acceptance.key"
    return mutate


def test_the_default_is_ecc_p256():
    assert load_spec(site_dir(SITE)).acceptance.certificate.kms_key_spec == "ECC_NIST_P256"


@pytest.mark.parametrize("value", ["RSA_3072", "RSA_4096", "ECC_NIST_P256"])
def test_a_key_spec_it_signs_with_is_accepted(write_site, value):
    assert load_spec(write_site(SITE, key_spec(value))).acceptance.certificate.kms_key_spec == value


@pytest.mark.parametrize("value, signing, expect", [
    ("RSA_2048", "kms", "use ECC_NIST_P256 (ECDSA_SHA_256, the default), or RSA_3072 or RSA_4096"),
    ("ECC_NIST_P384", "kms", "is not a KMS key spec the certificate is signed with"),
    ("rsa_3072", "kms", "(given: 'rsa_3072')"),
    ("RSA_3072", "local-key", "applies to kms signing only: local-key signs with an Ed25519 key"),
])
def test_validate_refuses_a_key_spec_it_cannot_sign_with_exit_2_naming_the_field(write_site, capsys, value, signing,
                                                                                 expect):
    code = main(["validate", str(write_site(SITE, key_spec(value, signing)))])
    err = capsys.readouterr().err
    assert code == 2 and "acceptance.certificate.kms_key_spec" in err and expect in err and "Traceback" not in err
