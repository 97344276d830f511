"""The argparse types of every option that names a file or directory: checked when the command line is
read, before anything runs, so a FIFO, a device, a directory where a file belongs (or the reverse), an
oversized input, an over-long path or an unwritable output place is exit 2 naming the option, never a
hang or a traceback. Reading the file itself stays with its reader (aifactory.core.inputs.read_text)."""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

from aifactory.core.inputs import MAX_INPUT_BYTES, MAX_PACKAGE_BYTES, MAX_RECORD_BYTES
from aifactory.spec.validators import shown


def _shown(path: Path | None) -> str:
    return shown(str(path), 300)


def _stat(path: Path) -> os.stat_result | None:
    """The path's status (symlinks followed); None when nothing is there."""
    try:
        return path.stat()
    except FileNotFoundError:
        return None
    except ValueError:
        raise argparse.ArgumentTypeError("the path holds a NUL byte") from None
    except OSError as err:
        raise argparse.ArgumentTypeError(f"{_shown(path)}: {err.strerror}") from None


def _kind(info: os.stat_result) -> str:
    mode = info.st_mode
    return ("a directory" if stat.S_ISDIR(mode) else "a regular file" if stat.S_ISREG(mode) else "a FIFO" if stat.S_ISFIFO(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
            "a special file")


def _regular(path: Path, info: os.stat_result, limit: int) -> Path:
    if not stat.S_ISREG(info.st_mode):
        raise argparse.ArgumentTypeError(f"{_shown(path)}: not a regular file ({_kind(info)})")
    if info.st_size > limit:
        raise argparse.ArgumentTypeError(f"{_shown(path)}: is {info.st_size} bytes; at most {limit} are read")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{_shown(path)}: cannot be read (permission denied)")
    return path


def _writable_place(path: Path, made: bool = True) -> None:
    """The directory a new file or directory goes into exists (or, when the command makes it: `made`, its
    nearest existing ancestor does) and can be written."""
    parents = path.absolute().parents
    parent = next((p for p in parents if p.exists()), None) if made else parents[0]
    if not made and not parent.exists():
        raise argparse.ArgumentTypeError(f"{_shown(path)}: no such directory {_shown(parent)}")
    if parent is None or not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{_shown(path)}: {_shown(parent)} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{_shown(path)}: {_shown(parent)} cannot be written (permission denied)")


def _existing_file(text: str, limit: int) -> Path:
    """An existing regular file of at most `limit` bytes that can be read."""
    path = Path(text)
    info = _stat(path)
    if info is None:
        raise argparse.ArgumentTypeError(f"{_shown(path)}: no such file")
    return _regular(path, info, limit)


def input_file(text: str) -> Path:
    """An existing regular file of at most MAX_INPUT_BYTES that can be read."""
    return _existing_file(text, MAX_INPUT_BYTES)


def package_file(text: str) -> Path:
    """A package file (.deb) given to read: an existing regular file of at most MAX_PACKAGE_BYTES."""
    return _existing_file(text, MAX_PACKAGE_BYTES)


def input_dir(text: str) -> Path:
    """An existing directory that can be read."""
    path = Path(text)
    info = _stat(path)
    if info is None:
        raise argparse.ArgumentTypeError(f"{_shown(path)}: no such directory")
    if not stat.S_ISDIR(info.st_mode):
        raise argparse.ArgumentTypeError(f"{_shown(path)}: not a directory ({_kind(info)})")
    if not os.access(path, os.R_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{_shown(path)}: cannot be read (permission denied)")
    return path


def record_file(text: str) -> Path:
    """A record read back and rewritten (rollout, replace): absent (a new one is started), or a regular
    file of at most MAX_RECORD_BYTES that can be read and written."""
    path = Path(text)
    info = _stat(path)
    if info is None:
        _writable_place(path)
        return path
    _regular(path, info, MAX_RECORD_BYTES)
    _writable_place(path)
    return path


def record_input(text: str) -> Path:
    """A record only read (a signed certificate): an existing regular file of at most MAX_RECORD_BYTES."""
    return _existing_file(text, MAX_RECORD_BYTES)


def index_copy(text: str) -> tuple[str, Path]:
    """`URL=FILE`: the URL an upstream index is published at, and its copy, an existing regular file of at
    most MAX_RECORD_BYTES (a distribution's largest Packages.xz is a few MiB)."""
    url, sep, file = text.partition("=")
    if not sep or not url or not file:
        raise argparse.ArgumentTypeError(f"{shown(text, 300)}: expected URL=FILE (the index's upstream URL, then its copy)")
    return url, record_input(file)


def output_file(text: str) -> Path:
    """A file to write: absent in a directory that can be written, or a regular file that is replaced."""
    path = Path(text)
    info = _stat(path)
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise argparse.ArgumentTypeError(f"{_shown(path)}: not a regular file to write ({_kind(info)})")
    if info is not None and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"{_shown(path)}: cannot be written (permission denied)")
    _writable_place(path, made=False)
    return path


def output_dir(text: str) -> Path:
    """A directory to write into: an existing one that can be written, or one that can be made."""
    path = Path(text)
    info = _stat(path)
    if info is None:
        _writable_place(path)
        return path
    if not stat.S_ISDIR(info.st_mode):
        raise argparse.ArgumentTypeError(f"{_shown(path)}: not a directory ({_kind(info)})")
    if not os.access(path, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{_shown(path)}: cannot be written (permission denied)")
    return path


PATH_TYPES = (input_file, input_dir, record_file, record_input, output_file, output_dir, package_file)
