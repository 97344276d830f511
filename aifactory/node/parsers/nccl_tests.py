"""nccl-tests (`all_reduce_perf`, `all_gather_perf`, ...): the result table, its correctness summary, and the
transports NCCL says it used (its `NCCL_DEBUG=INFO` channel lines, when the run printed them).

A table row is `size count type redop [root] | time algbw busbw #wrong | time algbw busbw #wrong`
(out-of-place, then in-place); older releases print `error` for `#wrong`, and no `root` (or `redop`). Lines may carry an
MPI rank prefix (`[1,0]<stdout>:`).
"""

from __future__ import annotations

import re

from aifactory.node.parsers import ParseError

TOOL = "nccl-tests"

RANK_PREFIX = re.compile(r"^\[\d+,\d+\]<std(?:out|err)>:")
HEADER = re.compile(r"^#\s+size\s+count\s+type\b.*\bbusbw\b")
OUT_OF_BOUNDS = re.compile(r"^#\s*Out of bounds values\s*:\s*(?P<count>\d+)")
AVG_BUSBW = re.compile(r"^#\s*Avg bus bandwidth\s*:\s*(?P<value>[\d.]+)")
TEST_NAME = re.compile(r"^#\s*Collective test starting:\s*(?P<test>\S+)")
CHANNEL = re.compile(r"NCCL INFO Channel \d+/\d+ : .* via (?P<via>\S+)")
# A channel's `via` -> transport class. P2P within a node (CUMEM, IPC, direct pointer) runs over NVLink on
# the platforms here; P2P/MNNVL is NVLink across the trays of an NVL72 rack; NET/IB with GDRDMA is RDMA
# straight to GPU memory; NET/Socket is TCP; `AWS Libfabric`/OFI is EFA.
TRANSPORTS = (
    ("P2P/MNNVL", "mnnvl"),
    ("P2P/", "p2p"),
    ("SHM", "shm"),
    ("NET/Socket", "net-socket"),
    ("NET/AWS", "net-ofi"),
    ("NET/OFI", "net-ofi"),
    ("NET/IB", "net-ib"),
)


def parse_nccl_tests(text: str) -> dict:
    """`{test, rows: [{size, type, redop, out_of_place: {time_us, algbw, busbw, wrong}, in_place: {...}}],
    out_of_bounds, avg_busbw, transports: {class: channel lines}}`; `wrong` is None where the test did not
    check (N/A), `out_of_bounds`/`avg_busbw` None when the summary is missing (a run cut short)."""
    test, columns, rows = None, 0, []
    out_of_bounds: int | None = None
    avg_busbw: float | None = None
    transports: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = RANK_PREFIX.sub("", raw).rstrip()
        if match := CHANNEL.search(line):
            name = transport_class(match["via"])
            transports[name] = transports.get(name, 0) + 1
        elif match := TEST_NAME.match(line):
            test = match["test"]
        elif HEADER.match(line):
            columns = len(line.lstrip("#").split())
        elif match := OUT_OF_BOUNDS.match(line):
            out_of_bounds = int(match["count"])
        elif match := AVG_BUSBW.match(line):
            avg_busbw = float(match["value"])
        elif columns and line.split() and line.split()[0].isdigit():
            rows.append(_row(line.split(), columns, number))
    if not columns:
        raise ParseError(TOOL, "no result table (no `# size count type ... busbw` header)")
    if not rows:
        raise ParseError(TOOL, "the result table has no rows")
    return {"test": test, "rows": rows, "out_of_bounds": out_of_bounds, "avg_busbw": avg_busbw,
            "transports": transports}


def transport_class(via: str) -> str:
    """The transport class of a channel line's `via` (e.g. `NET/IBext_v8/7/GDRDMA` -> `net-ib-gdr`)."""
    for prefix, name in TRANSPORTS:
        if via.startswith(prefix):
            return f"{name}-gdr" if name == "net-ib" and via.endswith("/GDRDMA") else name
    return via.split("/")[0].lower()


def _row(fields: list[str], columns: int, number: int) -> dict:
    if len(fields) != columns:
        raise ParseError(TOOL, f"line {number}: {len(fields)} fields, the table header has {columns}")
    try:
        return {"size": int(fields[0]), "type": fields[2], "redop": fields[3] if columns >= 12 else None,
                "out_of_place": _half(fields[-8:-4]), "in_place": _half(fields[-4:])}
    except ValueError:
        raise ParseError(TOOL, f"line {number}: not a result row: {' '.join(fields)!r}") from None


def _half(fields: list[str]) -> dict:
    time_us, algbw, busbw, wrong = fields
    return {"time_us": float(time_us), "algbw": float(algbw), "busbw": float(busbw),
            "wrong": None if wrong == "N/A" else _wrong(wrong)}


def _wrong(value: str) -> int | None:
    """`#wrong` is a count; older releases printed the largest numerical error as a float (`error`), which
    says nothing on its own: None, and the `Out of bounds values` summary decides."""
    if value.isdigit():
        return int(value)
    float(value)
    return None
