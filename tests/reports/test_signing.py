"""The acceptance certificate signed by the factory's KMS key of the spec's `kms_key_spec` (ECC_NIST_P256, RSA_3072,
RSA_4096), against moto's KMS, and checked offline against the public key the site's spec names, of that type only."""

from __future__ import annotations

import base64
import json

import boto3
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from moto import mock_aws

from aifactory.cli import main
from aifactory.reports import certificate, signing
from aifactory.spec import load_spec
from tests.reports.test_certificate import SITE, observations, pem_public, write_results
from tests.spec.conftest import write_site  # noqa: F401  (fixture: a mutated copy of an example site)

ALGORITHM = {"ECC_NIST_P256": "ECDSA_SHA_256", "RSA_3072": "RSASSA_PSS_SHA_256", "RSA_4096": "RSASSA_PSS_SHA_256"}


@pytest.fixture
def kms_site(write_site, tmp_path, monkeypatch):
    """lab-b200 signing with KMS (moto's stand-in), its acceptance results; `make(key_spec)` writes the site."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    def make(key_spec: str):
        def kms_signing(data):
            data["acceptance"] = {"certificate": {"signing": "kms", "public_key_file": "pki/acceptance.pem",
                                                  "kms_key_spec": key_spec}}
        path = write_site(SITE, kms_signing)
        results = tmp_path / "acceptance"
        for node in load_spec(path).nodes:
            write_results(results, node.name, observations(node.name))
        return {"dir": path, "results": results, "out": tmp_path / "certificate.json"}

    with mock_aws():
        yield make


def kms_key(site_dir, key_spec: str, *, alias: bool = True):
    """A SIGN_VERIFY key of `key_spec` in moto's KMS (the site's alias pointing at it) and its public key."""
    f = load_spec(site_dir)
    kms = boto3.client("kms", region_name=f.sovereignty.region)
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec=key_spec)["KeyMetadata"]["KeyId"]
    if alias:
        kms.create_alias(AliasName=signing.kms_alias(f.name), TargetKeyId=key_id)
    return kms, key_id, serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])


def name_public_key(site, key, key_spec: str) -> None:
    """The site's spec names `key` (of `key_spec`) as the certificate's public key."""
    spec = site["dir"] / "factory.yaml"
    text = spec.read_text()
    spec.write_text(text.replace(f"kms_key_spec: {load_spec(site['dir']).acceptance.certificate.kms_key_spec}",
                                 f"kms_key_spec: {key_spec}"))
    (site["dir"] / "pki" / "acceptance.pem").write_bytes(pem_public(key))


def certify(site, capsys) -> tuple[int, str]:
    code = main(["acceptance", "certificate", str(site["dir"]), "--out", str(site["out"]),
                 "--acceptance", str(site["results"])])
    return code, capsys.readouterr().err


def verify(site, capsys, path=None) -> tuple[int, str]:
    code = main(["acceptance", "verify", str(path or site["out"]), "--site", str(site["dir"])])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("key_spec", list(ALGORITHM))
def test_kms_signs_with_the_specs_key_and_verify_checks_the_named_public_key(kms_site, capsys, key_spec):
    site = kms_site(key_spec)
    kms, key_id, public = kms_key(site["dir"], key_spec)
    name_public_key(site, public, key_spec)
    code, err = certify(site, capsys)
    assert code == 0, err
    entry = json.loads(site["out"].read_text())["entries"][0]
    assert entry["signature"]["algorithm"] == ALGORITHM[key_spec]
    # KMS itself agrees that it signed this statement with the spec's algorithm
    assert kms.verify(KeyId=key_id, Message=signing.statement(certificate.sha256(entry["body"])), MessageType="RAW",
                      Signature=base64.b64decode(entry["signature"]["value"]),
                      SigningAlgorithm=ALGORITHM[key_spec])["SignatureValid"]
    assert verify(site, capsys) == (0, "")  # offline, with the named public key
    # one byte changed: a digit of a GPU serial
    text = site["out"].read_text()
    at = text.index('"serial": "') + len('"serial": "')
    edited = site["out"].with_name("edited.json")
    edited.write_text(text[:at] + ("1" if text[at] != "1" else "2") + text[at + 1:])
    code, err = verify(site, capsys, edited)
    assert code == 1 and "signature does not verify" in err
    # another key of the same spec named by the site: the certificate does not verify
    _, _, other = kms_key(site["dir"], key_spec, alias=False)
    name_public_key(site, other, key_spec)
    code, err = verify(site, capsys)
    assert code == 1 and "signature does not verify" in err


@pytest.mark.parametrize("signed_with, checked_against", [
    ("ECC_NIST_P256", "RSA_3072"), ("RSA_3072", "ECC_NIST_P256"), ("RSA_4096", "RSA_3072")])
def test_a_certificate_signed_by_one_key_type_fails_against_the_others_public_key(kms_site, capsys, signed_with,
                                                                                  checked_against):
    site = kms_site(signed_with)
    _, _, public = kms_key(site["dir"], signed_with)
    name_public_key(site, public, signed_with)
    assert certify(site, capsys)[0] == 0
    _, _, other = kms_key(site["dir"], checked_against, alias=False)
    name_public_key(site, other, checked_against)
    code, err = verify(site, capsys)
    assert code == 1 and "signature does not verify" in err and "Traceback" not in err


def test_a_public_key_of_another_type_than_the_spec_says_exits_2_naming_the_field(kms_site, capsys):
    site = kms_site("RSA_3072")
    _, _, public = kms_key(site["dir"], "RSA_3072")
    name_public_key(site, public, "RSA_3072")
    assert certify(site, capsys)[0] == 0
    other_type = ec.generate_private_key(ec.SECP256R1()).public_key()
    (site["dir"] / "pki" / "acceptance.pem").write_bytes(pem_public(other_type))
    for run in (certify, verify):
        code, err = run(site, capsys)
        assert code == 2 and "acceptance.certificate.public_key_file" in err and "kms_key_spec is RSA_3072" in err
        assert "Traceback" not in err


def test_a_kms_key_of_another_spec_than_the_spec_says_is_refused(kms_site, capsys):
    site = kms_site("RSA_4096")
    kms_key(site["dir"], "RSA_3072")  # the alias names a key of another spec than the site's
    (site["dir"] / "pki" / "acceptance.pem").write_bytes(
        pem_public(rsa.generate_private_key(public_exponent=65537, key_size=4096).public_key()))
    code, err = certify(site, capsys)
    assert code == 2 and "is RSA_3072 for SIGN_VERIFY" in err and "kms_key_spec says RSA_4096" in err
    assert not site["out"].exists()


@pytest.mark.parametrize("salt_length", [32, padding.PSS.MAX_LENGTH], ids=["kms-32-byte-salt", "moto-max-salt"])
def test_rsassa_pss_signatures_verify_with_kms_and_motos_salt_and_not_as_ecdsa(salt_length):
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    message = signing.statement("ab" * 32)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt_length)
    value = base64.b64encode(key.sign(message, pss, hashes.SHA256())).decode()
    assert signing.signature_valid(key.public_key(), "RSASSA_PSS_SHA_256", message, value)
    assert not signing.signature_valid(key.public_key(), "RSASSA_PSS_SHA_256", message + b" ", value)
    assert not signing.signature_valid(key.public_key(), "ECDSA_SHA_256", message, value)
    pkcs1 = base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
    assert not signing.signature_valid(key.public_key(), "RSASSA_PSS_SHA_256", message, pkcs1)
    ecdsa = ec.generate_private_key(ec.SECP256R1())
    assert not signing.signature_valid(ecdsa.public_key(), "RSASSA_PSS_SHA_256", message,
                                       base64.b64encode(ecdsa.sign(message, ec.ECDSA(hashes.SHA256()))).decode())
