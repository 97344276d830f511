"""`aifactory lab prepare SPEC...` builds the lab cache's trees for those sites and starts nothing (make test runs
it while the unit tests run): the base root and vendor stand-ins once, the mirror stand-in per site's node installs,
all under the cache's lock; a failed build exits 1 naming it, a bad spec exits 2."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from aifactory.cli import main
from aifactory.lab import base, lifecycle, mirror, preflight, vendor_repos
from aifactory.lab.state import LabState
from aifactory.mirror.debian import MirrorIndexError
from tests.conftest import site_dir


@pytest.fixture
def built(tmp_path, monkeypatch) -> list[tuple]:
    """The cache builds asked for, in order, with whether the cache's lock was held; nothing is built."""
    monkeypatch.setattr(base, "CACHE_ROOT", tmp_path / "cache")
    monkeypatch.setattr(preflight, "missing", lambda: [])
    calls: list[tuple] = []

    def locked() -> bool:
        with (tmp_path / "cache" / ".lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(lock, fcntl.LOCK_UN)
            return False

    monkeypatch.setattr(base, "ensure_base", lambda progress: calls.append(("base", locked())) or tmp_path / "root")
    monkeypatch.setattr(vendor_repos, "ensure", lambda progress: calls.append(("vendor", locked())) or tmp_path / "v")
    monkeypatch.setattr(mirror, "ensure", lambda upstream, root, installs, progress:
                        calls.append(("mirror", tuple(installs), root)) or tmp_path / "m")
    return calls


def test_prepare_builds_each_site_s_mirror_and_starts_no_lab(built, tmp_path):
    from aifactory.spec import load_spec
    sites = [load_spec(site_dir(name)) for name in ("lab-b200", "lab-gb200")]
    assert main(["lab", "prepare", str(site_dir("lab-b200")), str(site_dir("lab-gb200"))]) == 0
    assert [c[0] for c in built] == ["base", "vendor", "mirror"] * 2
    assert all(c[1] for c in built if c[0] != "mirror")  # under the lock
    assert [c[1] for c in built if c[0] == "mirror"] == [tuple(mirror.node_installs(f)) for f in sites]
    assert all(c[2] == tmp_path / "root" for c in built if c[0] == "mirror")
    assert LabState.load("lab-b200") is None and LabState.load("lab-gb200") is None


def test_a_failed_build_exits_1_naming_it(built, monkeypatch, capsys):
    def fail(upstream, root, installs, progress):
        raise MirrorIndexError("http://deb.example/dists/trixie/Release: SHA256 does not match the signed index")
    monkeypatch.setattr(mirror, "ensure", fail)
    assert main(["lab", "prepare", str(site_dir("lab-b200"))]) == 1
    assert "lab prepare failed: http://deb.example/dists/trixie/Release: SHA256" in capsys.readouterr().err


def test_a_bad_spec_exits_2_before_anything_is_built(built, tmp_path, capsys):
    bad = tmp_path / "factory.yaml"
    bad.write_text((Path(site_dir("lab-b200")) / "factory.yaml").read_text().replace("  racks: 1", "  rackz: 1"))
    assert main(["lab", "prepare", str(site_dir("lab-b200")), str(bad)]) == 2
    assert built == [] and "rackz" in capsys.readouterr().err
