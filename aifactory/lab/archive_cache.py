"""A read-through copy of the Debian archive for the lab's bundle builds: every site's `mirror build` reads Debian
through it, so the lab's sites that install the same packages (lab-b200 and its copies) fetch each file from the
archive once.

An HTTP server on 127.0.0.1, up only while a build runs, answers a GET of `dists/...` or `pool/...` from the cache
folder, fetching the file from the machine's Debian mirror first when the folder lacks it. It trusts nothing it
stores: `mirror build` checks each Release against Debian's archive key and every index and package against its
Release and Packages, as it does the archive itself. The copies of the indexes stay as first fetched, so later
builds resolve the same package versions (whose files are then already here); a new cache folder (the lab cache's
eviction, or another mirror) starts from the archive as it is then.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from aifactory.lab import base, cache

TOPS = ("dists", "pool")


def cache_dir(upstream: str) -> Path:
    return base.CACHE_ROOT / f"debian-archive-{hashlib.sha256(upstream.encode()).hexdigest()[:12]}"


def relative(url_path: str) -> PurePosixPath | None:
    """The archive path a request names, or None when it is not one this cache serves (outside dists/ and pool/,
    `..`, empty parts)."""
    raw = url_path.split("?", 1)[0]
    parts = raw.removeprefix("/").split("/")
    if not raw.startswith("/") or len(parts) < 2 or parts[0] not in TOPS or any(
            p in ("", ".", "..") or "\\" in p for p in parts):
        return None
    return PurePosixPath(*parts)


def _handler(upstream: str, root: Path) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = relative(self.path)
            if path is None:
                self.send_error(404, "not an archive path")
                return
            local = root / path
            if not local.is_file():
                part = local.with_name(f"{local.name}.part{threading.get_ident()}")
                local.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with urllib.request.urlopen(f"{upstream}/{path}", timeout=60) as got, part.open("wb") as out:
                        shutil.copyfileobj(got, out, 1024 * 1024)
                except urllib.error.HTTPError as err:
                    part.unlink(missing_ok=True)
                    self.send_error(err.code, str(err.reason))
                    return
                except (urllib.error.URLError, OSError) as err:
                    part.unlink(missing_ok=True)
                    self.send_error(502, f"the archive could not be read ({getattr(err, 'reason', err)})")
                    return
                os.replace(part, local)
            self.send_response(200)
            self.send_header("Content-Length", str(local.stat().st_size))
            self.end_headers()
            with local.open("rb") as data:
                shutil.copyfileobj(data, self.wfile, 1024 * 1024)

        def log_message(self, *args) -> None:  # the build's own progress says what it fetched
            pass

    return Handler


@contextlib.contextmanager
def serving(upstream: str) -> Iterator[str]:
    """The cache of `upstream` (the machine's Debian mirror) served on 127.0.0.1 while the block runs; its URL."""
    root = cache_dir(upstream)
    root.mkdir(parents=True, exist_ok=True)
    cache.touch(root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream.rstrip("/"), root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
