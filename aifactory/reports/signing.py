"""Signing the acceptance certificate, and checking a signature against the site's own public key.

Two signers of one statement: an Ed25519 key the customer holds (`local-key`: offline and external-key-store
sites), or the factory's asymmetric KMS key `alias/<name>-acceptance` (`kms`), of the spec's
`acceptance.certificate.kms_key_spec`: ECC_NIST_P256 signing ECDSA_SHA_256 (the default), or RSA_3072 /
RSA_4096 signing RSASSA_PSS_SHA_256 (sites whose HSM policy requires RSA). KMS signs a RAW message of at
most 4096 bytes, so what is signed is a short statement naming the SHA-256 of the entry's canonical bytes
(`statement`). A signature is checked against the public key the site's spec names
(`acceptance.certificate.public_key_file`, a key of the type the spec says signs), never against a key the
document carries.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from aifactory.core.inputs import BadInput
from aifactory.spec import Factory
from aifactory.spec.key_files import ed25519_private_key, read_key_file
from aifactory.spec.model import ACCEPTANCE_KMS_KEY_SPECS
from aifactory.spec.validators import shown

ED25519 = "ed25519"
ECDSA_SHA_256 = "ECDSA_SHA_256"  # KMS's names: ECC_NIST_P256 signs ECDSA_SHA_256,
RSASSA_PSS_SHA_256 = "RSASSA_PSS_SHA_256"  # RSA_3072 and RSA_4096 sign RSASSA_PSS_SHA_256
# KMS's RSASSA-PSS: MGF1 with SHA-256, a 32-byte salt. Verifying reads the salt's length from the signature
# (PSS.AUTO): moto, the offline stand-in for KMS, salts with the most the key allows.
PSS_VERIFY = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
PUBLIC_KEY_FIELD = "acceptance.certificate.public_key_file"
PRIVATE_KEY_FIELD = "acceptance.certificate.private_key_file"


def kms_alias(site: str) -> str:
    """The alias of the factory's acceptance signing key (infra/keys.py)."""
    return f"alias/{site}-acceptance"


def statement(digest: str) -> bytes:
    """What is signed for an entry whose canonical bytes have SHA-256 `digest` (hex)."""
    return f"aifactory acceptance certificate entry sha256:{digest}".encode()


def fingerprint(public_key) -> str:
    """Which key signed: the SHA-256 of its DER SubjectPublicKeyInfo (a label; never used to verify)."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def _certificate_config(f: Factory):
    config = f.acceptance.certificate
    if config is None:
        raise BadInput(f"{f.name}: the spec has no acceptance.certificate (signing, public_key_file): say how the "
                       "certificate is signed and which public key verifies it")
    return config


def key_kind(key) -> str:
    """A public key's type as the spec names it: Ed25519 (local-key) or the KMS key spec it is a key of."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        return "ECC_NIST_P256"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA_{key.key_size}"
    return type(key).__name__.lstrip("_")


def expected_kind(f: Factory) -> str:
    """The type of key the site's spec says signs its certificate: Ed25519, or the KMS key's spec."""
    config = _certificate_config(f)
    return "Ed25519" if config.signing == "local-key" else config.kms_key_spec


def public_key(f: Factory):
    """The public key the site's spec names, in PEM, of the type the spec says signs (`expected_kind`);
    BadInput naming the field otherwise."""
    config = _certificate_config(f)
    text = read_key_file(f, config.public_key_file, PUBLIC_KEY_FIELD)
    if "PRIVATE KEY" in text:
        raise BadInput(f"{PUBLIC_KEY_FIELD} {shown(config.public_key_file, 300)}: holds a private key; name the "
                       "public key only (the private key stays with the customer)")
    try:
        key = serialization.load_pem_public_key(text.encode())
    except ValueError:
        hint = (f" (export it: aws kms get-public-key --key-id {kms_alias(f.name)} --query PublicKey --output text "
                "| base64 -d | openssl pkey -pubin -inform DER)" if config.signing == "kms" else "")
        raise BadInput(f"{PUBLIC_KEY_FIELD} {shown(config.public_key_file, 300)}: not a PEM public key{hint}") from None
    kind, expected = key_kind(key), expected_kind(f)
    if kind != expected:
        named = "acceptance.certificate.signing is local-key" if config.signing == "local-key" else \
            f"acceptance.certificate.kms_key_spec is {expected}"
        raise BadInput(f"{PUBLIC_KEY_FIELD} {shown(config.public_key_file, 300)}: a {kind} public key, but {named}: "
                       f"name the {expected} signing key's public key, or change the spec to the key that signs")
    return key


def algorithm_of(key) -> str:
    """The signature algorithm a public key verifies."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ED25519
    return RSASSA_PSS_SHA_256 if isinstance(key, rsa.RSAPublicKey) else ECDSA_SHA_256


def signature_valid(key, algorithm: str, message: bytes, signature_b64: str) -> bool:
    """Whether `signature_b64` is `key`'s signature of `message` under `algorithm` (which must be the key's)."""
    if algorithm != algorithm_of(key):
        return False
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        if base64.b64encode(signature).decode() != signature_b64:  # base64's spare bits: one signature, one text
            return False
        if algorithm == ED25519:
            key.verify(signature, message)
        elif algorithm == RSASSA_PSS_SHA_256:
            key.verify(signature, message, PSS_VERIFY, hashes.SHA256())
        else:
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


class LocalKey:
    """An Ed25519 private key the customer holds, read from the file the spec names."""

    algorithm = ED25519

    def __init__(self, f: Factory):
        config = _certificate_config(f)
        text = read_key_file(f, config.private_key_file or "", PRIVATE_KEY_FIELD)
        key = ed25519_private_key(text, f"{PRIVATE_KEY_FIELD} {shown(config.private_key_file, 300)}",
                                  "local-key signing")
        self._key = key
        self.public_key = key.public_key()

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


class KmsKey:
    """The factory's asymmetric KMS key of spec `key_spec` (acceptance.certificate.kms_key_spec): kms:Sign over
    the RAW statement with that spec's algorithm (ECDSA_SHA_256, or RSASSA_PSS_SHA_256 for RSA)."""

    def __init__(self, kms, key_id: str, key_spec: str):
        self._kms, self.key_id, self.algorithm = kms, key_id, ACCEPTANCE_KMS_KEY_SPECS[key_spec]
        answer = kms.get_public_key(KeyId=key_id)
        spec = answer.get("KeySpec") or answer.get("CustomerMasterKeySpec")  # moto answers the older name only
        if spec != key_spec or answer.get("KeyUsage") != "SIGN_VERIFY":
            raise BadInput(f"KMS key {shown(key_id)} is {spec} for {answer.get('KeyUsage')}; acceptance.certificate."
                           f"kms_key_spec says {key_spec} for SIGN_VERIFY (infra/keys.py declares it so): set the "
                           "spec to the key's spec, or `pulumi up` the key the spec names")
        self.public_key = serialization.load_der_public_key(answer["PublicKey"])

    def sign(self, message: bytes) -> bytes:
        return self._kms.sign(KeyId=self.key_id, Message=message, MessageType="RAW",
                              SigningAlgorithm=self.algorithm)["Signature"]
