"""`ibstat`: every InfiniBand/RoCE adapter (CA) and the state, rate and link layer of its ports."""

from __future__ import annotations

import re

from aifactory.node.parsers import ParseError

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


# CA types of BlueField DPUs: ibstat prints "MT" and the PCI device id in decimal (PCI ID Repository,
# pci-ids.ucw.cz, vendor 15b3: a2d2 BlueField, a2d6 BlueField-2, a2dc BlueField-3). Their ports carry
# storage and north-south traffic (200 Gb/s Ethernet on a GB200 tray), never the compute fabric, whose
# ports are ConnectX adapters (MT4129 ConnectX-7, MT4131 ConnectX-8).
DPU_CA_TYPES = {"MT41682": "BlueField", "MT41686": "BlueField-2", "MT41692": "BlueField-3"}


def fabric_link_layer(kind: str | None) -> str | None:
    """The link layer of the compute fabric's ports: InfiniBand or Ethernet (RoCE); None when the kind
    (e.g. EFA, or unknown) does not say, and then any link layer counts."""
    kind = (kind or "").lower()
    if kind.startswith("infiniband"):
        return "InfiniBand"
    if kind.startswith("ethernet") or "roce" in kind:
        return "Ethernet"
    return None


def compute_fabric_ports(ports: list[dict], link_layer: str | None) -> tuple[list[dict], list[dict]]:
    """(compute-fabric ports, other ports): DPU ports and ports of another link layer are the others."""
    mine, others = [], []
    for port in ports:
        is_dpu = port.get("ca_type") in DPU_CA_TYPES
        wrong_layer = link_layer is not None and port.get("link_layer") != link_layer
        (others if is_dpu or wrong_layer else mine).append(port)
    return mine, others


def check_fabric_ports(ports: list[dict], link_layer: str | None, rate_gbps: int,
                       count: int | None = None) -> tuple[bool, str]:
    """Every compute-fabric port Active/LinkUp at `rate_gbps` or more (0: any rate), and at least `count`
    of them when given (else at least one). Returns (passed, reason)."""
    mine, others = compute_fabric_ports(ports, link_layer)
    rate_gbps = int(rate_gbps or 0)

    def healthy(p: dict) -> bool:
        return (p.get("state") == "Active" and p.get("physical_state") == "LinkUp"
                and (p.get("rate_gbps") or 0) >= rate_gbps)

    good = [p for p in mine if healthy(p)]
    problems = [f"{p['ca']} port {p['port']}: {p.get('state')}/{p.get('physical_state')} at {p.get('rate_gbps')} Gb/s"
                for p in mine if not healthy(p)]
    want = count if count else max(len(mine), 1)
    layer = f"{link_layer} " if link_layer else ""
    parts = [f"{len(good)} of {want} {layer}compute-fabric ports Active at >= {rate_gbps} Gb/s", *problems]
    if others:
        parts.append("not counted: " + ", ".join(
            f"{p['ca']} port {p['port']} ({DPU_CA_TYPES.get(p.get('ca_type')) or p.get('link_layer')})" for p in others))
    return len(good) >= want and not problems, "; ".join(parts)
