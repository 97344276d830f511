"""An Ed25519 key in OpenPGP form: the site's mirror key, so that APT trusts the bundle's repositories with it
(here, below both, because the mirror build signs with it and the node inventory checks the keyring).

RFC 4880 / RFC 9580 version 4 packets with the EdDSA-legacy algorithm (22, curve Ed25519), built with
`cryptography`: the public key as a keyring (public key, a user ID naming the site's mirror, its positive
self-certification), a repository's InRelease (cleartext signature, canonical text) and Release.gpg
(detached binary signature), both SHA-512. The key's creation time is fixed (KEY_CREATED), so its
fingerprint and the whole keyring are functions of the key and the site alone (Ed25519 signs
deterministically): every build, and `aifactory mirror keyring`, writes the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

KEY_CREATED = 1577836800  # 2020-01-01T00:00:00Z: the OpenPGP creation time of every mirror key
EDDSA_LEGACY = 22
ED25519_OID = bytes.fromhex("2b06010401da470f01")
SHA512 = 10
BINARY, CANONICAL_TEXT, POSITIVE_CERTIFICATION = 0x00, 0x01, 0x13
PUBLIC_KEY, USER_ID, SIGNATURE = 6, 13, 2
_RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)
_CERTIFY_FLAGS = bytes([2, 27, 0x03, 2, 21, SHA512])  # subpackets: key flags certify and sign; SHA-512 preferred


def user_id(site: str) -> str:
    """The user ID of a site's mirror key."""
    return f"aifactory mirror of {site}"


def _packet(tag: int, body: bytes) -> bytes:
    """A packet with a new-format header."""
    n = len(body)
    if n < 192:
        length = bytes([n])
    elif n < 8384:
        length = bytes([((n - 192) >> 8) + 192, (n - 192) & 0xFF])
    else:
        length = b"\xff" + struct.pack(">I", n)
    return bytes([0xC0 | tag]) + length + body


def _mpi(value: bytes) -> bytes:
    value = value.lstrip(b"\x00")
    bits = (len(value) - 1) * 8 + value[0].bit_length() if value else 0
    return struct.pack(">H", bits) + value


def _key_body(public: ed25519.Ed25519PublicKey) -> bytes:
    point = b"\x40" + public.public_bytes(*_RAW)  # 0x40: the native (compressed) point prefix
    return struct.pack(">BIB", 4, KEY_CREATED, EDDSA_LEGACY) + bytes([len(ED25519_OID)]) + ED25519_OID + _mpi(point)


def _key_hashed(public: ed25519.Ed25519PublicKey) -> bytes:
    body = _key_body(public)
    return b"\x99" + struct.pack(">H", len(body)) + body


def fingerprint(public: ed25519.Ed25519PublicKey) -> str:
    """The v4 fingerprint (40 hex digits, upper case, as gpg prints it)."""
    return hashlib.sha1(_key_hashed(public)).hexdigest().upper()  # noqa: S324 (v4 fingerprints are SHA-1)


def _subpacket(kind: int, data: bytes) -> bytes:
    return bytes([len(data) + 1, kind]) + data


def _signature_head(public: ed25519.Ed25519PublicKey, kind: int, created: int, extra: bytes = b"") -> bytes:
    """A v4 signature's hashed part: version, type, algorithms, creation time, issuer fingerprint, `extra`."""
    hashed = _subpacket(2, struct.pack(">I", created)) + _subpacket(33, b"\x04" + bytes.fromhex(fingerprint(public)))
    return struct.pack(">BBBBH", 4, kind, EDDSA_LEGACY, SHA512, len(hashed + extra)) + hashed + extra


def _digest(data: bytes, head: bytes) -> bytes:
    return hashlib.sha512(data + head + b"\x04\xff" + struct.pack(">I", len(head))).digest()


def _signature(key: ed25519.Ed25519PrivateKey, kind: int, data: bytes, created: int,
               extra: bytes = b"") -> bytes:
    """A v4 signature packet of type `kind` over `data` (what the type hashes), SHA-512, made at `created`."""
    head = _signature_head(key.public_key(), kind, created, extra)
    digest = _digest(data, head)
    raw = key.sign(digest)  # EdDSA legacy signs the digest
    unhashed = _subpacket(16, bytes.fromhex(fingerprint(key.public_key()))[-8:])
    return _packet(SIGNATURE, head + struct.pack(">H", len(unhashed)) + unhashed + digest[:2]
                   + _mpi(raw[:32]) + _mpi(raw[32:]))


def keyring(key: ed25519.Ed25519PrivateKey, site: str) -> bytes:
    """The public key as a binary OpenPGP keyring (apt's Signed-By, gpgv --keyring): key, user ID, self-signature."""
    uid = user_id(site).encode()
    certified = _key_hashed(key.public_key()) + b"\xb4" + struct.pack(">I", len(uid)) + uid
    return (_packet(PUBLIC_KEY, _key_body(key.public_key())) + _packet(USER_ID, uid)
            + _signature(key, POSITIVE_CERTIFICATION, certified, KEY_CREATED, _CERTIFY_FLAGS))


def keyring_of(data: bytes, public: ed25519.Ed25519PublicKey, site: str) -> bool:
    """Whether `data` is the keyring keyring() makes for `public` and `site`: the same key and user ID,
    self-certified by that key (checked without the private half)."""
    uid = user_id(site).encode()
    prefix = _packet(PUBLIC_KEY, _key_body(public)) + _packet(USER_ID, uid)
    rest = data[len(prefix):]
    if not data.startswith(prefix) or len(rest) < 3 or rest[0] != 0xC0 | SIGNATURE or rest[1] >= 192:
        return False
    body = rest[2:]
    if len(body) != rest[1] or len(body) < 6:
        return False
    head = body[:6 + struct.unpack(">H", body[4:6])[0]]
    expected = _signature_head(public, POSITIVE_CERTIFICATION, KEY_CREATED, _CERTIFY_FLAGS)
    tail = body[len(head):]
    if head != expected or len(tail) < 4:
        return False
    tail = tail[4 + struct.unpack(">H", tail[:2])[0]:]  # past the unhashed subpackets and the hash's left 16 bits
    try:
        values = []
        for _ in range(2):
            size = (struct.unpack(">H", tail[:2])[0] + 7) // 8
            values.append(tail[2:2 + size].rjust(32, b"\x00"))
            tail = tail[2 + size:]
        certified = _key_hashed(public) + b"\xb4" + struct.pack(">I", len(uid)) + uid
        public.verify(b"".join(values), _digest(certified, head))
    except (struct.error, ValueError, InvalidSignature):
        return False
    return not tail


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def armor(data: bytes, kind: str) -> str:
    """ASCII armor of `data` ("PUBLIC KEY BLOCK", "SIGNATURE"), with its CRC-24."""
    text = base64.b64encode(data).decode()
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    crc = base64.b64encode(struct.pack(">I", _crc24(data))[1:]).decode()
    return f"-----BEGIN PGP {kind}-----\n\n" + "\n".join(lines) + f"\n={crc}\n-----END PGP {kind}-----\n"


def dearmor(text: str) -> bytes:
    """The bytes of the first ASCII-armored block in `text`; ValueError when there is none or its CRC-24 differs."""
    lines = text.replace("\r\n", "\n").split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith("-----BEGIN PGP ")), None)
    if start is None:
        raise ValueError("no ASCII-armored OpenPGP block")
    body = lines[start + 1:]
    while body and ": " in body[0]:  # armor headers (Version: ...), then a blank line
        body = body[1:]
    data, crc = [], None
    for line in body:
        if line.startswith("-----END PGP "):
            break
        if line.startswith("=") and len(line.strip()) == 5:
            crc = line.strip()[1:]
        elif line.strip():
            data.append(line.strip())
    raw = base64.b64decode("".join(data), validate=True)
    if crc is not None and base64.b64decode(crc) != struct.pack(">I", _crc24(raw))[1:]:
        raise ValueError("the armor's CRC-24 does not match its data")
    return raw


def detached(key: ed25519.Ed25519PrivateKey, data: bytes, created: int | None = None) -> bytes:
    """A detached binary signature of `data` (Release.gpg)."""
    return _signature(key, BINARY, data, int(time.time()) if created is None else created)


def _canonical(text: str) -> bytes:
    """Cleartext-signed text as signed: trailing spaces and tabs cut, CRLF line ends, the final one not signed."""
    return "\r\n".join(line.rstrip(" \t") for line in text.removesuffix("\n").split("\n")).encode()


def clearsign(key: ed25519.Ed25519PrivateKey, text: str, created: int | None = None) -> bytes:
    """`text` (ending in a newline) as a cleartext-signed message (InRelease), canonical text, SHA-512."""
    signature = _signature(key, CANONICAL_TEXT, _canonical(text), int(time.time()) if created is None else created)
    escaped = "".join(f"- {line}" if line.startswith("-") else line for line in text.splitlines(keepends=True))
    return (f"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n{escaped}" + armor(signature, "SIGNATURE")).encode()
