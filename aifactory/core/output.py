"""Output for people, shared by every command: tables and progress through `rich` on a terminal
(aligned to its width, colour unless NO_COLOR is set), plain text when piped or redirected."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

# Cell values shown in colour on a terminal.
VERDICT_STYLES = {"pass": "green", "ok": "green", "clean": "green", "FAIL": "bold red", "fail": "bold red",
                  "failed": "bold red", "rejected": "bold red", "incomplete": "yellow", "mock only": "yellow",
                  "skipped": "yellow"}


def on_terminal(stream=None) -> bool:
    return (stream or sys.stdout).isatty()


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], header: bool = True) -> str:
    """A table: on a terminal, drawn by rich to fit its width; piped, left-aligned text with a rule
    under the header (`header=False`: the rows only)."""
    rows = [[("" if c is None else str(c)) for c in row] for row in rows]
    if on_terminal():
        return _rich_table(headers, rows, header)
    widths = [max([len(h) if header else 0, *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    head = [line(headers), line(["-" * w for w in widths])] if header else []
    return "\n".join([*head, *(line(r) for r in rows)])


def _rich_table(headers: Sequence[str], rows: list[list[str]], header: bool) -> str:
    grid = Table(box=box.SIMPLE_HEAD if header else None, show_header=header, header_style="bold", pad_edge=False)
    for h in headers:
        grid.add_column(h, overflow="fold")
    for row in rows:
        grid.add_row(*(Text(c, style=VERDICT_STYLES.get(c, "")) for c in row))
    console = Console(file=io.StringIO(), force_terminal=True, width=shutil.get_terminal_size().columns)
    console.print(grid)
    return "\n".join(line.rstrip() for line in console.file.getvalue().rstrip("\n").split("\n"))


@contextlib.contextmanager
def progress(what: str, clock: Callable[[], float] = time.monotonic) -> Iterator[Callable[[str], None]]:
    """A progress callback for long work, on stderr only (stdout stays the command's output): on a terminal,
    one live line (a spinner, the count of steps, the seconds so far and the latest step), then one line with
    the count and the time; otherwise each step on a line of its own, after the seconds since the start, each
    line written whole (steps from several threads never interleave)."""
    start = clock()
    elapsed = lambda: f"{clock() - start:.1f}s"  # noqa: E731
    if not on_terminal(sys.stderr):
        lock = threading.Lock()

        def line_step(line: str) -> None:
            text = f"[{elapsed():>7}] {line}\n"
            with lock:
                sys.stderr.write(text)
                sys.stderr.flush()

        yield line_step
        return
    steps = 0
    console = Console(file=sys.stderr)
    with console.status(what) as status:
        def step(line: str) -> None:
            nonlocal steps
            steps += 1
            status.update(f"{what}: {steps} steps, {elapsed()}, {line}")

        yield step
    console.print(f"{what}: {steps} steps in {elapsed()}", highlight=False, markup=False)


def emit_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")
