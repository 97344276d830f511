"""The validator registry: a problem (path, message, given value, level) and the decorator that names a check."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from aifactory.spec.model import Factory

Level = Literal["error", "warning"]

# Longest echo of a given value; a longer one is cut and says how long it was.
SHOWN_LENGTH = 80
# Characters refused in any string of the spec: they end up in files (fstab, APT sources, inventory),
# resource names and terminals. Control characters, line and paragraph separators, bidi overrides.
# The user-info part of a URL (`scheme://user:password@host`): never echoed.
URL_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]+@")
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def unsafe_character(text: str) -> str | None:
    """The first character of text that may not appear in the spec, or None."""
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in BIDI_CONTROLS:
            return char
    return None


def shown(value: object, limit: int = SHOWN_LENGTH) -> str:
    """A value as it is safe to echo: a URL's credentials (`user:password@`) masked, control characters
    escaped, at most `limit` characters."""
    text = value if isinstance(value, str) else repr(value) if isinstance(value, bytes) else str(value)
    text = URL_CREDENTIALS.sub(r"\1***@", text)
    text = "".join(char if unsafe_character(char) is None else char.encode("unicode_escape").decode("ascii")
                   for char in text[:limit * 4])
    if len(text) > limit:
        length = len(value) if isinstance(value, (str, bytes)) else len(text)
        text = f"{text[:limit]}... ({length} characters)"
    return text


@dataclass(frozen=True)
class Problem:
    """One thing to change in the spec: where, what, the value given; level and validator set by `validate`."""

    path: str
    message: str
    given: object = None
    level: Level = "error"
    validator: str = ""

    def __str__(self) -> str:
        given = "" if self.given is None else f" (given: {shown(self.given)})"
        return f"{shown(self.path, 200)}: {self.message}{given}"

    def as_dict(self) -> dict:
        given = self.given
        if not (given is None or isinstance(given, (bool, int, float))) or (isinstance(given, int)
                                                                            and abs(given) > 10 ** 18):
            given = shown(given)
        return {"path": shown(self.path, 200), "message": self.message, "given": given, "level": self.level,
                "validator": self.validator}


Check = Callable[[Factory], Iterator[Problem]]
VALIDATORS: list[tuple[str, Level, Check]] = []


def validator(level: Level = "error"):
    """Register a check under its function's name, its problems reported at `level`."""
    def register(fn: Check) -> Check:
        VALIDATORS.append((fn.__name__, level, fn))
        return fn
    return register
