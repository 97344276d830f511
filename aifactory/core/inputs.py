"""Reading the files a user names (the spec, stack outputs, host overrides, extra vars) safely.

A named file must be a regular file of sane size and UTF-8 text; a FIFO, a device such as /dev/zero, a
symlink loop, a path with a NUL byte, a huge or deeply nested JSON document is refused with a message,
never a hang, an out-of-memory or a traceback.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

# The largest input file read: a spec or a stack-outputs document is kilobytes.
MAX_INPUT_BYTES = 1024 * 1024


class InputFileError(Exception):
    """A named file cannot be used; the message says why (without the path)."""


def read_text(path: str | Path, limit: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
    except FileNotFoundError:
        raise InputFileError("no such file") from None
    except ValueError:
        raise InputFileError("the path holds a NUL byte") from None
    except OSError as err:
        raise InputFileError(f"cannot read: {err.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputFileError("not a regular file (a FIFO, a device, a socket or a directory)")
        if info.st_size > limit:
            raise InputFileError(f"is {info.st_size} bytes; at most {limit} are read")
        try:
            data = file.read(limit + 1)
        except OSError as err:
            raise InputFileError(f"cannot read: {err.strerror}") from None
    if len(data) > limit:
        raise InputFileError(f"is over {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise InputFileError(f"not UTF-8 text (byte {err.start}, line {line})") from None


def parse_json(text: str) -> object:
    """JSON, with every way it can fail as an InputFileError (syntax, huge numbers, deep nesting)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputFileError(f"not valid JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    except ValueError as err:  # an integer past Python's digit limit
        raise InputFileError(f"not usable JSON: {err}") from None
    except RecursionError:
        raise InputFileError("JSON nested too deeply") from None
