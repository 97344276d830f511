"""`aifactory lab prepare SPEC...` builds the lab cache's trees for those sites and starts nothing (make test runs
it while the unit tests run): the base root and vendor stand-ins once, the mirror stand-in per site's node installs,
all under the cache's lock; a failed build exits 1 naming it, a bad spec exits 2."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from aifactory.cli import main
from aifactory.lab import base, bundle, lifecycle, mirror, preflight, vendor_repos
from aifactory.lab.state import LabState
from aifactory.mirror.debian import MirrorIndexError
from aifactory.spec import load_spec
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

    def tree(name):
        (tmp_path / "cache" / name).mkdir(parents=True, exist_ok=True)
        return tmp_path / "cache" / name

    monkeypatch.setattr(base, "ensure_base", lambda progress: calls.append(("base", locked())) or tree("root"))
    monkeypatch.setattr(vendor_repos, "ensure", lambda progress: calls.append(("vendor", locked())) or tree("v") / "www")
    monkeypatch.setattr(mirror, "ensure", lambda upstream, root, installs, progress:
                        calls.append(("mirror", tuple(installs), root)) or tree("m"))
    monkeypatch.setattr(bundle, "ensure", lambda f, vendor_root, progress:
                        calls.append(("bundle", f.name, vendor_root)) or tree(f"bundle-{f.name}"))
    return calls


def test_prepare_builds_each_site_s_mirror_and_starts_no_lab(built, tmp_path):
    """A site whose nodes run this machine's architecture gets its mirror bundle; another the partial mirror."""
    from aifactory.spec import load_spec
    sites = [load_spec(site_dir(name)) for name in ("lab-b200", "lab-gb200")]
    assert main(["lab", "prepare", str(site_dir("lab-b200")), str(site_dir("lab-gb200"))]) == 0
    served = [("bundle" if bundle.applies(f) else "mirror") for f in sites]
    assert [c[0] for c in built] == ["base", "vendor", served[0], "base", "vendor", served[1]]
    assert all(c[1] for c in built if c[0] in ("base", "vendor"))  # under the lock
    for f, call in zip(sites, [c for c in built if c[0] in ("bundle", "mirror")], strict=True):
        expected = (("bundle", f.name, tmp_path / "cache/v/www") if bundle.applies(f)
                    else ("mirror", tuple(mirror.node_installs(f)), tmp_path / "cache/root"))
        assert call == expected
    assert all((tmp_path / "cache" / name / ".aifactory-used").exists() for name in ("root", "v"))
    assert LabState.load("lab-b200") is None and LabState.load("lab-gb200") is None


def test_a_failed_build_exits_1_naming_it(built, monkeypatch, capsys):
    def fail(*args, **kwargs):
        raise MirrorIndexError("http://deb.example/dists/trixie/Release: SHA256 does not match the signed index")
    monkeypatch.setattr(mirror, "ensure", fail)
    monkeypatch.setattr(bundle, "ensure", lambda *a, **k: (_ for _ in ()).throw(
        bundle.BundleError("aifactory mirror build exited 1: refused: x.deb: SHA-256 differs")))
    assert main(["lab", "prepare", str(site_dir("lab-b200"))]) == 1
    err = capsys.readouterr().err
    assert ("lab prepare failed: aifactory mirror build exited 1: refused: x.deb" if bundle.applies(
        load_spec(site_dir("lab-b200"))) else "lab prepare failed: http://deb.example/dists/trixie/Release: SHA256") in err


def test_a_bad_spec_exits_2_before_anything_is_built(built, tmp_path, capsys):
    bad = tmp_path / "factory.yaml"
    bad.write_text((Path(site_dir("lab-b200")) / "factory.yaml").read_text().replace("  racks: 1", "  rackz: 1"))
    assert main(["lab", "prepare", str(site_dir("lab-b200")), str(bad)]) == 2
    assert built == [] and "rackz" in capsys.readouterr().err
