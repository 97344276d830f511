"""`nccom-test` (AWS Neuron collectives benchmark): the table `size(B) count(elems) type time(us) algbw(GB/s)
busbw(GB/s)`, read by its header's column names (releases add columns), and `Avg bus bandwidth: XGB/s`."""

from __future__ import annotations

import re

from aifactory.node.parsers import ParseError

TOOL = "nccom-test"

AVG_BUSBW = re.compile(r"^\s*Avg bus bandwidth:\s*(?P<value>[\d.]+)\s*GB/s")
REQUIRED = ("size(B)", "busbw(GB/s)")


def parse_nccom_test(text: str) -> dict:
    """`{rows: [{size, type, time_us, algbw, busbw}], avg_busbw}` (`avg_busbw` None when not printed)."""
    columns: list[str] = []
    rows: list[dict] = []
    avg_busbw: float | None = None
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if "size(B)" in fields:
            if missing := [c for c in REQUIRED if c not in fields]:
                raise ParseError(TOOL, f"line {number}: the table header lacks {', '.join(missing)}")
            columns = fields
        elif match := AVG_BUSBW.match(line):
            avg_busbw = float(match["value"])
        elif columns and fields and fields[0].isdigit():
            rows.append(_row(dict(zip(columns, fields, strict=False)), len(fields), len(columns), number))
    if not columns:
        raise ParseError(TOOL, "no result table (no `size(B) ... busbw(GB/s)` header)")
    if not rows:
        raise ParseError(TOOL, "the result table has no rows")
    return {"rows": rows, "avg_busbw": avg_busbw}


def _row(named: dict[str, str], fields: int, columns: int, number: int) -> dict:
    if fields != columns:
        raise ParseError(TOOL, f"line {number}: {fields} fields, the table header has {columns}")
    try:
        return {"size": int(named["size(B)"]), "type": named.get("type"),
                "time_us": float(named["time(us)"]) if "time(us)" in named else None,
                "algbw": float(named["algbw(GB/s)"]) if "algbw(GB/s)" in named else None,
                "busbw": float(named["busbw(GB/s)"])}
    except ValueError:
        raise ParseError(TOOL, f"line {number}: not a result row: {' '.join(named.values())!r}") from None
