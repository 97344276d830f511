"""The lab mirror's Debian control-data functions, on text in the archive's own formats."""

from __future__ import annotations

import pytest

from aifactory.lab import base
from aifactory.lab.mirror import (MirrorBuildError, cache_key, installed, node_installs, paragraphs,
                                  release_sha256, resolve)
from aifactory.spec import load_spec
from tests.conftest import site_dir

PACKAGES = """\
Package: chrony
Version: 4.6.1-3
Pre-Depends: init-system-helpers (>= 1.54~)
Depends: adduser, iproute2, libc6 (>= 2.34), libedit2 (>= 2.11-20080614-4), ucf, tzdata-legacy | tzdata
Filename: pool/main/c/chrony/chrony_4.6.1-3_amd64.deb
SHA256: aa

Package: libedit2
Version: 3.1-20221030-2
Depends: libbsd0 (>= 0.1.3), libc6 (>= 2.33)
Filename: pool/main/libe/libedit/libedit2_3.1-20221030-2_amd64.deb
SHA256: bb

Package: libbsd0
Depends: libc6 (>= 2.34), libmd0
Filename: pool/main/libb/libbsd/libbsd0_0.11.7-2_amd64.deb
SHA256: cc

Package: ucf
Depends: debconf (>= 1.5.19) | debconf-2.0, coreutils
Filename: pool/main/u/ucf/ucf_3.0043+nmu1_all.deb
SHA256: dd

Package: tzdata
Provides: tzdata-trixie
Filename: pool/main/t/tzdata/tzdata_2025b-4+deb13u1_all.deb
SHA256: ee
"""

STATUS = """\
Package: libc6
Status: install ok installed

Package: adduser
Status: install ok installed

Package: iproute2
Status: install ok installed

Package: init-system-helpers
Status: install ok installed

Package: libmd0
Status: install ok installed

Package: coreutils
Status: install ok installed

Package: cdebconf
Status: install ok installed
Provides: debconf-2.0

Package: libbsd0
Status: deinstall ok config-files
"""

INRELEASE = """\
Origin: Debian
Acquire-By-Hash: yes
MD5Sum:
 0123 53480 main/binary-amd64/Packages.xz
SHA256:
 27991041c8ab 53480 contrib/binary-amd64/Packages.xz
 b838d3198620 8790396 main/binary-amd64/Packages.xz
-----BEGIN PGP SIGNATURE-----
"""


def available():
    return {p["Package"]: p for p in paragraphs(PACKAGES)}


def test_paragraphs_and_release_hashes():
    assert [p["Package"] for p in paragraphs(PACKAGES)] == ["chrony", "libedit2", "libbsd0", "ucf", "tzdata"]
    assert release_sha256(INRELEASE) == {"contrib/binary-amd64/Packages.xz": ("27991041c8ab", 53480),
                                         "main/binary-amd64/Packages.xz": ("b838d3198620", 8790396)}


def test_installed_counts_only_installed_packages_and_what_they_provide():
    names = installed(STATUS)
    assert {"libc6", "cdebconf", "debconf-2.0"} <= names
    assert "libbsd0" not in names  # removed, only its configuration files left


def test_resolve_fetches_the_package_and_every_missing_dependency_once():
    chosen = [p["Package"] for p in resolve(("chrony",), available(), installed(STATUS))]
    # libedit2 -> libbsd0 (not installed: config files only); ucf's debconf is provided by cdebconf;
    # tzdata-legacy does not exist, so its alternative tzdata is taken.
    assert chosen == ["chrony", "libedit2", "ucf", "tzdata", "libbsd0"]


def test_resolve_names_a_package_no_index_has():
    with pytest.raises(MirrorBuildError, match="nvidia-open-570"):
        resolve(("nvidia-open-570",), available(), installed(STATUS))


def test_node_installs_is_the_roles_archive_packages_sorted_once():
    f = load_spec(site_dir("lab-b200"))
    assert f.compute.node_os == base.RELEASE  # the lab site says what its nodes boot
    installs = node_installs(f)
    assert installs == tuple(sorted(set(installs)))
    # os_baseline's time sync, and what issue 15's Slurm roles install (munge, daemons, accounting DB).
    assert {"chrony", "munge", "slurmctld", "slurmd", "slurmdbd", "slurm-client", "mariadb-server",
            "python3-pymysql"} <= set(installs)


def test_mirror_cache_key_changes_with_the_install_list_and_the_base_root(tmp_path):
    root = tmp_path / f"{base.RELEASE}-base-0123"
    key = cache_key("http://deb.debian.org/debian", "amd64", root, ("chrony", "munge"))
    assert key == cache_key("http://deb.debian.org/debian", "amd64", root, ("munge", "chrony"))
    assert key != cache_key("http://deb.debian.org/debian", "amd64", root, ("chrony",))
    assert key != cache_key("http://deb.debian.org/debian", "amd64", tmp_path / "other-base", ("chrony", "munge"))
