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
# A URL of any scheme, to the next space: its user-info part (`user:password@`) is never echoed.
URL_TOKEN = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)(\S*)")
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def unsafe_character(text: str) -> str | None:
    """The first character of text that may not appear in the spec, or None."""
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in BIDI_CONTROLS:
            return char
    return None


def _masked_url(match: re.Match) -> str:
    """A URL_TOKEN match with its user info (up to the '@' before the host) replaced by `***`."""
    scheme, rest = match.groups()
    if "@" not in rest:
        return match[0]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        end = authority.rindex("@")
    elif ":" in authority:  # `user:pass/word@host` (an AWS secret key holds '/'): the user info runs to the last '@'
        end = rest.rindex("@")
    else:  # `host/path@v2`: an '@' in the path
        return match[0]
    return f"{scheme}***{rest[end:]}"


def mask_credentials(text: str) -> str:
    """`text` with the user info of every URL of any scheme (`ftp://user:password@`, `s3://KEY:SECRET@`) masked."""
    return URL_TOKEN.sub(_masked_url, text)


def shown(value: object, limit: int = SHOWN_LENGTH, *, quoted: bool = False) -> str:
    """A value as it is safe to echo: a URL's credentials (`user:password@`) masked, control characters
    escaped, at most `limit` characters; `quoted` puts the text in quotes."""
    text = value if isinstance(value, str) else repr(value) if isinstance(value, bytes) else str(value)
    text = mask_credentials(text)
    text = "".join(char if unsafe_character(char) is None else char.encode("unicode_escape").decode("ascii")
                   for char in text[:limit * 4])
    suffix = ""
    if len(text) > limit:
        length = len(value) if isinstance(value, (str, bytes)) else len(text)
        text, suffix = text[:limit], f"... ({length} characters)"
    if quoted:
        quote = "'" if "'" not in text or '"' in text else '"'
        text = quote + text.replace(quote, "\\" + quote) + quote
    return text + suffix


class Kind(str):
    """A given that describes the value found (its kind, `list` or `dict`; `{}` for an empty mapping) rather
    than being its text: echoed without quotes."""


def echoed(given: object) -> str:
    """A given value as the YAML had it, safe to echo: a string in quotes (so `"4"` does not pass for the
    number 4), a boolean as `true`/`false`, credentials masked (`shown`)."""
    if isinstance(given, bool):
        return str(given).lower()
    return shown(given, quoted=isinstance(given, str) and not isinstance(given, Kind))


@dataclass(frozen=True)
class Problem:
    """One thing to change in the spec: where, what, the value given; level and validator set by `validate`,
    the line and column of `path` in the spec file by `load_spec`."""

    path: str
    message: str
    given: object = None
    level: Level = "error"
    validator: str = ""
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        given = "" if self.given is None else f" (given: {echoed(self.given)})"
        return f"{shown(self.path, 200)}: {shown(self.message, 2000)}{given}"

    def located(self) -> str:
        """`line:column: ` and the problem, as a table row shows it."""
        return f"{self.line}:{self.column}: {self}" if self.line else str(self)

    def as_dict(self) -> dict:
        given = self.given
        if not (given is None or isinstance(given, (bool, int, float))) or (isinstance(given, int)
                                                                            and abs(given) > 10 ** 18):
            given = shown(given)
        return {"path": shown(self.path, 200), "line": self.line, "column": self.column,
                "message": shown(self.message, 2000), "given": given, "level": self.level, "validator": self.validator}


@dataclass(frozen=True)
class NotRun:
    """A validator that stopped before its end: it needs `needs`, a field the schema refused."""

    validator: str
    needs: str

    def __str__(self) -> str:
        return f"{self.validator}: not run, it needs {shown(self.needs, 200)}, which the schema refused"

    def as_dict(self) -> dict:
        return {"validator": self.validator, "needs": shown(self.needs, 200)}


Check = Callable[[Factory], Iterator[Problem]]
VALIDATORS: list[tuple[str, Level, Check]] = []


def validator(level: Level = "error"):
    """Register a check under its function's name, its problems reported at `level`. Its docstring is its
    rule in SARIF (aifactory.reports.formats.rules): what it checks, then a `Fix:` paragraph, what to change."""
    def register(fn: Check) -> Check:
        VALIDATORS.append((fn.__name__, level, fn))
        return fn
    return register
