"""Tables and progress for people: rich on a terminal (fits its width, colour unless NO_COLOR),
plain text when piped."""

from __future__ import annotations

import io
import re

from aifactory.core.output import progress, table

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
ROWS = [("SOV-01", "pass", "No internet path"),
        ("SOV-02", "FAIL", "AWS services only through private interface endpoints with private DNS, an explicit "
                           "security group and a restrictive policy")]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_piped_tables_are_plain_text():
    assert table(["control", "result"], [("SOV-01", "pass"), ("SOV-02", None)]) == (
        "control  result\n-------  ------\nSOV-01   pass\nSOV-02")
    assert table(["", ""], [("racks", "1 x 3 nodes")], header=False) == "racks  1 x 3 nodes"


def on_a_terminal(monkeypatch) -> None:
    """stdout a 60-column terminal (set in the test itself: pytest swaps stdout back after fixtures)."""
    monkeypatch.setattr("sys.stdout", Terminal())
    monkeypatch.setenv("COLUMNS", "60")
    monkeypatch.delenv("NO_COLOR", raising=False)


def test_terminal_tables_fit_and_colour_verdicts(monkeypatch):
    on_a_terminal(monkeypatch)
    out = table(["control", "result", "statement"], ROWS)
    visible = ANSI.sub("", out).splitlines()
    assert max(len(line) for line in visible) <= 60
    assert len(visible) > 4  # the long statement wrapped instead of running off the terminal
    assert "restrictive policy" in ANSI.sub("", out).replace("\n", " ")
    assert re.search(r"\x1b\[[0-9;]*31m\s*FAIL", out) and re.search(r"\x1b\[[0-9;]*32m\s*pass", out)


def test_no_color_keeps_the_layout_without_colour(monkeypatch):
    on_a_terminal(monkeypatch)
    monkeypatch.setenv("NO_COLOR", "1")
    out = table(["control", "result", "statement"], ROWS)
    assert not re.search(r"\x1b\[[0-9;]*3[0-7]m", out)
    assert max(len(line) for line in ANSI.sub("", out).splitlines()) <= 60


def clock(*times: float):
    """A clock that reads these times, one per call."""
    return iter(times).__next__


def test_piped_progress_prints_each_step_after_the_seconds_since_the_start(capsys):
    with progress("planning", clock=clock(100.0, 100.4, 112.25)) as step:
        step("planning Keys data-key")
        step("planning HubNetwork vpc")
    out = capsys.readouterr()
    assert out.err == "[   0.4s] planning Keys data-key\n[  12.2s] planning HubNetwork vpc\n" and out.out == ""


class Writes(io.StringIO):
    """A piped stderr that keeps each write apart."""

    def __init__(self):
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)


def test_progress_lines_of_threads_are_written_whole_so_they_never_interleave(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor
    err = Writes()
    monkeypatch.setattr("sys.stderr", err)
    with progress("planning") as step, ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: step(f"planning resource-{i:03d}"), range(200)))
    assert len(err.writes) == 200  # one write per line: print's separate newline could land inside another line
    assert all(re.fullmatch(r"\[ *\d+\.\ds\] planning resource-\d{3}\n", w) for w in err.writes)


def test_terminal_progress_ends_with_the_count_and_the_time(monkeypatch):
    err = Terminal()
    monkeypatch.setattr("sys.stderr", err)
    with progress("planning lab-b200", clock=clock(5.0, 6.0, 7.0, 9.5)) as step:
        step("planning Keys data-key")
        step("planning HubNetwork vpc")
    assert ANSI.sub("", err.getvalue()).splitlines()[-1] == "planning lab-b200: 2 steps in 4.5s"
