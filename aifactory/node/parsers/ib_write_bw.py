"""`ib_write_bw` (linux-rdma/perftest), the client's report: the test's settings block and the result table
`#bytes #iterations BW peak[unit] BW average[unit] MsgRate[Mpps]` (unit Gb/sec with `--report_gbits`,
else MB/sec)."""

from __future__ import annotations

import re

from aifactory.node.parsers import ParseError

TOOL = "ib_write_bw"

TITLE = re.compile(r"^\s*(?P<title>RDMA_Write.*BW Test)\s*$")
SETTINGS = {"Device": "device", "Link type": "link_type", "Transport type": "transport"}
SETTING = re.compile(r"(?P<key>Device|Link type|Transport type)\s*:\s*(?P<value>\S+)")
TABLE_HEADER = re.compile(r"^\s*#bytes\s+#iterations\s+BW peak\[(?P<unit>[^\]]+)\]\s+BW average\[(?P=unit)\]")
# perftest says it allocated the test's buffers in GPU memory (--use_cuda: GPUDirect RDMA).
GPU_MEMORY = re.compile(r"cuMemAlloc|allocated GPU buffer|Picking device No\.")


def parse_ib_write_bw(text: str) -> dict:
    """`{test, device, link_type, transport, unit, gpu_memory, rows: [{bytes, iterations, bw_peak,
    bw_average, msg_rate_mpps}]}`; `unit` is `Gb/sec` or `MB/sec`."""
    found: dict = {"test": None, "device": None, "link_type": None, "transport": None, "unit": None,
                   "gpu_memory": bool(GPU_MEMORY.search(text)), "rows": []}
    for number, line in enumerate(text.splitlines(), 1):
        if match := TITLE.match(line):
            found["test"] = match["title"]
        elif match := TABLE_HEADER.match(line):
            found["unit"] = match["unit"]
        elif found["unit"] and line.split() and line.split()[0].isdigit():
            found["rows"].append(_row(line.split(), number))
        elif found["unit"] is None:
            for match in SETTING.finditer(line):
                found[SETTINGS[match["key"]]] = match["value"]
    if found["test"] is None:
        raise ParseError(TOOL, "no `RDMA_Write ... BW Test` title: not ib_write_bw's report")
    if found["unit"] is None:
        raise ParseError(TOOL, "no result table (`#bytes #iterations BW peak[...] BW average[...]`)")
    if not found["rows"]:
        raise ParseError(TOOL, "the result table has no rows (the run did not finish)")
    return found


def _row(fields: list[str], number: int) -> dict:
    if len(fields) != 5:
        raise ParseError(TOOL, f"line {number}: expected 5 fields, got {len(fields)}: {' '.join(fields)!r}")
    try:
        return {"bytes": int(fields[0]), "iterations": int(fields[1]), "bw_peak": float(fields[2]),
                "bw_average": float(fields[3]), "msg_rate_mpps": float(fields[4])}
    except ValueError:
        raise ParseError(TOOL, f"line {number}: not a result row: {' '.join(fields)!r}") from None
