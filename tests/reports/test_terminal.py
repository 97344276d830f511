"""Tables and progress for people: rich on a terminal (fits its width, colour unless NO_COLOR),
plain text when piped."""

from __future__ import annotations

import io
import re

from aifactory.core.output import progress, table

ANSI = re.compile(r"\x1b\[[0-9;]*m")
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


def test_piped_progress_prints_each_step(capsys):
    with progress("planning") as step:
        step("planning Keys data-key")
        step("planning HubNetwork vpc")
    assert capsys.readouterr().err == "planning Keys data-key\nplanning HubNetwork vpc\n"
