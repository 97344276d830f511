"""The lab's read-through copy of the Debian archive (aifactory.lab.archive_cache): a file is fetched from the archive
once, served from the copy after, and only archive paths are served."""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.request

import pytest

from aifactory.lab import archive_cache, cache
from tests.mirror.test_build import Recorder


@pytest.fixture
def archive(tmp_path, monkeypatch):
    """(the stand-in archive's URL, the paths asked of it, its folder); the lab cache under tmp_path."""
    monkeypatch.setattr(archive_cache.base, "CACHE_ROOT", tmp_path / "cache")
    root = tmp_path / "archive"
    (root / "dists/trixie").mkdir(parents=True)
    (root / "dists/trixie/InRelease").write_text("signed index\n")
    (root / "pool/main/h").mkdir(parents=True)
    (root / "pool/main/h/hello_1_amd64.deb").write_bytes(b"deb" * 1000)
    (root / "secret.txt").write_text("not an archive file\n")
    asked: list[str] = []
    handler = type("Handler", (Recorder,), {"asked": asked})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(root)))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked, root
    server.shutdown()
    server.server_close()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


def test_a_file_is_fetched_from_the_archive_once_and_served_from_the_copy_after(archive):
    upstream, asked, root = archive
    with archive_cache.serving(upstream) as url:
        assert get(f"{url}/pool/main/h/hello_1_amd64.deb") == (200, b"deb" * 1000)
        assert get(f"{url}/dists/trixie/InRelease") == (200, b"signed index\n")
    (root / "dists/trixie/InRelease").write_text("a newer index\n")
    with archive_cache.serving(upstream) as url:  # a later build: the copies, not the archive
        assert get(f"{url}/pool/main/h/hello_1_amd64.deb") == (200, b"deb" * 1000)
        assert get(f"{url}/dists/trixie/InRelease") == (200, b"signed index\n")
    assert asked == ["/pool/main/h/hello_1_amd64.deb", "/dists/trixie/InRelease"]
    assert not [p for p in archive_cache.cache_dir(upstream).rglob("*.part*")]


def test_what_the_archive_lacks_is_its_error_and_nothing_is_kept(archive):
    upstream, asked, _root = archive
    with archive_cache.serving(upstream) as url:
        assert get(f"{url}/pool/main/n/nothere_1_amd64.deb")[0] == 404
    assert asked == ["/pool/main/n/nothere_1_amd64.deb"]
    assert not [p for p in archive_cache.cache_dir(upstream).rglob("*") if p.is_file() and p.name != cache.STAMP]


@pytest.mark.parametrize("path", ["/secret.txt", "/pool", "/dists/../secret.txt", "/pool/./x", "/pool//x",
                                  "/other/pool/x"])
def test_only_paths_below_dists_and_pool_are_served_and_none_is_asked_of_the_archive(archive, path):
    upstream, asked, _root = archive
    assert archive_cache.relative(path) is None
    with archive_cache.serving(upstream) as url:
        assert get(f"{url}{path}")[0] == 404
    assert asked == []
