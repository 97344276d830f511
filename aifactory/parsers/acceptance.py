"""Acceptance of one node: what its tools reported, checked against the platform's expected hardware.

`evaluate(expected, observations)` takes the expected-hardware profile (`aifactory_expected_hardware`,
optionally with `driver_branch` / `driver_version` added) and the observations of one node, keyed by
tool: `nvidia_smi`, `nvlink`, `dcgm`, `ibstat`, `neuron_ls`. Each observation may be the tool's raw
output or what its parser returned; a missing one makes the checks that need it `skipped`, never
`pass`. Only the checks the profile calls for are listed.
"""

from __future__ import annotations

from collections.abc import Callable

from aifactory.parsers import ParseError
from aifactory.parsers.dcgm import parse_dcgm_diag
from aifactory.parsers.ibstat import parse_ibstat
from aifactory.parsers.neuron_ls import parse_neuron_ls
from aifactory.parsers.nvidia_smi import parse_nvidia_smi_xml
from aifactory.parsers.nvlink import parse_nvlink_status

PARSERS: dict[str, tuple[str, Callable]] = {
    "nvidia_smi": ("nvidia-smi -q -x", parse_nvidia_smi_xml),
    "nvlink": ("nvidia-smi nvlink -s", parse_nvlink_status),
    "dcgm": ("dcgmi diag -j", parse_dcgm_diag),
    "ibstat": ("ibstat", parse_ibstat),
    "neuron_ls": ("neuron-ls -j", parse_neuron_ls),
}
NO_CLUSTER = "00000000-0000-0000-0000-000000000000"


class Missing(Exception):
    """An observation a check needs is absent or unreadable."""


def check(name: str, status: str, reason: str) -> dict:
    return {"name": name, "status": status, "reason": reason}


def evaluate(expected: dict, observations: dict | None) -> dict:
    """`{"result": pass|fail|incomplete, "checks": [{name, status, reason}], "counts": {...}}`."""
    obs = Observations(observations or {})
    planned: list[tuple[str, Callable[[], tuple[bool, str]]]] = []
    if expected.get("fabric") == "efa":
        planned.append(("accelerator_count", lambda: _neuron_count(expected, obs)))
    else:
        planned += [
            ("accelerator_count", lambda: _gpu_count(expected, obs)),
            ("accelerator_model", lambda: _gpu_model(expected, obs)),
            ("ecc_enabled", lambda: _ecc(obs)),
            ("memory_health", lambda: _memory(obs)),
        ]
        if expected.get("driver_version") or expected.get("driver_branch"):
            planned.append(("driver_version", lambda: _driver(expected, obs)))
        if expected.get("fabric_state") not in (None, "none"):
            planned.append(("fabric_state", lambda: _fabric_state(expected, obs)))
        if expected.get("nvlink_domain_gpus", 0) > expected.get("accelerators", 0):
            planned.append(("nvlink_domain", lambda: _nvlink_domain(obs)))
        if expected.get("nvlink_domain_gpus", 0) > 1:
            planned.append(("nvlink_links", lambda: _nvlink_links(obs)))
        if expected.get("dcgm_diag_level", 0) > 0:
            planned.append(("dcgm_diag", lambda: _dcgm(expected, obs)))
    if expected.get("ib_ports", 0) > 0:
        planned.append(("ib_ports", lambda: _ib_ports(expected, obs)))

    checks = []
    for name, run in planned:
        try:
            passed, reason = run()
        except Missing as missing:
            checks.append(check(name, "skipped", str(missing)))
        else:
            checks.append(check(name, "pass" if passed else "fail", reason))
    counts = {s: sum(c["status"] == s for c in checks) for s in ("pass", "fail", "skipped")}
    result = "fail" if counts["fail"] else "incomplete" if counts["skipped"] or not checks else "pass"
    return {"result": result, "checks": checks, "counts": counts}


class Observations:
    """Parses raw tool output on first use; remembers why an observation is unusable."""

    def __init__(self, raw: dict):
        self._raw = raw
        self._parsed: dict = {}

    def __getitem__(self, key: str):
        if key not in self._parsed:
            tool, parse = PARSERS[key]
            value = self._raw.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                self._parsed[key] = Missing(f"no `{tool}` output collected")
            elif isinstance(value, str):
                try:
                    self._parsed[key] = parse(value)
                except ParseError as err:
                    self._parsed[key] = Missing(f"`{tool}` output unreadable: {err}")
            else:
                self._parsed[key] = value
        value = self._parsed[key]
        if isinstance(value, Missing):
            raise value
        return value


def _gpus(obs: Observations) -> list[dict]:
    gpus = obs["nvidia_smi"].get("gpus") or []
    if not gpus:
        raise Missing("`nvidia-smi -q -x` lists no GPU")
    return gpus


def _label(gpu: dict) -> str:
    return f"GPU {gpu.get('index')} ({gpu.get('pci_bus_id')})"


def _failing(gpus: list[dict], bad: Callable[[dict], str | None]) -> tuple[bool, str]:
    problems = [f"{_label(g)}: {why}" for g in gpus if (why := bad(g))]
    return (not problems, "; ".join(problems) or f"all {len(gpus)} GPUs")


def _gpu_count(expected: dict, obs: Observations) -> tuple[bool, str]:
    found = len(obs["nvidia_smi"].get("gpus") or [])
    return found == expected["accelerators"], f"{found} GPUs, expected {expected['accelerators']}"


def _gpu_model(expected: dict, obs: Observations) -> tuple[bool, str]:
    want = expected["accelerator_name_contains"]
    return _failing(_gpus(obs), lambda g: None if want in (g.get("name") or "") else f"is {g.get('name')}, expected {want}")


def _ecc(obs: Observations) -> tuple[bool, str]:
    return _failing(_gpus(obs), lambda g: None if g.get("ecc_mode") == "Enabled" else
                    f"ECC {g.get('ecc_mode') or 'not reported'} (pending: {g.get('ecc_mode_pending')})")


def _memory(obs: Observations) -> tuple[bool, str]:
    def bad(gpu: dict) -> str | None:
        found = [label for key, label in (("retired_pages_pending", "page retirement pending"),
                                          ("remapped_rows_pending", "row remapping pending (reset the GPU)"),
                                          ("remapped_rows_failure", "row remapping failed")) if gpu.get(key)]
        return ", ".join(found) or None
    return _failing(_gpus(obs), bad)


def _driver(expected: dict, obs: Observations) -> tuple[bool, str]:
    found = obs["nvidia_smi"].get("driver_version")
    if not found:
        raise Missing("`nvidia-smi -q -x` reports no driver version")
    if expected.get("driver_version"):
        want = expected["driver_version"]
        return found == want, f"driver {found}, expected {want}"
    branch = str(expected["driver_branch"])
    return found.split(".")[0] == branch, f"driver {found}, expected branch {branch}"


def _fabric_state(expected: dict, obs: Observations) -> tuple[bool, str]:
    want = expected["fabric_state"]

    def bad(gpu: dict) -> str | None:
        state, status = gpu.get("fabric_state"), gpu.get("fabric_status")
        if state != want:
            return f"fabric state {state or 'not reported'}, expected {want}"
        if status != "Success":
            return f"fabric status {status or 'not reported'}"
        return None
    return _failing(_gpus(obs), bad)


def _nvlink_domain(obs: Observations) -> tuple[bool, str]:
    gpus = _gpus(obs)
    domains = {(g.get("cluster_uuid"), g.get("clique_id")) for g in gpus}
    unregistered = [g for g in gpus if g.get("cluster_uuid") in (None, NO_CLUSTER) or g.get("clique_id") is None]
    if unregistered:
        return False, "; ".join(f"{_label(g)}: in no NVLink domain" for g in unregistered)
    if len(domains) > 1:
        return False, "GPUs disagree on their NVLink domain: " + ", ".join(f"{c}/{q}" for c, q in sorted(domains))
    cluster, clique = domains.pop()
    return True, f"all {len(gpus)} GPUs in cluster {cluster}, clique {clique}"


def _nvlink_links(obs: Observations) -> tuple[bool, str]:
    links = obs["nvlink"]
    gpus = sorted({link["gpu"] for link in links})
    problems = []
    for gpu in gpus:
        mine = [link for link in links if link["gpu"] == gpu]
        inactive = [link for link in mine if not link["active"]]
        if inactive:
            problems.append(f"GPU {gpu}: {len(inactive)} of {len(mine)} links inactive")
    return not problems, "; ".join(problems) or f"all {len(links)} links active on {len(gpus)} GPUs"


def _dcgm(expected: dict, obs: Observations) -> tuple[bool, str]:
    diag = obs["dcgm"]
    if diag["passed"]:
        return True, f"{len(diag['tests'])} tests passed (level {expected['dcgm_diag_level']} requested)"
    if not diag["failures"]:
        return False, "no test ran"
    return False, "; ".join(diag["failures"])


def _ib_ports(expected: dict, obs: Observations) -> tuple[bool, str]:
    want, rate = expected["ib_ports"], expected["ib_rate_gbps"]
    ports = [p for p in obs["ibstat"] if p.get("link_layer") == "InfiniBand"]
    healthy = [p for p in ports if p.get("state") == "Active" and p.get("physical_state") == "LinkUp"
               and p.get("rate_gbps") == rate]
    problems = [f"{p['ca']} port {p['port']}: {p.get('state')}/{p.get('physical_state')} at {p.get('rate_gbps')} Gb/s"
                for p in ports if p not in healthy]
    summary = f"{len(healthy)} of {want} InfiniBand ports active at {rate} Gb/s"
    return len(healthy) >= want and not problems, "; ".join([summary, *problems])


def _neuron_count(expected: dict, obs: Observations) -> tuple[bool, str]:
    found = obs["neuron_ls"]
    return found["devices"] == expected["accelerators"], (
        f"{found['devices']} Neuron devices ({found['cores']} cores), expected {expected['accelerators']}")
