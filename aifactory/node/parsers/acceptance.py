"""Acceptance of one node: what its tools reported, checked against what the node should be.

`evaluate(expected, observations)` is the one verdict (the acceptance role calls it through the
`aifactory_acceptance_check` filter). `expected` is the platform's expected-hardware profile
(catalog `expected`) with, optionally, the site's pins and mounts added:

    driver_branch, driver_version   the pinned NVIDIA driver
    network_fabric                  spec `network.fabric` (infiniband-ndr, ethernet-rocev2, ...)
    scratch_mount, shared_mounts    storage the node must have mounted ([{name, type, source, mount}])
    bedrock_endpoint                the Bedrock private endpoint's DNS name; "" when unknown (no stack outputs)

`observations` is the node's one observations document (see `observations()`): the raw output of
each tool keyed `nvidia_smi`, `nvlink`, `dcgm`, `ibstat`, `neuron_ls` (the output as a string, a
command result `{rc, stdout, stderr}`, or what the parser returned), `services`, `packages`,
`imex_channel`, `mounts`, `scratch_probe`, `bedrock_dns`, `bedrock_https`, `tools` (which tools are
installed), `tool_versions` (each installed tool's `--version` output, keyed as `tools`) and
`checks_without_kernel` (checks that need a kernel the host does not have, KERNEL_BOUND: `imex_channel`,
`shared` for every shared mount) and `running_jobs` (true: Slurm runs jobs on the node, so the DCGM
diagnostic, which loads every GPU, was not run). Only the checks the expected profile calls for are listed. A check
whose observation is missing is `skipped` with the reason (tool not installed, a kernel the host does
not have), never `pass`, and makes the node `incomplete`; a tool that ran and failed fails its checks.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from aifactory.node.parsers import ParseError
from aifactory.node.parsers.dcgm import parse_dcgm_diag
from aifactory.node.parsers.ibstat import check_fabric_ports, fabric_link_layer, parse_ibstat
from aifactory.node.parsers.neuron_ls import parse_neuron_ls
from aifactory.node.parsers.nvidia_smi import parse_nvidia_smi_xml
from aifactory.node.parsers.nvlink import parse_nvlink_status

# observation -> (command, parser, installed tool it needs)
TOOLS: dict[str, tuple[str, Callable, str]] = {
    "nvidia_smi": ("nvidia-smi -q -x", parse_nvidia_smi_xml, "nvidia_smi"),
    "nvlink": ("nvidia-smi nvlink -s", parse_nvlink_status, "nvidia_smi"),
    "dcgm": ("dcgmi diag -j", parse_dcgm_diag, "dcgmi"),
    "ibstat": ("ibstat", parse_ibstat, "ibstat"),
    "neuron_ls": ("neuron-ls -j", parse_neuron_ls, "neuron_ls"),
}
# Observations that are not tool output: what was read.
STATE = {
    "services": "the fabric services' state",
    "packages": "the installed fabric packages",
    "imex_channel": "the IMEX channel device",
}
# Checks that need a kernel of the host's own (`checks_without_kernel` names those it does not have; `shared`
# stands for every `shared:<name>`): what that kernel provides.
KERNEL_BOUND = {
    "imex_channel": "IMEX channels are device nodes of a loaded NVIDIA driver",
    "shared": "a shared filesystem is mounted by the kernel's client",
}
# The start of the reason of a check skipped for a kernel the host does not have.
WITHOUT_KERNEL = "needs a kernel this host does not have"
# A fabric service's daemon comes with the driver stack, whose nvidia-smi says whether it is a stand-in (the
# daemons themselves are not run to ask).
SERVICE_TOOLS = {"nvidia-imex.service": "nvidia_smi", "nvidia-fabricmanager.service": "nvidia_smi"}
STATUSES = ("pass", "fail", "skipped")
# What every aifactory stand-in tool prints in its --version (aifactory/lab/stand_in_tools): data, read as such.
STAND_IN_TOOL_MARK = "aifactory lab stand-in"
# The reason of a DCGM diagnostic not run on a node Slurm runs jobs on (the role's acceptance_hosts_running_jobs).
RUNNING_JOBS = ("not run while Slurm runs jobs on the node (the diagnostic loads every GPU): drain the node, or "
                "wait until it is idle, and run the acceptance stage on it")
NO_STACK_OUTPUTS = "no AWS stack outputs (the Bedrock endpoint's DNS name is unknown)"
NO_CLUSTER = "00000000-0000-0000-0000-000000000000"
IMEX_SERVICE = "nvidia-imex.service"
FABRIC_MANAGER_SERVICE = "nvidia-fabricmanager.service"
FABRIC_MANAGER_PACKAGE = "nvidia-fabricmanager"
# The systemd unit of each NVLink fabric kind of the catalog (`expected.fabric`), and the check that it runs.
FABRIC_SERVICES = {"imex": (IMEX_SERVICE, "imex_service"), "fabric-manager": (FABRIC_MANAGER_SERVICE, "fabric_manager_service")}
FABRIC_UNITS = tuple(unit for unit, _ in FABRIC_SERVICES.values())
FABRIC_PACKAGES = (FABRIC_MANAGER_PACKAGE, "nvidia-imex")
# Any HTTP answer from the endpoint shows DNS, routing and TLS work; Bedrock answers an unsigned GET
# with 403 (or 400/404 on paths it does not serve).
BEDROCK_HTTP_OK = (200, 400, 403, 404)


class Missing(Exception):
    """An observation a check needs was not collected or is unreadable: the check is skipped."""


class ToolFailed(Exception):
    """The tool ran and failed without output: the checks that need it fail."""


def check(name: str, status: str, reason: str) -> dict:
    return {"name": name, "status": status, "reason": reason}


def evaluate(expected: dict, observations: dict | None) -> dict:
    """`{"result": pass|fail|incomplete, "checks": [{name, status, reason, stand_in}], "counts": {pass, fail, skipped}}`.

    `stand_in` says whether a tool the check read says of itself (in `tool_versions`, its `--version`
    output) that it is an aifactory lab stand-in."""
    obs = Observations(observations or {})
    checks = []
    for name, run in planned_checks(expected, obs):
        obs.read.clear()
        obs.check = name
        try:
            passed, reason = run()
        except Missing as missing:
            result = check(name, "skipped", str(missing))
        except ToolFailed as failed:
            result = check(name, "fail", str(failed))
        else:
            result = check(name, "pass" if passed else "fail", reason)
        checks.append({**result, "stand_in": obs.read_stand_in()})
    counts = {s: sum(c["status"] == s for c in checks) for s in STATUSES}
    result = "fail" if counts["fail"] else "incomplete" if counts["skipped"] or not checks else "pass"
    return {"result": result, "checks": checks, "counts": counts}


def planned_checks(expected: dict, obs: Observations) -> list[tuple[str, Callable[[], tuple[bool, str]]]]:
    """The checks `expected` calls for, in report order."""
    planned: list[tuple[str, Callable[[], tuple[bool, str]]]] = []
    if expected.get("accelerators") and expected.get("fabric") == "efa":
        planned.append(("accelerator_count", lambda: _neuron_count(expected, obs)))
    elif expected.get("accelerators"):
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
        if expected.get("fabric") == "imex":
            planned += [("imex_service", lambda: _service(obs, IMEX_SERVICE)),
                        ("imex_channel", lambda: _imex_channel(obs))]
        if expected.get("fabric_manager"):
            planned += [("fabric_manager_service", lambda: _service(obs, FABRIC_MANAGER_SERVICE)),
                        ("fabric_manager_version", lambda: _fabric_manager_version(obs))]
        if expected.get("dcgm_diag_level", 0) > 0:
            planned.append(("dcgm_diag", lambda: _dcgm(expected, obs)))
    if expected.get("ib_ports", 0) > 0:
        planned.append(("ib_ports", lambda: _ib_ports(expected, obs)))
    if expected.get("scratch_mount"):
        planned.append(("scratch", lambda: _scratch(expected["scratch_mount"], obs)))
    for share in expected.get("shared_mounts") or []:
        planned.append((f"shared:{share['name']}", lambda share=share: _shared(share, obs)))
    if "bedrock_endpoint" in expected:
        planned += [("bedrock_dns", lambda: _bedrock_dns(expected["bedrock_endpoint"], obs)),
                    ("bedrock_https", lambda: _bedrock_https(expected["bedrock_endpoint"], obs))]
    return planned


def observations(collected: dict) -> dict:
    """The observations document from what the role collected, with Ansible's registered results cut down
    to what the checks read: a command to `{rc, stdout, stderr}`, service facts and the package state
    (aifactory_packages) to the fabric units and the installed fabric packages' versions, a stat to whether
    the path exists, the probes to their outcome. A registered result of a skipped task becomes None (not
    collected); anything else is kept as it is."""
    doc = dict(collected)
    for key in (*TOOLS, "bedrock_dns"):
        doc[key] = _registered(doc.get(key), lambda r: {"rc": r.get("rc"), "stdout": r.get("stdout") or "",
                                                        "stderr": r.get("stderr") or ""})
    doc["services"] = _registered(doc.get("services"), lambda r: {
        unit: {"state": facts.get("state")}
        for unit, facts in ((r.get("ansible_facts") or {}).get("services") or {}).items() if unit in FABRIC_UNITS})
    doc["packages"] = _registered(doc.get("packages"), lambda r: {
        name: str(entry.get("version")) for name, entry in (r.get("packages") or {}).items()
        if name.startswith(FABRIC_PACKAGES) and entry.get("installed")})
    doc["tool_versions"] = {tool: str(text or "").strip()[:300] for tool, text in (doc.get("tool_versions") or {}).items()}
    doc["imex_channel"] = _registered(doc.get("imex_channel"), lambda r: bool((r.get("stat") or {}).get("exists")))
    doc["scratch_probe"] = _registered(doc.get("scratch_probe"), lambda r: str(r.get("msg") or "failed")
                                       if r.get("failed") else "ok")
    doc["bedrock_https"] = _registered(doc.get("bedrock_https"), lambda r: {"status": r.get("status"),
                                                                            "msg": str(r.get("msg") or "")[:300]})
    return doc


def _registered(value, cut: Callable[[dict], object]):
    """A registered task result cut down by `cut`; None for a skipped task; anything else unchanged."""
    if not isinstance(value, dict) or not ({"changed", "skipped", "failed", "rc"} & value.keys()):
        return value
    return None if value.get("skipped") else cut(value)


def summarize(results: dict[str, dict | None], racks: dict[str, str]) -> dict[str, dict]:
    """The summary of each rack (`summary-<rack>.json`) from each host's verdict (None: the host wrote
    none) and rack: per host its result, the hosts per result, the checks per status, and per
    incomplete host the checks that could not run. A rack passes only when every host passed."""
    out = {}
    for rack in sorted(set(racks.values())):
        mine = {host: results.get(host) for host in sorted(racks) if racks[host] == rack}
        hosts = {host: (r["result"] if r else "no result") for host, r in mine.items()}
        per_result = {k: sum(v == k for v in hosts.values()) for k in ("pass", "fail", "incomplete", "no result")}
        verdict = ("fail" if per_result["fail"] or per_result["no result"]
                   else "incomplete" if per_result["incomplete"] else "pass")
        out[rack] = {
            "rack": rack, "result": verdict, "hosts": hosts, "counts": per_result,
            "checks": {s: sum(r["counts"][s] for r in mine.values() if r) for s in STATUSES},
            "could_not_run": {host: sorted(c["name"] for c in r["checks"] if c["status"] == "skipped")
                              for host, r in mine.items() if r and r["result"] == "incomplete"},
        }
    return out


class Observations:
    """Parses raw tool output on first use; says why an observation is unusable."""

    def __init__(self, raw: dict):
        self._raw = raw
        self._parsed: dict = {}
        self.without_kernel = set(raw.get("checks_without_kernel") or [])
        self.runs_jobs = raw.get("running_jobs") is True
        self.check = ""  # the check being judged
        self.read: set[str] = set()  # the tools whose output the current check read

    def lacks_kernel(self) -> bool:
        """Whether the current check needs a kernel the host does not have (`shared` for every shared mount)."""
        return bool({self.check, self.check.split(":")[0]} & self.without_kernel & KERNEL_BOUND.keys())

    def no_kernel(self, what: str) -> Missing:
        """The current check skipped for a kernel the host does not have."""
        return Missing(f"{WITHOUT_KERNEL}: {KERNEL_BOUND[self.check.split(':')[0]]}, {what}")

    def read_stand_in(self) -> bool:
        """Whether a tool the current check read is an aifactory lab stand-in, by its --version output."""
        versions = self._raw.get("tool_versions") or {}
        return any(STAND_IN_TOOL_MARK in str(versions.get(tool) or "") for tool in self.read)

    def __getitem__(self, key: str):
        self.read.add(TOOLS[key][2])
        if key not in self._parsed:
            self._parsed[key] = self._read(key)
        value = self._parsed[key]
        if isinstance(value, (Missing, ToolFailed)):
            raise value
        return value

    def installed(self, tool: str) -> bool:
        """Whether `tool` is installed, or was not looked for."""
        return (self._raw.get("tools") or {}).get(tool) is not False

    def collected(self, key: str) -> bool:
        """Whether there is an observation under `key` (a tool's output, or a state read)."""
        return self._raw.get(key) is not None

    def state(self, key: str):
        """A non-tool observation (services, packages, ...), or Missing with the reason."""
        value = self._raw.get(key)
        if value is None:
            what = STATE.get(key, key)
            raise self.no_kernel(f"{what} not looked for") if self.lacks_kernel() else Missing(f"{what} not collected")
        return value

    def _read(self, key: str):
        command, parse, tool = TOOLS[key]
        value = self._raw.get(key)
        if isinstance(value, dict) and "stdout" in value and "rc" in value:
            if not value["stdout"].strip() and value["rc"]:
                why = (value.get("stderr") or "").strip().splitlines()
                return ToolFailed(f"`{command}` failed (exit {value['rc']}){': ' + why[-1] if why else ''}")
            value = value["stdout"]
        if value is None or (isinstance(value, str) and not value.strip()):
            if not self.installed(tool):
                return Missing(f"`{command.split()[0]}` is not installed")
            return Missing(f"no `{command}` output collected")
        if isinstance(value, str):
            try:
                return parse(value)
            except ParseError as err:
                return Missing(f"`{command}` output unreadable: {err}")
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
    """Retired pages (pre-Blackwell) and row remapping (Ampere and later) waiting for a reset, or failed."""
    def bad(gpu: dict) -> str | None:
        found = [label for key, label in (("retired_pages_pending", "page retirement pending"),
                                          ("remapped_rows_pending", "row remapping pending (reset the GPU)"),
                                          ("remapped_rows_failure", "row remapping failed")) if gpu.get(key)]
        return ", ".join(found) or None
    return _failing(_gpus(obs), bad)


def loaded_driver(observations: dict) -> str | None:
    """The NVIDIA driver version `nvidia-smi -q -x` reports in raw observations, None when it reports none."""
    try:
        return _driver_version(Observations(observations))
    except (Missing, ToolFailed):
        return None


def _driver_version(obs: Observations) -> str:
    found = obs["nvidia_smi"].get("driver_version")
    if not found:
        raise Missing("`nvidia-smi -q -x` reports no driver version")
    return found


def _driver(expected: dict, obs: Observations) -> tuple[bool, str]:
    found = _driver_version(obs)
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


def _service(obs: Observations, unit: str) -> tuple[bool, str]:
    obs.read.add(SERVICE_TOOLS[unit])
    state = (obs.state("services").get(unit) or {}).get("state")
    if state is None:
        return False, f"{unit} is not installed"
    return state == "running", f"{unit} is {state}"


def _imex_channel(obs: Observations) -> tuple[bool, str]:
    present = obs.state("imex_channel")
    return bool(present), ("IMEX channel 0 present" if present else "/dev/nvidia-caps-imex-channels/channel0 is missing")


def _fabric_manager_version(obs: Observations) -> tuple[bool, str]:
    """Fabric Manager must be the driver's exact version (NVIDIA Fabric Manager user guide)."""
    packages = {name: version for name, version in obs.state("packages").items()
                if name.startswith(FABRIC_MANAGER_PACKAGE)}
    driver = _driver_version(obs)
    if not packages:
        return False, f"no {FABRIC_MANAGER_PACKAGE} package installed (driver {driver})"
    versions = {name: str(version).split("-")[0] for name, version in packages.items()}
    wrong = {name: v for name, v in versions.items() if v != driver}
    return not wrong, ", ".join(f"{name} {v}" for name, v in sorted(versions.items())) + f", driver {driver}"


def _dcgm(expected: dict, obs: Observations) -> tuple[bool, str]:
    if obs.runs_jobs and obs.installed("dcgmi") and not obs.collected("dcgm"):
        raise Missing(RUNNING_JOBS)
    diag = obs["dcgm"]
    if diag["passed"]:
        return True, f"{len(diag['tests'])} tests passed (level {expected['dcgm_diag_level']} requested)"
    if not diag["failures"]:
        return False, "no test ran"
    return False, "; ".join(diag["failures"])


def _ib_ports(expected: dict, obs: Observations) -> tuple[bool, str]:
    return check_fabric_ports(obs["ibstat"], fabric_link_layer(expected.get("network_fabric")),
                              expected["ib_rate_gbps"], expected["ib_ports"])


def _neuron_count(expected: dict, obs: Observations) -> tuple[bool, str]:
    found = obs["neuron_ls"]
    return found["devices"] == expected["accelerators"], (
        f"{found['devices']} Neuron devices ({found['cores']} cores), expected {expected['accelerators']}")


def _mounted(obs: Observations, mount: str) -> bool:
    return mount in (obs.state("mounts") or [])


def _scratch(mount: str, obs: Observations) -> tuple[bool, str]:
    if not _mounted(obs, mount):
        return False, f"{mount} is not mounted"
    probe = obs.state("scratch_probe")
    if probe != "ok":
        return False, f"{mount} mounted, but a file could not be written and deleted: {probe}"
    return True, f"{mount} mounted, a file was written and deleted"


def _shared(share: dict, obs: Observations) -> tuple[bool, str]:
    what = f"{share.get('type')} {share.get('source')} at {share['mount']}"
    if _mounted(obs, share["mount"]):
        return True, f"{what} mounted"
    if obs.lacks_kernel():  # the shared_storage role skips what a kernel without the client cannot mount
        raise obs.no_kernel(f"{what} not mounted")
    return False, f"{what} is not mounted"


def _bedrock_dns(name: str, obs: Observations) -> tuple[bool, str]:
    if not name:
        raise Missing(NO_STACK_OUTPUTS)
    answer = obs.state("bedrock_dns")
    text = answer.get("stdout", "") if isinstance(answer, dict) else str(answer)
    addresses = sorted({line.split()[0] for line in text.splitlines() if line.split()})
    if not addresses:
        return False, f"{name} does not resolve"
    public = [a for a in addresses if not _private(a)]
    if public:
        return False, f"{name} resolves to public addresses {', '.join(public)}: not through the private endpoint"
    return True, f"{name} resolves to {', '.join(addresses)}"


def _bedrock_https(name: str, obs: Observations) -> tuple[bool, str]:
    if not name:
        raise Missing(NO_STACK_OUTPUTS)
    answer = obs.state("bedrock_https")
    status = int(answer.get("status") or -1)
    if status in BEDROCK_HTTP_OK:
        return True, f"https://{name}/ answered HTTP {status}"
    return False, f"https://{name}/ did not answer: {str(answer.get('msg') or 'HTTP ' + str(status))[:160]}"


def _private(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_private
    except ValueError:
        return False
