"""The OpenPGP form of an Ed25519 key without gpg: what a keyring is checked for, and the armor.
(gpgv's verdict on what this module writes is in tests/mirror/test_build.py.)"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from aifactory.core import openpgp

KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def test_the_keyring_is_a_function_of_the_key_and_site():
    assert openpgp.keyring(KEY, "lab-b200") == openpgp.keyring(KEY, "lab-b200") != openpgp.keyring(KEY, "other")
    assert openpgp.fingerprint(KEY.public_key()) == openpgp.fingerprint(
        ed25519.Ed25519PublicKey.from_public_bytes(KEY.public_key().public_bytes_raw()))
    assert len(openpgp.fingerprint(KEY.public_key())) == 40


@pytest.mark.parametrize("where", [-1, -40, 25])  # the signature's s, its r, the key's point
def test_a_keyring_with_one_altered_byte_is_not_the_keys(where):
    keyring = bytearray(openpgp.keyring(KEY, "lab-b200"))
    assert openpgp.keyring_of(bytes(keyring), KEY.public_key(), "lab-b200")
    keyring[where] ^= 0x01
    assert not openpgp.keyring_of(bytes(keyring), KEY.public_key(), "lab-b200")


def test_armor_round_trips_and_its_crc_catches_a_change():
    data = openpgp.keyring(KEY, "lab-b200")
    text = openpgp.armor(data, "PUBLIC KEY BLOCK")
    assert openpgp.dearmor("Version: x\n" + text.replace("\n\n", "\nComment: headers are skipped\n\n", 1)) == data
    lines = text.splitlines()
    lines[2] = ("B" if lines[2][0] == "A" else "A") + lines[2][1:]
    with pytest.raises(ValueError, match="CRC-24"):
        openpgp.dearmor("\n".join(lines))
    with pytest.raises(ValueError, match="no ASCII-armored"):
        openpgp.dearmor("not armored")
