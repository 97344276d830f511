"""Signing the acceptance certificate, and checking a signature against the site's own public key.

Two signers of one statement: an Ed25519 key the customer holds (`local-key`: offline and external-key-store
sites), or the factory's asymmetric KMS key `alias/<name>-acceptance` (`kms`: ECC_NIST_P256, ECDSA_SHA_256).
KMS signs a RAW message of at most 4096 bytes, so what is signed is a short statement naming the SHA-256 of
the entry's canonical bytes (`statement`). A signature is checked against the public key the site's spec
names (`acceptance.certificate.public_key_file`), never against a key the document carries.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from aifactory.core.inputs import BadInput, InputFileError, read_text
from aifactory.spec import Factory
from aifactory.spec.validators import shown

ED25519 = "ed25519"
ECDSA_SHA_256 = "ECDSA_SHA_256"  # KMS's name, for an ECC_NIST_P256 key
KMS_KEY_SPEC = "ECC_NIST_P256"
KEY_FILE_MAX_BYTES = 16 * 1024
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


def _key_file(f: Factory, given: str, field: str) -> str:
    path = Path(given) if Path(given).is_absolute() else f.site_dir / given
    try:
        return read_text(path, KEY_FILE_MAX_BYTES)
    except InputFileError as err:
        raise BadInput(f"{field} {shown(given, 300)}: {err} ({shown(str(path), 300)})") from None


def public_key(f: Factory):
    """The public key the site's spec names: Ed25519 or EC P-256 in PEM; BadInput naming the field otherwise."""
    config = _certificate_config(f)
    text = _key_file(f, config.public_key_file, PUBLIC_KEY_FIELD)
    if "PRIVATE KEY" in text:
        raise BadInput(f"{PUBLIC_KEY_FIELD} {shown(config.public_key_file, 300)}: holds a private key; name the "
                       "public key only (the private key stays with the customer)")
    try:
        key = serialization.load_pem_public_key(text.encode())
    except ValueError:
        hint = (f" (export it: aws kms get-public-key --key-id {kms_alias(f.name)} --query PublicKey --output text "
                "| base64 -d | openssl pkey -pubin -inform DER)" if config.signing == "kms" else "")
        raise BadInput(f"{PUBLIC_KEY_FIELD} {shown(config.public_key_file, 300)}: not a PEM public key{hint}") from None
    if not (isinstance(key, ed25519.Ed25519PublicKey)
            or (isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1")):
        raise BadInput(f"{PUBLIC_KEY_FIELD} {shown(config.public_key_file, 300)}: a {type(key).__name__.lstrip('_')}; "
                       "the certificate is signed with Ed25519 (local-key) or EC P-256 (kms)")
    return key


def ed25519_public_key(f: Factory, given: str, field: str) -> ed25519.Ed25519PublicKey:
    """An Ed25519 public key (PEM) from the file a spec field names; BadInput naming the field otherwise."""
    text = _key_file(f, given, field)
    try:
        key = serialization.load_pem_public_key(text.encode())
    except ValueError:
        raise BadInput(f"{field} {shown(given, 300)}: not a PEM public key") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise BadInput(f"{field} {shown(given, 300)}: a {type(key).__name__.lstrip('_')}; an Ed25519 key is needed")
    return key


def ed25519_private_key(text: str, named: str, purpose: str) -> ed25519.Ed25519PrivateKey:
    """An unencrypted Ed25519 private key (PEM) from `text`; BadInput naming where it came from otherwise."""
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError):  # TypeError: an encrypted key
        raise BadInput(f"{named}: not an unencrypted PEM private key") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise BadInput(f"{named}: a {type(key).__name__.lstrip('_')}; {purpose} uses Ed25519")
    return key


def algorithm_of(key) -> str:
    """The signature algorithm a public key verifies."""
    return ED25519 if isinstance(key, ed25519.Ed25519PublicKey) else ECDSA_SHA_256


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
        text = _key_file(f, config.private_key_file or "", PRIVATE_KEY_FIELD)
        key = ed25519_private_key(text, f"{PRIVATE_KEY_FIELD} {shown(config.private_key_file, 300)}",
                                  "local-key signing")
        self._key = key
        self.public_key = key.public_key()

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


class KmsKey:
    """The factory's asymmetric KMS key: kms:Sign with ECDSA_SHA_256 over the RAW statement."""

    algorithm = ECDSA_SHA_256

    def __init__(self, kms, key_id: str):
        self._kms, self.key_id = kms, key_id
        answer = kms.get_public_key(KeyId=key_id)
        spec = answer.get("KeySpec") or answer.get("CustomerMasterKeySpec")  # moto answers the older name only
        if spec != KMS_KEY_SPEC or answer.get("KeyUsage") != "SIGN_VERIFY":
            raise BadInput(f"KMS key {shown(key_id)} is {spec} for {answer.get('KeyUsage')}; "
                           f"the acceptance key is {KMS_KEY_SPEC} for SIGN_VERIFY (infra/keys.py)")
        self.public_key = serialization.load_der_public_key(answer["PublicKey"])

    def sign(self, message: bytes) -> bytes:
        return self._kms.sign(KeyId=self.key_id, Message=message, MessageType="RAW",
                              SigningAlgorithm=ECDSA_SHA_256)["Signature"]
