"""The key files a spec names (the acceptance certificate's keys, the site's mirror key), read as any input: a
regular file of bounded size at the path given, relative to the site's directory; BadInput naming the field
otherwise. In the spec's layer so that the node inventory (the mirror keyring) and the reports (the certificate)
read them the same way."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from aifactory.core.inputs import BadInput, InputFileError, read_text
from aifactory.spec.model import Factory
from aifactory.spec.validators import shown

KEY_FILE_MAX_BYTES = 16 * 1024


def site_file(f: Factory, given: str) -> Path:
    """A path a spec field gives: as given when absolute, else under the site's directory."""
    return Path(given) if Path(given).is_absolute() else f.site_dir / given


def read_key_file(f: Factory, given: str, field: str) -> str:
    """The text of the key file the spec field `field` names (`given`)."""
    path = site_file(f, given)
    try:
        return read_text(path, KEY_FILE_MAX_BYTES)
    except InputFileError as err:
        raise BadInput(f"{field} {shown(given, 300)}: {err} ({shown(str(path), 300)})") from None


def ed25519_public_key(f: Factory, given: str, field: str) -> ed25519.Ed25519PublicKey:
    """An Ed25519 public key (PEM) from the file a spec field names; BadInput naming the field otherwise."""
    text = read_key_file(f, given, field)
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
