"""`neuron-ls -j` (`--json-output`): one JSON object per Neuron device (Trainium/Inferentia chip)."""

from __future__ import annotations

import json

from aifactory.node.parsers import ParseError

TOOL = "neuron-ls -j"


def parse_neuron_ls(text: str) -> dict:
    """`{devices, cores, memory_bytes, device_list: [{index, cores, memory_bytes, bdf, connected_to}]}`."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ParseError(TOOL, f"not JSON (line {err.lineno}: {err.msg})") from None
    if not isinstance(data, list):
        raise ParseError(TOOL, f"expected a JSON list of devices, got {type(data).__name__}")
    devices = []
    for position, entry in enumerate(data):
        if not isinstance(entry, dict) or "neuron_device" not in entry:
            raise ParseError(TOOL, f"entry {position} is not a device (no neuron_device)")
        devices.append({
            "index": entry["neuron_device"],
            "cores": int(entry.get("nc_count") or 0),
            "memory_bytes": int(entry.get("memory_size") or 0),
            "bdf": entry.get("bdf"),
            "connected_to": entry.get("connected_to") or [],
        })
    return {
        "devices": len(devices),
        "cores": sum(d["cores"] for d in devices),
        "memory_bytes": sum(d["memory_bytes"] for d in devices),
        "device_list": devices,
    }
