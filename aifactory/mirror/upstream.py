"""Where `mirror build` fetches an upstream URL from: the URL itself, or the stand-in given for a URL prefix
(`--from UPSTREAM=SOURCE`, SOURCE an http(s) URL or a local directory holding the same paths below it)."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from aifactory.core.inputs import MAX_RECORD_BYTES
from aifactory.mirror.debian import MirrorIndexError

WEB = ("http://", "https://")


class Unreadable(MirrorIndexError):
    """An upstream file could not be read at all (as against read and found wrong)."""


def under(url: str, prefix: str) -> bool:
    """Whether `url` is published under the upstream URL prefix `prefix` (the prefix itself, or a path below it)."""
    stem = prefix.rstrip("/")
    return url == stem or url.startswith(stem + "/")


@dataclass
class Upstream:
    """The upstream servers, some stood in for; `fetched` records every upstream URL asked for, in order."""

    sources: tuple[tuple[str, str], ...] = ()  # (upstream URL prefix, the URL or directory standing for it)
    fetched: list[str] = field(default_factory=list)

    def locate(self, url: str) -> str:
        """Where `url` is read: below the source of the longest prefix it starts with, else the URL itself."""
        for prefix, source in sorted(self.sources, key=lambda s: -len(s[0])):
            if under(url, prefix):
                return source.rstrip("/") + url[len(prefix.rstrip("/")):]
        return url

    def _open(self, url: str) -> BinaryIO:
        where = self.locate(url)
        self.fetched.append(url)
        try:
            if where.startswith(WEB):
                return urllib.request.urlopen(where, timeout=60)  # noqa: S310 (http(s) only, checked above)
            return Path(where).open("rb")
        except (urllib.error.URLError, OSError, ValueError) as err:
            via = f" (read from {where})" if where != url else ""
            raise Unreadable(f"{url}{via}: cannot be fetched ({getattr(err, 'reason', err)})") from err

    def get(self, url: str) -> bytes:
        """A small file (an index, a Release) whole; MirrorIndexError when it cannot be read or is too large."""
        with self._open(url) as stream:
            data = stream.read(MAX_RECORD_BYTES + 1)
        if len(data) > MAX_RECORD_BYTES:
            raise Unreadable(f"{url}: larger than {MAX_RECORD_BYTES} bytes, not an index")
        return data

    def copy(self, url: str, dest: Path) -> None:
        """A package file streamed into `dest`."""
        with self._open(url) as stream, dest.open("wb") as out:
            try:
                shutil.copyfileobj(stream, out, 1024 * 1024)
            except OSError as err:
                raise Unreadable(f"{url}: the transfer broke off ({err})") from err
