"""`aifactory mirror verify SITE DIR`: a bundle's signed manifest, checked against the site's mirror key."""

from __future__ import annotations

import hashlib
import shutil

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from aifactory.cli import main
from aifactory.mirror import manifest
from tests.conftest import site_dir


def pem(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture
def signed(tmp_path):
    """(site dir naming a mirror key, a bundle signed with it)."""
    key = ed25519.Ed25519PrivateKey.generate()
    site = tmp_path / "site"
    shutil.copytree(site_dir("lab-b200"), site)
    (site / "mirror-key.pub").write_bytes(pem(key.public_key()))
    data = yaml.safe_load((site / "factory.yaml").read_text())
    data["software"]["mirror_public_key_file"] = "mirror-key.pub"
    (site / "factory.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    bundle = tmp_path / "bundle"
    (bundle / "debian/pool/main/c/chrony").mkdir(parents=True)
    (bundle / DEB).write_bytes(b"stand-in deb\n")
    (bundle / "debian/dists/trixie/main/binary-amd64").mkdir(parents=True)
    (bundle / PACKAGES).write_text(packages_entry(b"stand-in deb\n"))
    (bundle / INRELEASE).write_text("Origin: stand-in\n" + release_entry((bundle / PACKAGES).read_bytes()))
    manifest.write(bundle, "lab-b200", key)
    return site, bundle, key


DEB = "debian/pool/main/c/chrony/chrony_4.6.1-3_amd64.deb"
PACKAGES = "debian/dists/trixie/main/binary-amd64/Packages"
INRELEASE = "debian/dists/trixie/InRelease"


def packages_entry(deb: bytes) -> str:
    return f"Package: chrony\nVersion: 4.6.1-3\nFilename: pool/main/c/chrony/chrony_4.6.1-3_amd64.deb\n" \
           f"SHA256: {hashlib.sha256(deb).hexdigest()}\n"


def release_entry(packages: bytes) -> str:
    return f"Suite: trixie\nSHA256:\n {hashlib.sha256(packages).hexdigest()} {len(packages)} main/binary-amd64/Packages\n"


def verify(capsys, site, bundle, _key=None) -> tuple[int, str]:
    rc = main(["mirror", "verify", str(site), str(bundle)])
    return rc, capsys.readouterr().err


def test_a_signed_unaltered_bundle_verifies(capsys, signed):
    assert verify(capsys, *signed)[0] == 0


def test_an_altered_file_is_refused(capsys, signed):
    site, bundle, _key = signed
    (bundle / INRELEASE).write_text("Origin: someone else\n")
    rc, err = verify(capsys, site, bundle)
    assert rc == 1 and f"{INRELEASE}: SHA-256 or size differs" in err


@pytest.mark.parametrize("change, reason", [
    (lambda b: (b / "debian/extra.deb").write_bytes(b"x"), "debian/extra.deb: not listed in the manifest"),
    (lambda b: (b / INRELEASE).unlink(), f"{INRELEASE}: listed but missing"),
    (lambda b: (b / manifest.MANIFEST).write_text((b / manifest.MANIFEST).read_text().replace('"size": 13', '"size": 14')),
     "not a signature of manifest.json"),
    (lambda b: (b / manifest.SIGNATURE).unlink(), "manifest.json.sig: no such file"),
])
def test_a_changed_bundle_or_manifest_is_refused(capsys, signed, change, reason):
    site, bundle, _key = signed
    change(bundle)
    rc, err = verify(capsys, site, bundle)
    assert rc == 1 and reason in err


def test_a_bundle_signed_by_another_key_is_refused(capsys, signed):
    site, bundle, _key = signed
    manifest.write(bundle, "lab-b200", ed25519.Ed25519PrivateKey.generate())
    rc, err = verify(capsys, site, bundle)
    assert rc == 1 and "not a signature of manifest.json by the site's mirror key" in err


def test_a_spec_without_a_mirror_key_is_bad_input(capsys, signed):
    _site, bundle, _key = signed
    rc, err = verify(capsys, site_dir("lab-b200"), bundle)
    assert rc == 2 and "software.mirror_public_key_file" in err


def test_a_key_that_is_not_ed25519_is_bad_input(capsys, signed):
    site, bundle, _key = signed
    (site / "mirror-key.pub").write_text("not a key\n")
    rc, err = verify(capsys, site, bundle)
    assert rc == 2 and "software.mirror_public_key_file mirror-key.pub: not a PEM public key" in err


@pytest.mark.parametrize("change, reason", [
    (lambda b: (b / DEB).write_bytes(b"other deb\n"), f"{DEB}: SHA-256 differs from {PACKAGES}"),
    (lambda b: (b / PACKAGES).write_text(packages_entry(b"other deb\n")),
     f"{PACKAGES}: SHA-256 differs from {INRELEASE}"),
    (lambda b: (b / DEB).unlink(), f"{DEB}: listed in {PACKAGES} but not in the bundle"),
])
def test_apt_indexes_are_checked_even_when_the_manifest_was_signed_over_the_change(capsys, signed, change, reason):
    """Signed by the site's key after the change, the manifest matches; APT would still refuse the file."""
    site, bundle, key = signed
    change(bundle)
    manifest.write(bundle, "lab-b200", key)
    rc, err = verify(capsys, site, bundle)
    assert rc == 1 and reason in err
