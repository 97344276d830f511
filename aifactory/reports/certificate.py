"""The signed acceptance certificate of a site: what was accepted, host by host, as an append-only chain of entries.

The document is `{"format", "site", "entries": [{"body", "signature"}]}`, written in one canonical form
(`render`: keys sorted, two-space indent, UTF-8), so that any edit of the file, even of a space, shows.
An entry's body holds the hosts it certifies (each host's inventory: GPU serials, adapter firmware, driver,
fabric package and tool versions, the BMC's hardware when a replacement read it; each check with its
status and, where the check has them, its figure, threshold and unit), the performance tiers that ran on
them (`tier_verdicts`), the catalog's version, the spec's SHA-256 and the time. Its signature signs `signing.statement` of the SHA-256 of the body's canonical bytes
(`canonical`: keys sorted, no spaces). The first entry holds every node of the spec; a later one only
the hosts whose acceptance changed since the entry that last held them (a replaced or upgraded tray,
after its own acceptance), with `previous`, the SHA-256 of the entry before it, so that no entry can be
dropped, reordered or edited without the chain breaking. `verify` checks every entry against the
public key the site's spec names, never a key the document carries.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from aifactory import __version__, catalog
from aifactory.core.inputs import InputFileError, parse_json, read_json
from aifactory.node.acceptance_gate import GATE_PASSES, host_outcome, read_verdict
from aifactory.node.parsers.acceptance import STAND_IN_TOOL_MARK, Missing, Observations, ToolFailed
from aifactory.reports import signing
from aifactory.spec import Factory
from aifactory.spec.validators import shown

FORMAT = "aifactory-acceptance-certificate/1"
NO_RESULT = "no result"
# What a check keeps in the certificate: a performance check (aifactory.node.performance.judge) carries its
# tier, figure, threshold, floor, unit and source; a hardware check (aifactory.node.parsers.acceptance) says
# its figure and what was expected in `reason`.
CHECK_FIELDS = ("name", "tier", "status", "reason", "stand_in", "figure", "threshold", "floor", "unit", "kind",
                "source", "url")
# The performance tiers' verdicts, in the acceptance results directory: one JSON file per tier run, a
# `judge` verdict with the `tier` and the `hosts` it ran on.
PERFORMANCE_DIR = "performance"


class CertificateError(Exception):
    """The file is not an acceptance certificate at all (bad input): the message says why."""


def canonical(value) -> bytes:
    """The bytes that are hashed and signed: JSON, keys sorted, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def render(document: dict) -> str:
    """The one form a certificate file is written in."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def sha256(value) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def catalog_version() -> dict:
    """The catalog the checks were judged by: aifactory's version and the SHA-256 of its catalog files."""
    files = sorted(Path(catalog.__file__).parent.glob("*.yaml"))
    digest = hashlib.sha256(b"".join(f.name.encode() + b"\0" + f.read_bytes() for f in files)).hexdigest()
    return {"aifactory": __version__, "sha256": digest}


def spec_sha256(f: Factory) -> str:
    """The SHA-256 of the site's factory.yaml as written."""
    return hashlib.sha256((f.site_dir / "factory.yaml").read_bytes()).hexdigest()


# --- what is certified of a host ----------------------------------------------------------------------
def _parsed(obs: Observations, key: str):
    try:
        return obs[key]
    except (Missing, ToolFailed):
        return None


def inventory(observations: dict | None, hardware: dict | None) -> dict:
    """A host's parts and versions from its acceptance observations (and the BMC's reading of a replaced one)."""
    raw = observations or {}
    obs = Observations(raw)
    smi = _parsed(obs, "nvidia_smi") or {}
    adapters: dict[str, dict] = {}
    for port in _parsed(obs, "ibstat") or []:
        ca = adapters.setdefault(port["ca"], {"ca": port["ca"], "type": port.get("ca_type"),
                                              "firmware": port.get("firmware"), "port_guids": []})
        ca["port_guids"].append(port.get("port_guid"))
    neuron = _parsed(obs, "neuron_ls") or {}
    tools = {tool: str(text).splitlines()[0] if str(text).strip() else "" for tool, text in
             (raw.get("tool_versions") or {}).items()}
    return {
        "driver": smi.get("driver_version"),
        "cuda": smi.get("cuda_version"),
        "gpus": [{k: g.get(k) for k in ("index", "name", "serial", "uuid", "pci_bus_id")} for g in smi.get("gpus") or []],
        "adapters": [adapters[name] for name in sorted(adapters)],
        "neuron_devices": [{k: d.get(k) for k in ("index", "bdf")} for d in neuron.get("device_list") or []],
        "fabric_packages": dict(sorted((raw.get("packages") or {}).items())),
        "tools": dict(sorted(tools.items())),
        "stand_in_tools": sorted(t for t, text in tools.items() if STAND_IN_TOOL_MARK in text),
        "system": hardware,
    }


def host_record(node, verdict: dict | None, observations: dict | None, hardware: dict | None) -> dict:
    """What the certificate says of one host: its verdict, the gate's outcome, its inventory and its checks."""
    outcome = host_outcome(verdict)
    verdict = verdict or {}
    return {
        "rack": node.rack_group,
        "result": verdict.get("result") or NO_RESULT,
        "outcome": outcome,
        "accepted": outcome in GATE_PASSES,
        "inventory": inventory(observations, hardware),
        "checks": [{k: c[k] for k in CHECK_FIELDS if k in c} for c in verdict.get("checks") or []],
    }


def _json_or_none(path: Path) -> dict | None:
    try:
        data = read_json(path)
    except InputFileError as err:
        raise CertificateError(f"{shown(str(path), 300)}: {err}") from None
    return data if isinstance(data, dict) else None


def _verdict(path: Path) -> dict | None:
    try:
        return read_verdict(path)
    except InputFileError as err:
        raise CertificateError(f"{shown(str(path), 300)}: not an acceptance verdict ({err})") from None


def host_records(f: Factory, results: Path, replacements: list[dict]) -> dict[str, dict]:
    """Every node's record from the acceptance results directory (`<host>.json`, `observations/<host>.json`)
    and, for a replaced node, the hardware its last replacement read."""
    hardware = {r["node"]: r["hardware"] for r in replacements if r.get("hardware")}
    return {node.name: host_record(node, _verdict(results / f"{node.name}.json"),
                                   _json_or_none(results / "observations" / f"{node.name}.json"),
                                   hardware.get(node.name))
            for node in f.nodes}


def tier_verdicts(results: Path) -> list[dict]:
    """The performance tiers' verdicts found in the results directory, each with its tier, hosts, result and
    checks (figure and threshold each), in file order; [] before any tier ran."""
    verdicts = []
    for path in sorted((results / PERFORMANCE_DIR).glob("*.json")):
        verdict = _json_or_none(path) or {}
        verdicts.append({"run": path.stem, "tier": verdict.get("tier"), "hosts": sorted(verdict.get("hosts") or []),
                         "result": verdict.get("result") or NO_RESULT,
                         "checks": [{k: c[k] for k in CHECK_FIELDS if k in c} for c in verdict.get("checks") or []]})
    return verdicts


# --- the chain of entries ---------------------------------------------------------------------------------
def latest_records(document: dict) -> dict[str, dict]:
    """Each host's record in the last entry that holds it."""
    latest: dict[str, dict] = {}
    for entry in document["entries"]:
        latest.update(entry["body"]["hosts"])
    return latest


def changed_hosts(document: dict | None, records: dict[str, dict]) -> dict[str, dict]:
    """The records a new entry must hold: all of them for a new certificate, else those that differ from the
    host's record in the last entry holding it."""
    if document is None:
        return records
    latest = latest_records(document)
    return {host: record for host, record in records.items() if latest.get(host) != record}


def new_entry(f: Factory, document: dict | None, hosts: dict[str, dict], tiers: list[dict], signer) -> dict:
    """An entry of `hosts` and the performance tiers that ran on any of them, chained to the last entry of
    `document`, signed by `signer`."""
    entries = (document or {}).get("entries") or []
    body = {
        "index": len(entries) + 1,
        "previous": f"sha256:{sha256(entries[-1])}" if entries else None,
        "site": f.name,
        "issued": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "spec_sha256": spec_sha256(f),
        "catalog": catalog_version(),
        "platform": f.compute.platform,
        "stand_ins": sorted(h for h, r in hosts.items() if r["inventory"]["stand_in_tools"]
                            or any(c.get("stand_in") for c in r["checks"])),
        "supersedes": {h: i for h in sorted(hosts) for i in [_last_holding(entries, h)] if i},
        "hosts": hosts,
        "performance": [t for t in tiers if set(t["hosts"]) & hosts.keys()],
    }
    signature = signer.sign(signing.statement(sha256(body)))
    return {"body": body, "signature": {"algorithm": signer.algorithm, "key": signing.fingerprint(signer.public_key),
                                        "value": base64.b64encode(signature).decode()}}


def _last_holding(entries: list[dict], host: str) -> int | None:
    return next((e["body"]["index"] for e in reversed(entries) if host in e["body"]["hosts"]), None)


def appended(f: Factory, document: dict | None, entry: dict) -> dict:
    """The document with `entry` added (a new document when there was none)."""
    return {"format": FORMAT, "site": f.name, "entries": [*((document or {}).get("entries") or []), entry]}


# --- reading and verifying ------------------------------------------------------------------------------
def parse(text: str) -> dict:
    """The document in `text`; CertificateError when it is no acceptance certificate at all."""
    try:
        document = parse_json(text)
    except InputFileError as err:
        raise CertificateError(f"not an acceptance certificate ({err})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CertificateError(f"not an acceptance certificate (no \"format\": \"{FORMAT}\")")
    return document


@dataclass
class Verdict:
    """Whether a certificate verifies: the problems found (none: it does), and its entries."""

    problems: list[str] = field(default_factory=list)
    entries: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(text: str, f: Factory, key) -> Verdict:
    """Check the certificate `text` of site `f` against `key` (the public key the site's spec names): its
    form, its site, and every entry's index, chain link and signature. Any key the document carries is
    ignored. CertificateError when the text is no acceptance certificate at all."""
    document = parse(text)
    verdict = Verdict()
    if _rendered(document) != text:
        verdict.problems.append("the file is not in the form it was written in: it was edited")
    if document.get("site") != f.name:
        verdict.problems.append(f"issued for {shown(document.get('site'))}, not for {f.name}")
    entries = document.get("entries")
    if not isinstance(entries, list) or not entries:
        verdict.problems.append("holds no entry")
        return verdict
    verdict.entries = len(entries)
    previous = None
    for number, entry in enumerate(entries, 1):
        try:
            verdict.problems += _entry_problems(number, entry, previous, f, key)
        except (KeyError, TypeError, AttributeError, ValueError):
            verdict.problems.append(f"entry {number}: malformed")
        previous = entry
    return verdict


def _rendered(document: dict) -> str | None:
    try:
        return render(document)
    except ValueError:  # NaN or Infinity, which no certificate holds
        return None


def _entry_problems(number: int, entry: dict, previous: dict | None, f: Factory, key) -> list[str]:
    body, signature = entry["body"], entry["signature"]
    problems = []
    if body["index"] != number:
        problems.append(f"entry {number}: says it is entry {shown(body['index'])}")
    if body["previous"] != (f"sha256:{sha256(previous)}" if previous is not None else None):
        problems.append(f"entry {number}: does not follow the entry before it (an entry was edited, dropped or moved)")
    if body["site"] != f.name:
        problems.append(f"entry {number}: issued for {shown(body['site'])}, not for {f.name}")
    if signature["key"] != signing.fingerprint(key):
        problems.append(f"entry {number}: says it was signed by {shown(signature['key'])}, not by {f.name}'s key")
    if not signing.signature_valid(key, signature["algorithm"], signing.statement(sha256(body)), signature["value"]):
        problems.append(f"entry {number}: the signature does not verify against {f.name}'s public key "
                        f"({signing.PUBLIC_KEY_FIELD}, {signing.fingerprint(key)})")
    return problems
