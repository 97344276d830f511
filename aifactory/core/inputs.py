"""Reading the files a user names (the spec, stack outputs, host overrides, extra vars) safely.

A named file must be a regular file of sane size and UTF-8 text; a FIFO, a device such as /dev/zero, a
symlink loop, a path with a NUL byte, a huge or deeply nested JSON document is refused with a message,
never a hang, an out-of-memory or a traceback.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
from pathlib import Path

# The largest input file read: a spec or a stack-outputs document is kilobytes.
MAX_INPUT_BYTES = 1024 * 1024
# The largest record read back (a rollout or replace record, a saved plan): sized for the largest
# factory a spec may ask for (aifactory.spec.model.MAX_NODES nodes, a few hundred bytes each in a record).
MAX_RECORD_BYTES = 32 * 1024 * 1024
# The largest package a site gives as its own build (`mirror build --site-package`): nccl-tests' binaries carry
# device code for every GPU architecture, tens of MiB; a GiB is past any such package.
MAX_PACKAGE_BYTES = 1024 * 1024 * 1024
# Jinja's delimiters: an extra variable's value is data, never a template for Ansible to render.
TEMPLATE_MARKERS = ("{{", "{%", "{#")


class InputFileError(Exception):
    """A named file cannot be used; the message says why (without the path)."""


class BadInput(Exception):
    """Bad input found where a command cannot say it itself (a record of the tool's own, read back): the
    message names the file or field and what to change; the CLI exits 2 with it."""


class MissingFileError(InputFileError):
    """Nothing is at the path."""


def read_text(path: str | Path, limit: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes."""
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise InputFileError(f"not UTF-8 text (byte {err.start}, line {line})") from None


def read_bytes(path: str | Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
    except FileNotFoundError:
        raise MissingFileError("no such file") from None
    except ValueError:
        raise InputFileError("the path holds a NUL byte") from None
    except OSError as err:
        raise InputFileError(f"cannot read: {err.strerror or err}") from None
    try:  # the kind is checked before the descriptor becomes a file object, which a directory cannot be
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputFileError("not a regular file (a FIFO, a device, a socket or a directory)")
        if info.st_size > limit:
            raise InputFileError(f"is {info.st_size} bytes; at most {limit} are read")
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(limit + 1)
    except OSError as err:
        raise InputFileError(f"cannot read: {err.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise InputFileError(f"is over {limit} bytes")
    return data


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


def read_json(path: str | Path, limit: int = MAX_INPUT_BYTES) -> object | None:
    """The JSON document of a regular file of at most `limit` bytes; None when there is no file."""
    try:
        text = read_text(path, limit)
    except MissingFileError:
        return None
    return parse_json(text)


def parse_extra_vars(text: str) -> dict:
    """One --extra-vars value as `ansible-playbook -e` reads it: a JSON object, or `key=value` pairs split
    as a shell would (quotes keep spaces; every value a string). A value holding a Jinja delimiter is
    refused: extra variables are data. Errors name the key or the pair's place, never a value."""
    if text.lstrip().startswith(("{", "[")):
        data = parse_json(text)
        if not isinstance(data, dict):
            raise InputFileError("not a JSON object")
    else:
        try:
            pairs = shlex.split(text)
        except ValueError as err:
            raise InputFileError(f"not key=value pairs: {err}") from None
        if not pairs:
            raise InputFileError("empty: give key=value pairs or a JSON object")
        data = {}
        for place, pair in enumerate(pairs, 1):
            key, equals, value = pair.partition("=")
            if not equals or not key.isidentifier():
                raise InputFileError(f"pair {place} is not key=value with a variable name for key")
            data[key] = value
    for key, value in _strings(data):
        if any(marker in value for marker in TEMPLATE_MARKERS):
            raise InputFileError(f"{key}: holds a Jinja template; extra variables are data, never templates")
    return data


def _strings(value, path: str = ""):
    """(path, text) of every string inside a JSON value."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")
