"""The lab cache's size bound (aifactory.lab.cache): least recently used trees go first, never one this run takes or a
lab that is up uses, and a bound that is not a number is refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from aifactory.core.inputs import BadInput
from aifactory.lab import cache

MIB = 1024 * 1024


def tree(root, name: str, mib: int, days_ago: float, stamped: bool = True):
    path = root / name
    path.mkdir(parents=True)
    (path / "data").write_bytes(b"\0" * (mib * MIB))
    (root / f"{name.removesuffix('.building')}.log").write_text("log\n")
    when = time.time() - days_ago * 86400
    if stamped:
        cache.touch(path)
        os.utime(path / cache.STAMP, (when, when))
    else:
        os.utime(path, (when, when))
    return path


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "cache"
    r.mkdir()
    return r


def test_the_least_recently_used_trees_go_first_until_the_cache_is_within_its_bound(root):
    old = tree(root, "bundle-lab-b200-aaa", 3, days_ago=9)
    older = tree(root, "debian-13-base-bbb", 4, days_ago=20)
    recent = tree(root, "bundle-lab-b200-ccc", 3, days_ago=1)
    current = tree(root, "vendor-repos-ddd", 2, days_ago=0)
    lines = []
    removed = cache.evict([current], lines.append, root=root, bound=6 * MIB, busy=lambda r: set())
    assert removed == [older, old]
    assert sorted(p.name for p in root.iterdir()) == ["bundle-lab-b200-ccc", "bundle-lab-b200-ccc.log",
                                                      "vendor-repos-ddd", "vendor-repos-ddd.log"]
    assert recent.is_dir() and lines[0].startswith("lab cache: removed debian-13-base-bbb (4 MiB, last used 20.0 days")


def test_a_cache_within_its_bound_loses_nothing(root):
    tree(root, "a", 1, days_ago=400)
    assert cache.evict([], lambda line: None, root=root, bound=2 * MIB, busy=lambda r: set()) == []
    assert (root / "a").is_dir()


def test_a_tree_a_running_lab_uses_stays_even_over_the_bound_and_the_cache_says_so(root):
    served = tree(root, "bundle-lab-b200-aaa", 3, days_ago=30)
    mounted = tree(root, "debian-13-base-bbb", 3, days_ago=30)
    lines = []
    assert cache.evict([], lines.append, root=root, bound=1 * MIB, busy=lambda r: {served, mounted}) == []
    assert served.is_dir() and mounted.is_dir()
    assert "every tree left is in use" in lines[-1], lines


def test_a_half_built_tree_a_stopped_run_left_goes_at_once_whatever_the_size(root):
    half = tree(root, "bundle-lab-day2-eee.building", 1, days_ago=0, stamped=False)
    (half / ".mirror-key").mkdir(mode=0o700)
    (half / ".mirror-key" / "mirror-key.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    kept = tree(root, "bundle-lab-b200-aaa", 1, days_ago=30)
    lines = []
    assert cache.evict([], lines.append, root=root, bound=100 * MIB, busy=lambda r: set()) == [half]
    assert not half.exists() and not (root / "bundle-lab-day2-eee.log").exists() and kept.is_dir()
    assert lines == ["lab cache: removed bundle-lab-day2-eee.building, left half-built by a run that was stopped"]


def test_the_trees_in_use_are_read_from_the_command_lines_of_running_processes(tmp_path):
    root = tmp_path / "cache"
    server = subprocess.Popen([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)",
                               "--directory", f"{root}/bundle-lab-b200-aaa/bundle",
                               f"lowerdir={root}/debian-13-base-bbb,upperdir=x"], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline() == "up\n"  # running its own command line, not its parent's
        assert cache.in_use(root) == {root / "bundle-lab-b200-aaa", root / "debian-13-base-bbb"}
    finally:
        server.kill()
        server.wait()
    assert cache.in_use(root) == set()


@pytest.mark.parametrize("value", ["", "20", "2.5", " 7 "])
def test_the_bound_comes_from_the_environment_in_gib(value):
    expected = int(float(value) * cache.GIB) if value.strip() else cache.DEFAULT_MAX_GIB * cache.GIB
    assert cache.max_bytes({cache.MAX_ENV: value}) == expected


@pytest.mark.parametrize("value", ["0", "-1", "lots", "nan", "inf", "1e999"])
def test_a_bound_that_is_not_a_positive_number_is_refused_naming_the_variable(value):
    with pytest.raises(BadInput, match=cache.MAX_ENV):
        cache.max_bytes({cache.MAX_ENV: value})
