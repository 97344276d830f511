"""The lab's DNS stand-in: the factory's private endpoint names, answered with the lab gateway's address.

On a site, the nodes resolve `sts.<region>.amazonaws.com` and the other interface endpoint names
through the hybrid link (the Route 53 Resolver's inbound endpoint) to private addresses in the VPC.
In the lab, this server on the bridge's gateway (UDP port 53; the nodes' resolv.conf names it)
answers exactly those names, the plan's `endpoint_dns`, with the gateway's own private address,
where the lab's HTTPS listener serves moto (tls.py). Any other name is NXDOMAIN: nothing resolves
to, or leaves for, the outside. Before the plan has written its stack outputs there is no endpoint,
so no name resolves (as on a site before the stack is deployed).

A name it does not answer leaves no connection for the air gap's record (aifactory.lab.reached) to see, so each
one is written down, once per asking host (`--misses`, JSON lines, at most MAX_MISSES): a node that looks up an
AWS name the private link does not serve (IAM's global endpoint, say) is about to call past the link.

`python -m aifactory.lab.dns --listen ADDR --address IP --names-from STACK_OUTPUTS_FILE [--misses FILE]` runs it;
it reads the stack outputs again whenever they change.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import struct
import sys
from pathlib import Path

from aifactory.core.inputs import InputFileError, read_json

TTL_S = 60
MISSES_FILE = "aws/dns-misses.jsonl"  # under the lab's state directory (aifactory.lab.aws starts the stand-in)
MAX_MISSES = 1000  # (name, asking host) pairs written down at most: a loop asking forever fills no disk
TYPE_A, CLASS_IN = 1, 1
NOERROR, FORMERR, NXDOMAIN, NOTIMP = 0, 1, 3, 4


def _question(packet: bytes) -> tuple[str, int, int, int]:
    """(name, type, class, offset after the question) of a query's first question."""
    labels, offset = [], 12
    while True:
        length = packet[offset]
        if length == 0:
            offset += 1
            break
        if length & 0xC0:  # no compression pointers in a question we answer
            raise ValueError("compressed question name")
        labels.append(packet[offset + 1:offset + 1 + length].decode("ascii"))
        offset += 1 + length
    qtype, qclass = struct.unpack("!HH", packet[offset:offset + 4])
    return ".".join(labels).lower(), qtype, qclass, offset + 4


def answer(packet: bytes, names: set[str], address: str) -> bytes | None:
    """The response to one DNS query: an A record of `address` for a name in `names` (lower case, no
    trailing dot), no record for its other types, NXDOMAIN for any other name; None for what is no
    query at all (dropped, as a resolver drops garbage)."""
    if len(packet) < 12:
        return None
    ident, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if flags & 0x8000:  # a response, not a query
        return None
    rd = flags & 0x0100
    if (flags >> 11) & 0xF != 0 or qdcount != 1:
        return struct.pack("!HHHHHH", ident, 0x8000 | rd | NOTIMP, 0, 0, 0, 0)
    try:
        name, qtype, qclass, end = _question(packet)
    except (IndexError, ValueError, UnicodeDecodeError, struct.error):
        return struct.pack("!HHHHHH", ident, 0x8000 | rd | FORMERR, 0, 0, 0, 0)
    question = packet[12:end]
    known = name.rstrip(".") in names
    records = b""
    if known and qtype == TYPE_A and qclass == CLASS_IN:
        records = (struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL_S, 4)
                   + ipaddress.IPv4Address(address).packed)
    # QR, AA (the stand-in is the authority for these names), RD echoed, RA.
    rcode = NOERROR if known else NXDOMAIN
    header = struct.pack("!HHHHHH", ident, 0x8000 | 0x0400 | rd | 0x0080 | rcode, 1, 1 if records else 0, 0, 0)
    return header + question + records


def query(server: str, name: str, timeout: float = 2.0, port: int = 53) -> list[str]:
    """The A records `server` gives for `name` ([] for none or NXDOMAIN); OSError when it does not answer."""
    qname = b"".join(bytes([len(p)]) + p.encode("ascii") for p in name.rstrip(".").split(".")) + b"\0"
    packet = struct.pack("!HHHHHH", 0x5AF0, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", TYPE_A, CLASS_IN)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (server, port))
        data, _ = s.recvfrom(512)
    ancount = struct.unpack("!H", data[6:8])[0]
    offset = 12 + len(qname) + 4
    found = []
    for _ in range(ancount):
        rtype, _cls, _ttl, length = struct.unpack("!HHIH", data[offset + 2:offset + 12])
        if rtype == TYPE_A:
            found.append(str(ipaddress.IPv4Address(data[offset + 12:offset + 12 + length])))
        offset += 12 + length
    return found


def endpoint_names(stack_outputs_file: Path) -> set[str]:
    """The private endpoint names (`endpoint_dns`) of a stack-outputs file, lower case; none while the
    file is absent or is no stack outputs (read as any input: a regular file of bounded size)."""
    try:
        dns_names = read_json(stack_outputs_file).get("endpoint_dns") or {}
        return {str(n).lower().rstrip(".") for n in dns_names.values()}
    except (InputFileError, AttributeError):
        return set()


def missed_name(packet: bytes, response: bytes) -> str | None:
    """The name of a query `response` answered NXDOMAIN (lower case, no trailing dot), else None."""
    if len(response) < 4 or response[3] & 0xF != NXDOMAIN:
        return None
    return _question(packet)[0].rstrip(".")


def serve(listen: str, names_from: Path, address: str, port: int = 53, misses: Path | None = None) -> None:
    seen, names = None, set()
    written: set[tuple[str, str]] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((listen, port))
        while True:
            packet, peer = s.recvfrom(512)
            try:
                stamp = names_from.stat().st_mtime_ns
            except OSError:
                stamp = None
            if stamp != seen:
                seen, names = stamp, endpoint_names(names_from)
            response = answer(packet, names, address)
            if response is None:
                continue
            s.sendto(response, peer)
            name = missed_name(packet, response)
            if misses is not None and name and (name, peer[0]) not in written and len(written) < MAX_MISSES:
                written.add((name, peer[0]))
                with misses.open("a", encoding="utf-8") as out:
                    out.write(json.dumps({"name": name, "from": peer[0]}) + "\n")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m aifactory.lab.dns",
                                description="aifactory lab stand-in: DNS for the factory's private endpoint names")
    p.add_argument("--listen", required=True, help="address to listen on (UDP port 53)")
    p.add_argument("--address", required=True, help="the address every name resolves to")
    p.add_argument("--names-from", required=True, type=Path, metavar="FILE",
                   help="stack outputs (pulumi stack output --json) whose endpoint_dns names to answer")
    p.add_argument("--misses", type=Path, metavar="FILE",
                   help="where to write each name it does not answer and who asked (JSON lines)")
    args = p.parse_args(argv)
    serve(args.listen, args.names_from, args.address, misses=args.misses)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
