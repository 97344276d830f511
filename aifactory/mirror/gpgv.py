"""An upstream's OpenPGP signature checked at build time with gpgv against the keyring given for it
(`mirror build --upstream-keyring UPSTREAM=FILE`): its InRelease, or its Release with Release.gpg.

The hashes a build trusts are read from what gpgv says was signed (its --output), never from text around
the signature. A keyring may be binary or ASCII-armored (as vendors publish their keys).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from aifactory.mirror.debian import MirrorIndexError
from aifactory.core.openpgp import dearmor

GPGV = "gpgv"


class SignatureRefused(MirrorIndexError):
    """An upstream's Release is not signed by a key of the keyring given for it."""


def available() -> bool:
    """Whether gpgv is installed."""
    return shutil.which(GPGV) is not None


def binary_keyring(data: bytes) -> bytes:
    """A keyring as gpgv reads it: armored keys dearmored; ValueError when the armor is damaged."""
    return dearmor(data.decode("ascii")) if data.lstrip().startswith(b"-----BEGIN PGP") else data


def verified(keyring: bytes, signed: bytes, signature: bytes | None, what: str) -> tuple[bytes, str]:
    """(the signed bytes, the signing primary key's fingerprint) of `signed`: a cleartext-signed InRelease
    (`signature` None) or a Release with its detached `signature`; SignatureRefused naming `what` otherwise."""
    with tempfile.TemporaryDirectory(prefix="aifactory-gpgv-") as tmp:
        folder = Path(tmp)
        (folder / "keyring.gpg").write_bytes(keyring)
        (folder / "signed").write_bytes(signed)
        command = [GPGV, "--homedir", tmp, "--status-fd", "2", "--keyring", str(folder / "keyring.gpg")]
        if signature is None:
            command += ["--output", str(folder / "plain"), str(folder / "signed")]
        else:
            (folder / "signed.sig").write_bytes(signature)
            command += [str(folder / "signed.sig"), str(folder / "signed")]
        done = subprocess.run(command, capture_output=True, check=False, timeout=120)  # noqa: S603 (fixed program)
        status = done.stderr.decode("utf-8", "replace")
        valid = [line.split() for line in status.splitlines() if line.startswith("[GNUPG:] VALIDSIG ")]
        if done.returncode != 0 or not valid:
            reason = next((line.removeprefix("gpgv: ") for line in status.splitlines()
                           if line.startswith("gpgv: ") and ("BAD" in line or "No public key" in line
                                                             or "Can't check" in line or "no valid" in line)),
                          "no valid signature")
            raise SignatureRefused(f"{what}: the signature does not verify with the keyring given for this upstream "
                                   f"({reason}); refused")
        return ((folder / "plain").read_bytes() if signature is None else signed), valid[0][-1]
