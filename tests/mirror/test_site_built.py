"""Packages a site builds itself (aifactory.mirror.site_built): nccl-tests in the bill of materials at the catalog's
pinned tag, and the site's build put into the bundle's CUDA repository by `mirror build --site-package`."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from aifactory.cli import main
from aifactory.mirror import bom as bom_
from aifactory.mirror import manifest, site_built
from aifactory.spec import load_spec
from tests.conftest import site_dir
from tests.mirror.test_build import build, site, upstream, verify  # noqa: F401 - fixtures and helpers

CUDA = "nvidia/compute/cuda/repos/debian13/x86_64"


def site_deb(tmp_path: Path, name: str = "nccl-tests", version: str = "2.19.6-1", arch: str = "amd64") -> Path:
    """A package as a site's own build of it would be: control fields and a file."""
    root = tmp_path / f"pkg-{name}-{arch}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: test <t@example.invalid>\n"
        "Description: a test build\n a site's own build, for the test\n")
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/all_reduce_perf").write_text("#!/bin/sh\n")
    out = tmp_path / f"{name}_{version}_{arch}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(out)], check=True, capture_output=True)
    return out


def test_nccl_tests_is_site_built_for_nvidia_sites_at_the_catalog_s_tag_and_for_no_other():
    wanted, = site_built.wanted(load_spec(site_dir("paris-gb200")))
    assert (wanted.name, wanted.version, wanted.repository) == ("nccl-tests", "2.19.6", "cuda")
    assert wanted.url == "https://github.com/NVIDIA/nccl-tests/tree/v2.19.6" and len(wanted.commit) == 40
    assert site_built.wanted(load_spec(site_dir("ohio-trn3"))) == ()  # Trainium runs nccom-test, from Neuron


def test_the_bom_lists_it_not_given_or_with_the_build_s_hash(capsys, tmp_path, site, upstream):  # noqa: F811
    stand_in, url, _asked = upstream
    assert main(["mirror", "bom", str(site[0]), *stand_in.from_args(url)]) == 0
    row = next(line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("nccl-tests"))
    assert row[:4] == ["nccl-tests", "2.19.6", "amd64", bom_.SITE_BUILT] and " ".join(row).endswith(bom_.NOT_GIVEN)
    deb = site_deb(tmp_path)
    assert main(["mirror", "bom", str(site[0]), "--format", "json", "--site-package", str(deb),
                 *stand_in.from_args(url)]) == 0
    nccl = next(c for c in json.loads(capsys.readouterr().out)["components"] if c["name"] == "nccl-tests")
    assert nccl["sha256"] == hashlib.sha256(deb.read_bytes()).hexdigest() and nccl["version"] == "2.19.6-1"


def test_mirror_build_puts_the_site_s_build_into_the_cuda_repository_listed_signed_and_verified(
        capsys, tmp_path, site, upstream):  # noqa: F811
    stand_in, url, _asked = upstream
    deb = site_deb(tmp_path)
    bundle = tmp_path / "bundle"
    rc, err = build(capsys, site, bundle, [*stand_in.from_args(url), "--site-package", str(deb)])
    assert rc == 0, err
    held = bundle / CUDA / deb.name
    assert held.read_bytes() == deb.read_bytes()
    packages = gzip.decompress((bundle / CUDA / "Packages.gz").read_bytes()).decode()
    stanza = next(s for s in packages.split("\n\n") if s.startswith("Package: nccl-tests"))
    assert f"Filename: ./{deb.name}" in stanza and f"SHA256: {hashlib.sha256(deb.read_bytes()).hexdigest()}" in stanza
    document = json.loads((bundle / manifest.MANIFEST).read_text())
    record, = document["site_built"]
    assert record["given"] and record["path"] == f"{CUDA}/{deb.name}" and record["commit"]
    entry = next(e for e in document["files"] if e["path"] == record["path"])
    assert entry["pinning"] == bom_.SITE_BUILT and entry["upstream"].startswith("site-built: https://github.com/")
    assert verify(capsys, site, bundle)[0] == 0
    # A rerun keeps it; one altered byte of it is refused by verify.
    rc, err = build(capsys, site, bundle, [*stand_in.from_args(url), "--site-package", str(deb)])
    assert rc == 0 and f"[site-built] {CUDA}/{deb.name}: already here, kept" in err
    held.write_bytes(held.read_bytes()[:-1] + b"\0")
    rc, err = verify(capsys, site, bundle)
    assert rc == 1 and f"{CUDA}/{deb.name}: SHA-256 or size differs" in err


def test_a_build_without_it_says_the_bundle_lacks_it_and_records_so(capsys, tmp_path, site, upstream):  # noqa: F811
    stand_in, url, _asked = upstream
    bundle = tmp_path / "bundle"
    rc, err = build(capsys, site, bundle, stand_in.from_args(url))
    assert rc == 0, err
    assert "[site-built] nccl-tests (performance acceptance (all_reduce_perf, all_gather_perf)): not given" in err
    assert json.loads((bundle / manifest.MANIFEST).read_text())["site_built"][0]["given"] is False
    assert not list(bundle.rglob("nccl-tests*"))


@pytest.mark.parametrize("make, message", [
    (lambda tmp: site_deb(tmp, name="my-tool"), "my-tool is not a package this site builds itself (nccl-tests)"),
    (lambda tmp: site_deb(tmp, arch="arm64"), "built for arm64, the site's nodes are amd64"),
    (lambda tmp: (tmp / "x.deb").write_text("no") and tmp / "x.deb", "not a Debian package"),
    (lambda tmp: tmp / "absent.deb", "no such file"),
])
def test_a_site_package_that_does_not_fit_exits_2_naming_it(capsys, tmp_path, site, upstream, make, message):  # noqa: F811
    stand_in, url, _asked = upstream
    given = make(tmp_path)
    try:
        rc, err = build(capsys, site, tmp_path / "bundle", [*stand_in.from_args(url), "--site-package", str(given)])
    except SystemExit as refused:  # argparse's own refusal of the path (the CLI exits 2 with its message)
        rc, err = refused.code, capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "bundle" / manifest.MANIFEST).exists()
