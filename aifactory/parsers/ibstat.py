"""`ibstat`: every InfiniBand/RoCE adapter (CA) and the state, rate and link layer of its ports."""

from __future__ import annotations

import re

from aifactory.parsers import ParseError

TOOL = "ibstat"

CA_LINE = re.compile(r"^CA '(?P<ca>[^']+)'\s*$")
PORT_LINE = re.compile(r"^\s+Port (?P<port>\d+):\s*$")
FIELD_LINE = re.compile(r"^\s+(?P<key>[A-Za-z][A-Za-z ]*?):\s*(?P<value>.*?)\s*$")


def parse_ibstat(text: str) -> list[dict]:
    """`[{ca, ca_type, firmware, port, state, physical_state, rate_gbps, link_layer, port_guid}]`."""
    ports: list[dict] = []
    ca: dict | None = None
    port: dict | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if match := CA_LINE.match(line):
            ca, port = {"ca": match["ca"]}, None
        elif match := PORT_LINE.match(line):
            if ca is None:
                raise ParseError(TOOL, f"line {number}: port before any CA line")
            port = {**ca, "port": int(match["port"])}
            ports.append(port)
        elif match := FIELD_LINE.match(line):
            if ca is None:
                raise ParseError(TOOL, f"line {number}: field before any CA line")
            key, value = match["key"], match["value"]
            if port is None:
                if key == "CA type":
                    ca["ca_type"] = value
                elif key == "Firmware version":
                    ca["firmware"] = value
            else:
                _port_field(port, key, value)
        else:
            raise ParseError(TOOL, f"line {number}: unexpected text {line.strip()!r}")
    if not ports:
        raise ParseError(TOOL, "no port listed")
    return [{k: p.get(k) for k in ("ca", "ca_type", "firmware", "port", "state", "physical_state",
                                    "rate_gbps", "link_layer", "port_guid")} for p in ports]


def _port_field(port: dict, key: str, value: str) -> None:
    if key == "State":
        port["state"] = value
    elif key == "Physical state":
        port["physical_state"] = value
    elif key == "Rate":
        port["rate_gbps"] = int(value) if value.isdigit() else None
    elif key == "Link layer":
        port["link_layer"] = value
    elif key == "Port GUID":
        port["port_guid"] = value
