"""The OpenPGP keyring of the site's mirror key, which the nodes' APT sources name in Signed-By.

Its self-certification needs the key's private half, so it is made once (`aifactory mirror keyring SITE
--signing-key FILE`) and committed beside the public key the spec names (software.mirror_public_key_file,
PEM), named after it with `.gpg` (mirror-key.pub -> mirror-key.gpg). It is checked against that public key
wherever it is read.
"""

from __future__ import annotations

from pathlib import Path

from aifactory.core import openpgp
from aifactory.core.inputs import BadInput, InputFileError, read_bytes
from aifactory.spec import Factory
from aifactory.spec.key_files import KEY_FILE_MAX_BYTES, ed25519_public_key, site_file
from aifactory.spec.validators import shown

KEY_FIELD = "software.mirror_public_key_file"


def keyring_file(f: Factory) -> Path:
    """Where the committed keyring of the site's mirror key is: beside the public key, named after it."""
    return site_file(f, f.software.mirror_public_key_file or "").with_suffix(".gpg")


def nodes_keyring(f: Factory) -> Path | None:
    """The keyring the nodes' APT sources name (None: the spec names no mirror key); BadInput naming the
    field when the public key is not an Ed25519 PEM key or the keyring is missing or not that key's."""
    if not f.software.mirror_public_key_file:
        return None
    public = ed25519_public_key(f, f.software.mirror_public_key_file, KEY_FIELD)
    named, path = f"{KEY_FIELD} {shown(f.software.mirror_public_key_file, 300)}", keyring_file(f)
    make = f"make it with `aifactory mirror keyring {f.site_dir} --signing-key FILE` and commit it"
    try:
        data = read_bytes(path, KEY_FILE_MAX_BYTES)
    except InputFileError as err:
        raise BadInput(f"{named}: its OpenPGP keyring {shown(str(path), 300)} cannot be read ({err}); "
                       f"{make}") from None
    if not openpgp.keyring_of(data, public, f.name):
        raise BadInput(f"{named}: {shown(str(path), 300)} is not the OpenPGP keyring of that key for site "
                       f"{f.name}; {make}")
    return path
