"""`nvidia-smi nvlink -s`: the speed of every NVLink of every GPU, or `<inactive>`."""

from __future__ import annotations

import re

from aifactory.node.parsers import ParseError

TOOL = "nvidia-smi nvlink -s"

GPU_LINE = re.compile(r"^GPU (?P<index>\d+): (?P<name>.+?) \(UUID: (?P<uuid>[^)]+)\)\s*$")
LINK_LINE = re.compile(r"^\s*Link (?P<link>\d+): (?:(?P<speed>[\d.]+) GB/s|<inactive>)\s*$")


def parse_nvlink_status(text: str) -> list[dict]:
    """One entry per link: `[{gpu, uuid, link, active, speed_gbytes}]`.

    A GPU whose links NVML cannot report at all ("all links are inActive") gets one entry with
    `link: None, active: False`, so that it cannot disappear from the list.
    """
    links: list[dict] = []
    gpu: dict | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if match := GPU_LINE.match(line):
            gpu = {"gpu": int(match["index"]), "uuid": match["uuid"]}
        elif match := LINK_LINE.match(line):
            if gpu is None:
                raise ParseError(TOOL, f"line {number}: link before any GPU line")
            speed = match["speed"]
            links.append({**gpu, "link": int(match["link"]), "active": speed is not None,
                          "speed_gbytes": float(speed) if speed else None})
        elif line.startswith("NVML:") and gpu is not None:
            links.append({**gpu, "link": None, "active": False, "speed_gbytes": None, "note": line.strip()})
        else:
            raise ParseError(TOOL, f"line {number}: unexpected text {line.strip()!r}")
    if gpu is None:
        raise ParseError(TOOL, "no GPU listed")
    return links
