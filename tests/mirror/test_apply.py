"""`aifactory mirror apply`: a delta applied onto the served bundle, written as a new complete bundle that
verifies and holds what a whole build of the new state holds (the stand-in upstream of test_build)."""

from __future__ import annotations

import base64
import json
import types
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from aifactory.cli import main
from aifactory.core import openpgp
from aifactory.mirror import apt_repo, manifest
from tests.mirror.test_build import build, deb, site, upstream, verify  # noqa: F401 (fixtures)

SIGNED_AT = 1_767_225_600  # every Release dated and signed at one time, so a build's bytes depend on the state only


@pytest.fixture
def bundles(capsys, tmp_path, site, upstream, monkeypatch):  # noqa: F811
    """(the served bundle of the first state, the delta to the second, a whole bundle of the second)."""
    for clock in (openpgp, apt_repo):  # the signatures' time, and the Releases' Date
        monkeypatch.setattr(clock, "time", types.SimpleNamespace(time=lambda: SIGNED_AT))
    stand_in, url, _asked = upstream
    served, delta, whole = tmp_path / "served", tmp_path / "delta", tmp_path / "whole"
    assert build(capsys, site, served, stand_in.from_args(url))[0] == 0
    stand_in.packages["cuda"]["nvidia-open-580"] = ("1.1-1", deb("nvidia-open-580", "1.1-1"))  # a driver upgrade
    stand_in.write()
    rc, err = build(capsys, site, delta, stand_in.from_args(url), "--previous", str(served))
    assert rc == 0, err
    assert build(capsys, site, whole, stand_in.from_args(url))[0] == 0
    return served, delta, whole


def apply(capsys, site, delta: Path, served: Path, *extra: str) -> tuple[int, str, str]:  # noqa: F811
    rc = main(["mirror", "apply", str(site[0]), str(delta), "--onto", str(served), *extra])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_the_applied_delta_verifies_and_holds_what_a_whole_build_holds(capsys, site, bundles):  # noqa: F811
    served, delta, whole = bundles
    before = files(served)
    rc, out, err = apply(capsys, site, delta, served)
    assert rc == 0, err
    result = served.parent / "served.next"
    assert "swap it in atomically" in out and str(result) in out
    assert files(served) == before  # never changed in place
    got, expected = files(result), files(whole)
    signed = (manifest.MANIFEST, manifest.SIGNATURE)
    assert {p: d for p, d in got.items() if p not in signed} == {p: d for p, d in expected.items() if p not in signed}
    assert all(got[name] == (delta / name).read_bytes() for name in signed)  # the delta's signed manifest
    carried = manifest.carried(manifest.read(delta))
    assert carried and all(not (delta / p).exists() for p in carried)  # the delta alone lacks them
    assert all((result / p).stat().st_nlink == 1 and (result / p).stat().st_ino != (served / p).stat().st_ino
               for p in carried)  # copied, not linked
    rc, err = verify(capsys, site, result)
    assert rc == 0, err
    assert "a delta: serve it with" not in capsys.readouterr().out


def test_a_delta_built_on_another_bundle_is_refused(capsys, tmp_path, site, bundles):  # noqa: F811
    _served, delta, whole = bundles
    rc, _out, err = apply(capsys, site, delta, whole, "--out", str(tmp_path / "next"))
    assert rc == 1 and f"not on the served one ({manifest.sha256(whole)})" in err
    assert not (tmp_path / "next").exists()


def test_a_served_bundle_with_an_altered_carried_file_is_refused(capsys, tmp_path, site, bundles):  # noqa: F811
    served, delta, _whole = bundles
    path = next(p for p in manifest.carried(manifest.read(delta)) if p.endswith(".deb"))
    (served / path).write_bytes((served / path).read_bytes() + b"altered")
    rc, _out, err = apply(capsys, site, delta, served, "--out", str(tmp_path / "next"))
    assert rc == 1 and f"{path}: SHA-256 or size differs" in err and "--onto" in err
    assert not (tmp_path / "next").exists()


def test_a_carried_hash_the_served_bundle_does_not_hold_is_refused(capsys, tmp_path, site, bundles):  # noqa: F811
    served, delta, _whole = bundles
    document = manifest.read(delta)
    entry = next(e for e in document["carried"] if e["path"].endswith("amazon-ssm-agent.deb"))
    entry["sha256"] = "0" * 64  # a download no APT index lists: only the carried list names its hash
    data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
    key = serialization.load_pem_private_key(site[1].read_bytes(), None)
    (delta / manifest.MANIFEST).write_bytes(data)
    (delta / manifest.SIGNATURE).write_text(base64.b64encode(key.sign(data)).decode() + "\n")
    assert verify(capsys, site, delta)[0] == 0
    rc, _out, err = apply(capsys, site, delta, served, "--out", str(tmp_path / "next"))
    assert rc == 1 and f"{entry['path']}: carried by the delta with SHA-256 {'0' * 64}" in err
    assert not (tmp_path / "next").exists()


@pytest.mark.parametrize("given", ["--out", "default"])
def test_an_out_that_is_not_empty_exits_2_naming_it(capsys, tmp_path, site, bundles, given):  # noqa: F811
    served, delta, _whole = bundles
    out = tmp_path / "next" if given == "--out" else served.parent / "served.next"
    out.mkdir()
    (out / "notes.txt").write_text("someone's file\n")
    rc, _out, err = apply(capsys, site, delta, served, *(["--out", str(out)] if given == "--out" else []))
    assert rc == 2 and "--out" in err and "not empty" in err
    assert files(out) == {"notes.txt": b"someone's file\n"}


def test_a_missing_served_bundle_exits_2_naming_it(capsys, tmp_path, site, bundles):  # noqa: F811
    _served, delta, _whole = bundles
    with pytest.raises(SystemExit) as exit_:
        apply(capsys, site, delta, tmp_path / "absent")
    assert exit_.value.code == 2 and "--onto" in capsys.readouterr().err
