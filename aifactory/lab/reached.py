"""What the lab's nodes reached beyond the factory's own network: every new connection (TCP, UDP, any other
protocol) a node opened towards the lab's gateway, recorded by the kernel. Broadcast and multicast (ARP's
neighbours, a resolver's link-local queries) stay on the factory's network and are not connections out of it.

The nodes' namespaces have no default route: what a node can reach besides other nodes is the gateway, where
every stand-in outside the factory listens (the mirror, the AWS link's DNS and endpoints, the BMCs' emulator is on
127.0.0.1 and only the controller reaches it). An nftables table of the lab's own, hooked where packets enter the
host from the lab's bridge, adds each new flow's (source, destination, protocol, port) to a set; the rehearsal reads
the set and names the stand-in behind each address (`classify`), so an air-gapped site's promise (packages from the
mirror alone, nothing else reached) is checked, not assumed. Traffic between the factory's hosts (the rest of the
lab's network) is not recorded: it stays inside the factory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from aifactory.core.inputs import InputFileError, read_text
from aifactory.lab import dns
from aifactory.lab.state import LabState

PROTOCOLS = {6: "tcp", 17: "udp", 1: "icmp"}


class ReachedError(RuntimeError):
    """nftables could not record or report the lab's flows."""


def available() -> bool:
    return shutil.which("nft") is not None


def table_name(bridge: str) -> str:
    return f"aifactory_{bridge}"


def _nft(*args: str, script: str | None = None) -> str:
    result = subprocess.run(["nft", *args], input=script, capture_output=True, text=True)
    if result.returncode != 0:
        raise ReachedError(f"nft {' '.join(args)}: {result.stderr.strip() or f'exit {result.returncode}'}")
    return result.stdout


def start(state: LabState, bridge: str, host_cidr: str, gateway: str) -> str:
    """Record from now on every new flow from `bridge` to the gateway or beyond the lab's network; the table's
    name (recorded for lab down). Flows between the factory's hosts (the rest of `host_cidr`) are not recorded:
    they stay inside the factory (a machine with br_netfilter would show them to the hook)."""
    table = table_name(bridge)
    rules = "".join(
        f'    iifname "{bridge}" meta pkttype host ip daddr {to} ct state new {match} add @{target} {{ {key} }}\n'
        for to in (gateway, f"!= {host_cidr}")
        for match, target, key in (("meta l4proto { tcp, udp }", "flows", "ip saddr . ip daddr . meta l4proto . th dport"),
                                   ("meta l4proto != { tcp, udp }", "other", "ip saddr . ip daddr . meta l4proto")))
    _nft("-f", "-", script=f"""table inet {table} {{
  set flows {{ type ipv4_addr . ipv4_addr . inet_proto . inet_service; flags dynamic; size 65535; }}
  set other {{ type ipv4_addr . ipv4_addr . inet_proto; flags dynamic; size 65535; }}
  chain prerouting {{
    type filter hook prerouting priority -150; policy accept;
{rules}  }}
}}
""")
    state.record("nft", table=table)
    return table


def exists(table: str) -> bool:
    return available() and subprocess.run(["nft", "list", "table", "inet", table], capture_output=True).returncode == 0


def remove(table: str) -> None:
    if exists(table):
        subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True)


@dataclass(frozen=True)
class Flow:
    """One new connection a node opened towards the gateway."""

    source: str
    address: str
    protocol: str
    port: int | None  # None: a protocol without ports (ICMP)


def parse(listing: str) -> list[Flow]:
    """The flows of `nft --json list table inet <table>`'s output; ReachedError when it is not that."""
    try:
        items = json.loads(listing)["nftables"]
    except (ValueError, KeyError, TypeError) as err:
        raise ReachedError(f"nft's listing is not the JSON expected ({err})") from None
    if not isinstance(items, list):
        raise ReachedError("nft's listing is not the JSON expected (no list of objects)")
    flows = []
    for item in items:
        body = item.get("set") if isinstance(item, dict) else None
        if not isinstance(body, dict) or body.get("name") not in ("flows", "other"):
            continue
        for element in body.get("elem", []):
            parts = element.get("elem", {}).get("val", element) if isinstance(element, dict) else element
            values = parts.get("concat") if isinstance(parts, dict) else None
            if not isinstance(values, list) or len(values) not in (3, 4):
                raise ReachedError(f"nft's listing has an element of set {body['name']} that is not a flow: {element}")
            protocol = values[2] if isinstance(values[2], str) else PROTOCOLS.get(values[2], str(values[2]))
            flows.append(Flow(str(values[0]), str(values[1]), protocol, int(values[3]) if len(values) == 4 else None))
    return sorted(set(flows), key=lambda fl: (fl.address, fl.port or 0, fl.protocol, fl.source))


def flows(state: LabState) -> list[Flow]:
    """Every flow recorded so far in the site's lab."""
    table = next((item["table"] for item in state.resources if item["kind"] == "nft"), None)
    if table is None:
        raise ReachedError(f"the {state.site} lab records no flows (it was brought up without nftables)")
    return parse(_nft("--json", "list", "table", "inet", table))


# The services on the gateway that are not URLs in the lab's endpoints.
GATEWAY_SERVICES = {("udp", 53): "DNS of the AWS link's private endpoint names",
                    ("tcp", 53): "DNS of the AWS link's private endpoint names",
                    ("udp", 123): "NTP (the spec's time servers; nothing answers in the lab)"}
PACKAGE_SOURCES = ("bundle", "apt", "vendor")  # lab endpoints that serve packages


def _listeners(endpoints: dict) -> dict[tuple[str, int], str]:
    """(address, port) -> the lab endpoint's name, for every URL-valued endpoint."""
    out = {}
    for name, value in endpoints.items():
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            url = urlsplit(value)
            out.setdefault((url.hostname or "", url.port or (443 if url.scheme == "https" else 80)), name)
    return out


@dataclass(frozen=True)
class Reached:
    """An address and port the nodes reached, the stand-in there (None: none the lab knows) and who reached it."""

    address: str
    protocol: str
    port: int | None
    stand_in: str | None
    nodes: tuple[str, ...]

    def as_dict(self) -> dict:
        return asdict(self)


def classify(found: list[Flow], endpoints: dict, gateway: str, names: dict[str, str]) -> list[Reached]:
    """Each (address, protocol, port) the nodes reached with the lab endpoint behind it; `names` maps a node's
    address to its name."""
    listeners = _listeners(endpoints)
    grouped: dict[tuple[str, str, int | None], set[str]] = {}
    for flow in found:
        grouped.setdefault((flow.address, flow.protocol, flow.port), set()).add(names.get(flow.source, flow.source))
    out = []
    for (address, protocol, port), who in sorted(grouped.items(), key=lambda kv: (kv[0][0], kv[0][2] or 0, kv[0][1])):
        stand_in = listeners.get((address, port)) if protocol == "tcp" else None
        if stand_in is None and address == gateway:
            stand_in = GATEWAY_SERVICES.get((protocol, port))
        out.append(Reached(address, protocol, port, stand_in, tuple(sorted(who))))
    return out


# What each lab endpoint is, as the rehearsal names it.
ENDPOINT_NAMES = {"bundle": "mirror bundle", "apt": "partial Debian mirror stand-in",
                  "vendor": "vendor repository stand-ins", "aws_https": "AWS private endpoints (HTTPS stand-in)",
                  "aws_downloads": "AWS link downloads (signing helper stand-in)"}


# AWS's public endpoint domains. A node that looks up one of their names the private link does not serve (the lab's
# DNS answers exactly the plan's endpoint names) is about to call AWS past the link.
AWS_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
NAMES_SHOWN = 5  # names the lab's DNS did not answer, listed in the detail at most


def dns_misses(state: LabState) -> dict[str, set[str]]:
    """{name: the addresses that looked it up} of each name the lab's DNS stand-in did not answer (its record,
    aifactory.lab.dns; none before it wrote one). ReachedError when the record is not the stand-in's."""
    path = state.dir / dns.MISSES_FILE
    if not path.exists():
        return {}
    try:
        text = read_text(path)
    except InputFileError as err:
        raise ReachedError(f"{path}: {err}") from None
    out: dict[str, set[str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        try:
            entry = json.loads(line)
            name, source = entry["name"], entry["from"]
            if not isinstance(name, str) or not isinstance(source, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise ReachedError(f"{path}, line {number}: not a record of the lab's DNS stand-in") from None
        out.setdefault(name, set()).add(source)
    return out


def air_gap_outcome(state: LabState, gateway: str, names: dict[str, str]) -> tuple[str, str, list[Reached]]:
    """The rehearsal's verdict on what the nodes reached: failed when an address no lab stand-in serves was
    reached, when a lab with a mirror bundle fetched packages elsewhere, or when a node looked up an AWS name the
    private link does not serve; the detail names each place once, and the other names the lab's DNS did not
    answer."""
    found = classify(flows(state), state.endpoints, gateway, names)
    unknown = [r for r in found if r.stand_in is None]
    sources = sorted({r.stand_in for r in found if r.stand_in in PACKAGE_SOURCES})
    phrases = [f"{ENDPOINT_NAMES.get(r.stand_in, r.stand_in)} ({r.protocol} {r.address}:{r.port}, "
               f"{len(r.nodes)} host(s))" for r in found if r.stand_in is not None]
    problems = [f"{r.protocol} {r.address}" + (f":{r.port}" if r.port is not None else "")
                + f" from {', '.join(r.nodes)}: no lab stand-in there" for r in unknown]
    if "bundle" in state.endpoints:
        problems += [f"packages fetched from the {ENDPOINT_NAMES[s]}, not the mirror bundle" for s in sources
                     if s != "bundle"]
        packages = "packages from the mirror bundle alone" if sources == ["bundle"] else "no package fetched"
    else:
        packages = (f"packages from {', '.join(ENDPOINT_NAMES[s] for s in sources) or 'nowhere'} (this lab serves no "
                    "mirror bundle: its site's architecture is not this machine's)")
    missed = dns_misses(state)
    aws_names = sorted(n for n in missed if n.endswith(AWS_DOMAINS))
    problems += [f"{name} looked up from {', '.join(sorted(names.get(a, a) for a in missed[name]))}: an AWS name "
                 "the private link does not serve (a call past the link)" for name in aws_names]
    others = sorted(n for n in missed if n not in aws_names)
    detail = f"the nodes reached {'; '.join(phrases) or 'nothing'}; {packages}"
    if others:
        more = f" and {len(others) - NAMES_SHOWN} more" if len(others) > NAMES_SHOWN else ""
        detail += f"; names the lab's DNS did not answer: {', '.join(others[:NAMES_SHOWN])}{more}"
    if problems:
        return "failed", f"{'; '.join(problems)}; {detail}", found
    return "passed", detail, found
