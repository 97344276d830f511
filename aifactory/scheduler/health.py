#!/usr/bin/python3
"""aifactory-health: the node health check of the Slurm cluster, the light subset of acceptance.

Installed by the slurm role as `/usr/lib/aifactory/aifactory-health`, one zipapp holding this program (its
`__main__.py`) and the `aifactory.node.parsers` modules it imports (standard library only besides them;
`aifactory.scheduler.health_program` builds it), and run by slurmd as HealthCheckProgram, Prolog and Epilog.
It collects the node's observations as the acceptance role does (no DCGM diagnostic, no Bedrock probe)
and judges them with `aifactory.node.parsers.acceptance.evaluate`, the one verdict. A failed check drains the node with `aifactory health: <checks>` as the reason; a node this
program drained is resumed once every check passes again; a node drained for any other reason (a
rollout, a replace, an operator) is left alone, its reason kept. As Prolog
(SLURM_SCRIPT_CONTEXT=prolog_slurmd) it also exits 1, so Slurm refuses the job on the node and
requeues it. A check that could not run (a tool not installed, a kernel the node does not have) drains
nothing. Its configuration (`/etc/aifactory/health.json`): `node` (the Slurm node name), `expected` (the
profile, `aifactory.scheduler.health_expected`), `checks_without_kernel` (as the acceptance role's), and optionally
`job_mapping_dir`: as Prolog it then writes the job's ID into the file of each of the job's GPUs there
(SLURM_JOB_GPUS), and as Epilog takes it out: DCGM's exporter reads that directory (--hpc-job-mapping-dir) and labels
each GPU's series with its jobs. A job the prolog refuses is not written. With `textfile_dir` (node exporter's
textfile directory) it writes `aifactory_node.prom` there at every run: the loaded NVIDIA driver's version
(aifactory_driver_info, which DriverOffPin reads) and, for each private endpoint name in `link_endpoints`
({service: DNS name}), whether a TCP connection to its port 443 opened through the hybrid link
(aifactory_link_check_success, which HybridLinkCheckFailing reads).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from aifactory.core.atomic import write_atomically
from aifactory.monitoring import metrics as m
from aifactory.monitoring import textfile
from aifactory.node.parsers.acceptance import FABRIC_PACKAGES, FABRIC_UNITS, evaluate, loaded_driver

CONFIG = "/etc/aifactory/health.json"
REASON_PREFIX = "aifactory health: "
REASON_LENGTH = 120  # Slurm keeps the reason short; the failing checks' names come first
TOOL_TIMEOUT = 120  # seconds: nvidia-smi on a hung GPU must not hang slurmd's health check
TEXTFILE = "aifactory_node.prom"  # matches metrics.TEXTFILE_NAME: TextfileMetricsStale watches it
LINK_PORT = 443  # the private endpoints' HTTPS port
LINK_TIMEOUT = 5  # seconds a connection through the hybrid link may take before the check counts as failed
IMEX_CHANNEL = "/dev/nvidia-caps-imex-channels/channel0"
# Where the Debian and Ubuntu packages install the tools (as the acceptance role's vars/main.yml).
TOOL_PATHS = {"nvidia_smi": "/usr/bin/nvidia-smi", "ibstat": "/usr/sbin/ibstat",
              "neuron_ls": "/opt/aws/neuron/bin/neuron-ls"}
# The light subset's observations: observation -> (the tool, its arguments).
TOOLS = {
    "nvidia_smi": ("nvidia_smi", ["-q", "-x"]),
    "nvlink": ("nvidia_smi", ["nvlink", "-s"]),
    "ibstat": ("ibstat", []),
    "neuron_ls": ("neuron_ls", ["-j"]),
}


def run(argv: list[str]) -> dict:
    """A command's {rc, stdout, stderr}; a command that hangs or cannot start is a failed one."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False)
        return {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
    except subprocess.TimeoutExpired:
        return {"rc": 124, "stdout": "", "stderr": f"{argv[0]} did not answer within {TOOL_TIMEOUT} s"}
    except OSError as err:
        return {"rc": 127, "stdout": "", "stderr": f"{argv[0]}: {err.strerror}"}


def wanted_tools(expected: dict) -> list[str]:
    """The observations the expected profile's checks read."""
    if not expected.get("accelerators"):
        wanted = []
    elif expected.get("fabric") == "efa":
        wanted = ["neuron_ls"]
    else:
        wanted = ["nvidia_smi"] + (["nvlink"] if expected.get("nvlink_domain_gpus", 0) > 1 else [])
    return wanted + (["ibstat"] if expected.get("ib_ports", 0) > 0 else [])


def services() -> dict:
    """The fabric units' state as the acceptance role's service facts give it (absent: not installed)."""
    states = {}
    for unit in FABRIC_UNITS:
        shown = run(["systemctl", "show", "--property=LoadState,ActiveState", unit])
        props = dict(line.split("=", 1) for line in shown["stdout"].splitlines() if "=" in line)
        if props.get("LoadState") == "loaded":
            states[unit] = {"state": "running" if props.get("ActiveState") == "active" else "stopped"}
    return states


def packages() -> dict:
    listed = run(["dpkg-query", "--show", "--showformat", "${Package} ${Version}\n",
                  *(f"{name}*" for name in FABRIC_PACKAGES)])
    return dict(line.split(" ", 1) for line in listed["stdout"].splitlines() if " " in line and line.split(" ", 1)[1])


def mounts(points: list[str]) -> list[str]:
    with open("/proc/self/mounts", encoding="utf-8") as table:
        mounted = {line.split()[1].replace("\\040", " ") for line in table if len(line.split()) > 1}
    return sorted(p for p in points if p in mounted)


def scratch_probe(mount: str) -> str:
    """Write and delete a file in scratch: `ok`, or why it could not."""
    try:
        with tempfile.NamedTemporaryFile(dir=mount, prefix=".aifactory-health-") as probe:
            probe.write(b"aifactory health probe\n")
            probe.flush()
            os.fsync(probe.fileno())
        return "ok"
    except OSError as err:
        return f"{type(err).__name__}: {err.strerror or err}"


def observe(expected: dict, checks_without_kernel: list[str]) -> dict:
    """The node's observations document, in the shape `aifactory.node.parsers.acceptance.evaluate` reads, collected
    as the acceptance role collects it: the installed tools run (a stand-in tool says so in its --version); the
    IMEX channel, a device node of a loaded driver, is not looked for where `checks_without_kernel` names it."""
    obs: dict = {"checks_without_kernel": list(checks_without_kernel), "tools": {}, "tool_versions": {}}
    for key in wanted_tools(expected):
        tool, args = TOOLS[key]
        installed = Path(TOOL_PATHS[tool]).is_file()
        obs["tools"][tool] = installed
        if installed:
            obs[key] = run([TOOL_PATHS[tool], *args])
            if tool not in obs["tool_versions"]:
                obs["tool_versions"][tool] = run([TOOL_PATHS[tool], "--version"])["stdout"].strip()[:300]
    if expected.get("fabric") in ("imex", "fabric-manager"):
        obs["services"] = services()
        obs["packages"] = packages()
        if "imex_channel" not in checks_without_kernel:
            obs["imex_channel"] = Path(IMEX_CHANNEL).exists()
    points = [expected.get("scratch_mount") or ""] + [m["mount"] for m in expected.get("shared_mounts") or []]
    obs["mounts"] = mounts([p for p in points if p])
    scratch = expected.get("scratch_mount")
    if scratch and scratch in obs["mounts"]:
        obs["scratch_probe"] = scratch_probe(scratch)
    return obs


def drain_reason(verdict: dict) -> str | None:
    """`aifactory health: <failed checks>` when a check failed, else None."""
    failed = [c["name"] for c in verdict["checks"] if c["status"] == "fail"]
    if not failed:
        return None
    return (REASON_PREFIX + ", ".join(failed))[:REASON_LENGTH]


def node_state(node: str) -> tuple[str, str]:
    """(State, Reason) of the node as slurmctld has it; ("", "") when it cannot be asked."""
    shown = run(["scontrol", "--oneliner", "show", "node", node])
    state = reason = ""
    for field in shown["stdout"].split(" "):
        if field.startswith("State="):
            state = field.removeprefix("State=")
    if " Reason=" in shown["stdout"]:
        reason = shown["stdout"].split(" Reason=", 1)[1].split(" [", 1)[0].strip()
    return state, reason


def act(node: str, reason: str | None) -> str:
    """Drain the node with the reason, or resume it if this program drained it; say what was done.
    A node drained for another reason (a rollout, replace, an operator) keeps that reason: it is theirs to
    resume, after their own gate, and overwriting it would let this program resume the node before then."""
    state, current = node_state(node)
    if "DRAIN" in state and current and not current.startswith(REASON_PREFIX):
        return f"{node} stays drained: {current}"
    if reason is not None:
        if "DRAIN" in state and current == reason:
            return f"{node} stays drained: {reason}"
        done = run(["scontrol", "update", f"NodeName={node}", "State=DRAIN", f"Reason={reason}"])
        return f"{node} drained: {reason}" if done["rc"] == 0 else f"{node}: scontrol failed: {done['stderr'].strip()}"
    if "DRAIN" in state and current.startswith(REASON_PREFIX):
        done = run(["scontrol", "update", f"NodeName={node}", "State=RESUME"])
        return f"{node} resumed" if done["rc"] == 0 else f"{node}: scontrol failed: {done['stderr'].strip()}"
    return f"{node} healthy"


def link_check(name: str) -> bool:
    """Whether a TCP connection to `name`'s HTTPS port opens within LINK_TIMEOUT (the name resolved by the node's
    resolver, as the SDKs resolve it; that it resolves to private addresses only is the awslink stage's check)."""
    try:
        with socket.create_connection((name, LINK_PORT), timeout=LINK_TIMEOUT):
            return True
    except (OSError, UnicodeError):
        return False


def node_textfile(observations: dict, endpoints: dict[str, str], connects=link_check) -> str:
    """The node's textfile metrics: the loaded NVIDIA driver (none on a node whose nvidia-smi reports none) and one
    link check per endpoint."""
    driver = loaded_driver(observations)
    lines = [*textfile.family(m.DRIVER_INFO, [({"stack": "nvidia", "version": driver}, 1)] if driver else []),
             *textfile.family(m.LINK_CHECK_SUCCESS, [({"check": f"{service} connect", "endpoint": name},
                                                      int(connects(name))) for service, name in sorted(endpoints.items())])]
    return "\n".join(lines) + "\n"


def map_job(directory: str, context: str, job: str, gpus: str) -> str:
    """dcgm-exporter's HPC job mapping: a file per GPU index in `directory`, the IDs of the jobs using that GPU, one per
    line. The prolog adds `job` to the files of its `gpus` (SLURM_JOB_GPUS: "0,1,..."), the epilog takes it out (an
    emptied file is removed); each file is replaced whole, under a lock, so the exporter never reads half of one.
    Says what was done; a job without GPUs, or IDs that are not numbers, changes nothing."""
    indexes = [g for g in gpus.split(",") if g]
    if not indexes or not job.isdigit() or not all(re.fullmatch(r"[0-9]+", g) for g in indexes):
        return f"job mapping: nothing to map (job {job[:20]!r}, GPUs {gpus[:40]!r})"
    adding = context.startswith("prolog")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True, mode=0o755)  # under /run, gone after a reboot with the jobs it named
    with open(folder / ".lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for gpu in indexes:
            path = folder / gpu
            jobs = [line for line in (path.read_text(encoding="utf-8").split() if path.exists() else []) if line != job]
            jobs += [job] if adding else []
            if not jobs:
                path.unlink(missing_ok=True)
                continue
            write_atomically(path, "".join(f"{j}\n" for j in jobs))
    return f"job mapping: job {job} {'on' if adding else 'off'} GPU {','.join(indexes)}"


def main(argv: list[str]) -> int:
    config_path = argv[1] if len(argv) > 1 else CONFIG
    try:
        config = json.loads(Path(config_path).read_text(encoding="utf-8"))
        node, expected = str(config["node"]), dict(config["expected"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        print(f"aifactory-health: cannot read {config_path}: {err}", file=sys.stderr)
        return 2
    observations = observe(expected, list(config.get("checks_without_kernel") or []))
    verdict = evaluate(expected, observations)
    reason = drain_reason(verdict)
    if config.get("textfile_dir"):
        try:
            text = node_textfile(observations, dict(config.get("link_endpoints") or {}))
            write_atomically(Path(str(config["textfile_dir"])) / TEXTFILE, text)
        except (OSError, ValueError) as err:  # left stale: TextfileMetricsStale fires
            print(f"aifactory-health: {TEXTFILE} not written: {err}", file=sys.stderr)
    print(f"aifactory-health: {act(node, reason)}")
    context = os.environ.get("SLURM_SCRIPT_CONTEXT", "")
    prolog = context.startswith("prolog")
    if config.get("job_mapping_dir") and context in ("prolog_slurmd", "epilog_slurmd") and not (prolog and reason):
        try:
            print("aifactory-health: " + map_job(str(config["job_mapping_dir"]), context,
                                                 os.environ.get("SLURM_JOB_ID", ""), os.environ.get("SLURM_JOB_GPUS", "")))
        except OSError as err:  # a label of the metrics is not worth a job: said, and the job goes on
            print(f"aifactory-health: job mapping not written: {err}", file=sys.stderr)
    return 1 if prolog and reason else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
