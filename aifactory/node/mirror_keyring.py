"""The OpenPGP keyring of the site's mirror key, which the nodes' APT sources name in Signed-By.

Its self-certification needs the key's private half, so it is made once (`aifactory mirror keyring SITE
--signing-key FILE`) and committed beside the public key the spec names (software.mirror_public_key_file,
PEM), named after it with `.gpg` (mirror-key.pub -> mirror-key.gpg). It is checked against that public key
wherever it is read.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from aifactory.core import openpgp
from aifactory.core.inputs import BadInput, InputFileError, read_text
from aifactory.spec import Factory
from aifactory.spec.validators import shown

KEY_FIELD = "software.mirror_public_key_file"
MAX_BYTES = 16 * 1024


def _public_file(f: Factory) -> Path:
    given = Path(f.software.mirror_public_key_file or "")
    return given if given.is_absolute() else f.site_dir / given


def keyring_file(f: Factory) -> Path:
    """Where the committed keyring of the site's mirror key is: beside the public key, named after it."""
    return _public_file(f).with_suffix(".gpg")


def nodes_keyring(f: Factory) -> Path | None:
    """The keyring the nodes' APT sources name (None: the spec names no mirror key); BadInput naming the
    field when the public key is not an Ed25519 PEM key or the keyring is missing or not that key's."""
    if not f.software.mirror_public_key_file:
        return None
    named, path = f"{KEY_FIELD} {shown(f.software.mirror_public_key_file, 300)}", keyring_file(f)
    try:
        public = serialization.load_pem_public_key(read_text(_public_file(f), MAX_BYTES).encode())
    except (InputFileError, ValueError) as err:
        raise BadInput(f"{named}: not a readable PEM public key ({err})") from None
    if not isinstance(public, ed25519.Ed25519PublicKey):
        raise BadInput(f"{named}: a {type(public).__name__.lstrip('_')}; the mirror key is Ed25519")
    make = f"make it with `aifactory mirror keyring {f.site_dir} --signing-key FILE` and commit it"
    try:
        data = path.read_bytes()[:MAX_BYTES + 1]
    except OSError as err:
        raise BadInput(f"{named}: its OpenPGP keyring {shown(str(path), 300)} cannot be read ({err.strerror}); "
                       f"{make}") from None
    if not openpgp.keyring_of(data, public, f.name):
        raise BadInput(f"{named}: {shown(str(path), 300)} is not the OpenPGP keyring of that key for site "
                       f"{f.name}; {make}")
    return path
