"""`mirror build --split-size`: a bundle as parts of a size with a signed parts list; `mirror join`: the parts
checked against it, the bundle restored and verified (the stand-in upstream of test_build)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from aifactory.cli import main
from aifactory.mirror import manifest, transfer
from tests.mirror.test_build import build, site, upstream, verify  # noqa: F401 (fixtures)

PART_SIZE = 4096


@pytest.fixture
def split(capsys, tmp_path, site, upstream):  # noqa: F811
    """(the bundle, the directory of its parts) built with --split-size 4K."""
    stand_in, url, _asked = upstream
    bundle = tmp_path / "bundle"
    rc, err = build(capsys, site, bundle, stand_in.from_args(url), "--split-size", "4K")
    assert rc == 0, err
    return bundle, tmp_path / "bundle.parts"


def join(capsys, site, parts: Path, out: Path) -> tuple[int, str]:  # noqa: F811
    rc = main(["mirror", "join", str(site[0]), str(parts), "--out", str(out)])
    return rc, capsys.readouterr().err


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_bundle_split_into_parts_of_a_size_is_joined_and_verifies(capsys, tmp_path, site, split):  # noqa: F811
    bundle, parts = split
    names = sorted(p.name for p in parts.iterdir())
    numbered = [n for n in names if ".part" in n and not n.endswith((".json", ".sig"))]
    assert len(numbered) > 3 and numbered[0] == "bundle.part000"
    assert all((parts / n).stat().st_size <= PART_SIZE for n in numbered)
    assert {"bundle.parts.json", "bundle.parts.json.sig"} <= set(names)
    restored = tmp_path / "restored"
    rc, err = join(capsys, site, parts, restored)
    assert rc == 0, err
    assert files(restored) == files(bundle)
    assert verify(capsys, site, restored)[0] == 0


@pytest.mark.parametrize("change, message", [
    ("missing", "bundle.part001: listed but missing"),
    ("altered", "bundle.part001: SHA-256 or size differs from the parts list (altered)"),
    ("extra", "bundle.part999: an extra file, not in the parts list"),
    ("other key", "bundle.parts.json.sig: not a signature of bundle.parts.json by the site's mirror key"),
])
def test_a_missing_altered_or_extra_part_is_refused_naming_it(capsys, tmp_path, site, split, change, message):  # noqa: F811
    bundle, parts = split
    part = parts / "bundle.part001"
    if change == "missing":
        part.unlink()
    elif change == "altered":
        data = bytearray(part.read_bytes())
        data[100] ^= 1
        part.write_bytes(bytes(data))
    elif change == "extra":
        (parts / "bundle.part999").write_bytes(b"x")
    else:
        transfer.write_list(parts, "bundle", "lab-b200", manifest.sha256(bundle), PART_SIZE,
                            ed25519.Ed25519PrivateKey.generate())
    restored = tmp_path / "restored"
    rc, err = join(capsys, site, parts, restored)
    assert rc == 1 and message in err, err
    assert not restored.exists() or files(restored) == {}


def signing_key(site) -> ed25519.Ed25519PrivateKey:  # noqa: F811
    return serialization.load_pem_private_key(site[1].read_bytes(), None)


@pytest.mark.parametrize("entry", ["../outside", "/tmp/absolute", "apt/../../outside", "link"])
def test_an_entry_leaving_the_bundle_or_not_a_file_is_refused(capsys, tmp_path, site, split, entry):  # noqa: F811
    """Even in parts listed and signed by the site's key: an absolute path, `..` or a link is not restored."""
    bundle, _parts = split
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in (manifest.MANIFEST, manifest.SIGNATURE):
            tar.add(bundle / name, arcname=name)
        info = tarfile.TarInfo(entry)
        if entry == "link":
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
        else:
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
    crafted = tmp_path / "crafted"
    crafted.mkdir()
    (crafted / "bundle.part000").write_bytes(stream.getvalue())
    transfer.write_list(crafted, "bundle", "lab-b200", manifest.sha256(bundle), PART_SIZE, signing_key(site))
    out = tmp_path / "out" / "restored"
    rc, err = join(capsys, site, crafted, out)
    assert rc == 1 and f"{entry!r}: not a regular file at a relative path inside the bundle" in err, err
    assert [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []
    assert not (tmp_path / "outside").exists() and not Path("/tmp/absolute").exists()


@pytest.mark.parametrize("size", ["0", "-1", "4X", "", "G", "1.5G"])
def test_a_bad_split_size_exits_2_naming_it(capsys, tmp_path, site, upstream, size):  # noqa: F811
    stand_in, url, asked = upstream
    with pytest.raises(SystemExit) as exit_:
        build(capsys, site, tmp_path / "bundle", stand_in.from_args(url), "--split-size", size)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--split-size" in err and "expected a positive size" in err
    assert asked == [] and not (tmp_path / "bundle").exists()


@pytest.mark.parametrize("text, size", [("4G", 4 * 1024**3), ("700M", 700 * 1024**2), ("512k", 512 * 1024),
                                        ("1000", 1000)])
def test_split_sizes_are_read_in_binary_units(text, size):
    assert transfer.parse_size(text) == size
