"""The performance stage of a lab rehearsal (issue 33): the acceptance tiers run as Slurm job steps on the
lab's stand-ins, judged, isolated where they fail, and signed into a certificate.

On the nodes whose hardware acceptance passed the gate (a stand-in's `incomplete` counts as passed, as the
rollout gate has it), through srun on the head node, one task per node: the tray tier on each node alone,
the rack tier over each rack's trays that passed theirs (where the catalog has rack checks: NVL72), the
cross-rack tier over every node that passed the tiers below. A tier runs each of its catalog checks
(aifactory/catalog/performance.yaml) that a tool measures: nccl-tests or nccom-test once over the tier's
nodes, ib_write_bw on each compute port of each node against a peer in another rack. Each tier's result is
judged by aifactory.node.performance.judge and written where the certificate reads tier verdicts
(<acceptance dir>/performance/); a failing multi-node tier is bisected to its faulty trays or links by
aifactory.node.isolation.isolate, which re-runs the tier on subsets. The tray tier runs DCGM's diagnostic at
the level the catalog asks (`dcgmi diag -r N -j`; the hardware acceptance runs it at the spec's level). Then the
certificate is written and verified with the lab's key (`lab_signing`).
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from aifactory import scheduler
from aifactory.catalog.performance import Threshold, performance_thresholds
from aifactory.core.inputs import BadInput
from aifactory.lab import nodes
from aifactory.lab import scheduler as scheduler_lab
from aifactory.lab.state import LabState
from aifactory.node.acceptance_gate import GATE_PASSES, host_outcome
from aifactory.node.isolation import isolate
from aifactory.node.parsers import ParseError
from aifactory.node.parsers.dcgm import parse_dcgm_diag
from aifactory.node.parsers.ib_write_bw import parse_ib_write_bw
from aifactory.node.parsers.nccl_tests import parse_nccl_tests
from aifactory.node.parsers.nccom_test import parse_nccom_test
from aifactory.node.performance import STATUSES, judge
from aifactory.reports import certificate, signing
from aifactory.spec import Factory
from aifactory.spec.model import AcceptanceCertificate

# srun over `hosts` (one task each) running `command` in bash on each; stdout is rank 0's (and each
# ib_write_bw client's) report.
Srun = Callable[[list[str], str], subprocess.CompletedProcess]
NCCL_TESTS = "nccl-tests"  # the package of the stand-in tools all_reduce_perf and all_gather_perf
PARSERS = {NCCL_TESTS: parse_nccl_tests, "nccom-test": parse_nccom_test, "dcgmi": parse_dcgm_diag}
NCCOM_COLLECTIVES = {"all_reduce": "allr", "all_gather": "allg"}
PERFTEST_PORT = 18515
PORT_MARK = "== port "
COMMAND_TIMEOUT_S = 120
CERTIFICATE_FILE = "acceptance-certificate.json"
KEY_DIR = "acceptance-signing"  # in the lab's directory; lab down removes the private key (*.key)
TIERS = ("tray", "rack", "cross-rack")


def tier_checks(platform: str, tier: str) -> dict[str, Threshold]:
    """The checks of `tier` a run measures."""
    return {c: t for c, t in performance_thresholds().get(platform, {}).items()
            if t.tier == tier and t.tool in (*PARSERS, "ib_write_bw")}


def collective_command(t: Threshold, devices: int) -> str:
    """One run of a collective benchmark over the threshold's message sizes, its transport lines shown; for
    DCGM's diagnostic, one run at the level the threshold asks."""
    if t.tool == "dcgmi":
        return f"dcgmi diag -r {int(t.min)} -j"
    sizes = f"-b {t.message_bytes.min} -e {t.message_bytes.max} -f 2"
    if t.tool == "nccom-test":
        return f"nccom-test -r {devices} {sizes} {NCCOM_COLLECTIVES[t.test]}"
    # Across racks the fabric is measured, not the rack's NVLink: NCCL is told not to use multi-node NVLink.
    fabric_only = "NCCL_MNNVL_ENABLE=0 " if t.transport not in (None, "p2p", "mnnvl") else ""
    return f"{fabric_only}NCCL_DEBUG=INFO {t.test} {sizes} -g {devices}"


def ports(f: Factory) -> list[str]:
    """The compute-fabric ports of a node (the hardware profile names them first: mlx5_0...)."""
    return [f"mlx5_{n}" for n in range(f.platform.expected.ib_ports)]


def ib_command(f: Factory, t: Threshold, server: str) -> str:
    """ib_write_bw with GPUDirect on each compute port: rank 0 serves, rank 1 (the client) reports."""
    size = t.message_bytes.max
    run = f"ib_write_bw -d $d --use_cuda=0 --report_gbits -s {size} -n 5000 -p {PERFTEST_PORT}"
    return (f'for d in {" ".join(ports(f))}; do if [ "$SLURM_PROCID" = 0 ]; then {run} >/dev/null || exit 1; '
            f'else echo "{PORT_MARK}$d"; {run} {server} || exit 1; fi; done')


def peer_pairs(f: Factory, hosts: list[str]) -> list[tuple[str, str]]:
    """Each host with a peer, in another rack where the hosts have one; each pair in Slurm's rank order."""
    index = {n.name: i for i, n in enumerate(f.nodes)}
    rack = {n.name: n.rack for n in f.nodes}
    racks: dict[int, list[str]] = {}
    for h in hosts:
        racks.setdefault(rack[h], []).append(h)
    turns = [h for i in range(max(map(len, racks.values()), default=0)) for r in racks.values() if i < len(r)
             for h in [r[i]]]
    pairs = [(turns[i], turns[i + 1]) for i in range(0, len(turns) - 1, 2)]
    if len(turns) % 2 and len(turns) > 1:
        last = turns[-1]
        pairs.append((last, next((h for h in turns if rack[h] != rack[last]), turns[0])))
    return [tuple(sorted(p, key=index.__getitem__)) for p in pairs]


def _failed(check: str, t: Threshold, reason: str) -> dict:
    """A check whose tool did not give a result to judge (it exited, or printed no report)."""
    return {"name": check, "tier": t.tier, "status": "fail", "figure": None, "threshold": t.min,
            "floor": t.floor.min if t.floor else None, "unit": t.unit, "kind": t.kind, "source": t.source,
            "url": t.url, "reason": reason}


def _ran(result: subprocess.CompletedProcess) -> str | None:
    """Why a run gave no report (None: it did)."""
    if result.returncode == 0:
        return None
    return f"srun exited {result.returncode}: {(result.stderr or result.stdout).strip()[-300:]}"


def run_tier(f: Factory, tier: str, hosts: list[str], srun: Srun) -> dict:
    """The tier over `hosts`: `judge`'s verdict with the tier and hosts, a run without a report failed."""
    results: dict[str, dict] = {}
    failed: list[dict] = []
    for check, t in tier_checks(f.platform.name, tier).items():
        if t.tool == "ib_write_bw":
            for server, client in peer_pairs(f, hosts):
                out = srun([server, client], ib_command(f, t, server))
                reports = dict(part.split("\n", 1) for part in out.stdout.split(PORT_MARK)[1:] if "\n" in part)
                for port in ports(f):
                    name = f"{check}:{client}/{port}-{server}/{port}"
                    try:
                        results[name] = parse_ib_write_bw(reports.get(port, ""))
                    except ParseError as err:
                        failed.append(_failed(name, t, _ran(out) or str(err)))
            continue
        out = srun(hosts, collective_command(t, f.platform.expected.accelerators))
        try:
            if why := _ran(out):
                raise ParseError(t.tool, why)
            results[check] = PARSERS[t.tool](out.stdout)
            if t.tool == "dcgmi":
                results[check]["level"] = int(t.min)  # the level the command asked for
        except ParseError as err:
            failed.append(_failed(check, t, str(err)))
    verdict = judge(f.platform.name, results, tier=tier, baselines=f.acceptance.performance_baselines)
    ran = {c["name"].split(":")[0] for c in failed}  # judge lists a check without a result as not run
    checks = [c for c in verdict["checks"] if c["name"] not in ran or c["status"] != "skipped"] + failed
    counts = {s: sum(c["status"] == s for c in checks) for s in STATUSES}
    result = "fail" if counts["fail"] else verdict["result"]
    return {"tier": tier, "hosts": hosts, "result": result, "checks": checks, "counts": counts}


def _reasons(verdict: dict, shown: int = 2) -> str:
    failed = [f"{c['name']}: {c['reason']}" for c in verdict["checks"] if c["status"] == "fail"]
    return "; ".join(failed[:shown]) + (f"; {len(failed) - shown} more" if len(failed) > shown else "")


class _Tiers:
    """The tiers' runs in order, each written as the certificate reads it."""

    def __init__(self, f: Factory, srun: Srun, out: Path):
        self.f, self.srun, self.out = f, srun, out
        self.order = {n.name: i for i, n in enumerate(f.nodes)}
        self.outcomes: dict[str, dict[str, list[str]]] = {}  # tier -> outcome -> labels
        self.named: list[str] = []  # "node (tier: how)"
        self.incomplete: set[str] = set()
        self.failed = False

    def run(self, tier: str, hosts: list[str], label: str) -> list[str]:
        """Run `tier` over `hosts`; the hosts that passed it (all but those named when it failed). A rack of
        one tray has no rack tier to run: it goes on as passed."""
        if tier == "rack" and len(hosts) == 1:
            self._record(tier, "not run (one tray)", label)
            return hosts
        verdict = run_tier(self.f, tier, hosts, self.srun)
        number = TIERS.index(tier) + 1
        (self.out / f"{number}-{tier}-{label}.json").write_text(json.dumps(verdict, indent=2) + "\n")
        if verdict["result"] == "incomplete":
            self.incomplete |= {c["name"].split(":")[0] for c in verdict["checks"] if c["status"] == "skipped"}
        if verdict["result"] != "fail":
            self._record(tier, verdict["result"], label)
            return hosts
        self.failed = True
        if len(hosts) == 1:
            self.named.append(f"{hosts[0]} ({tier} tier, its own run: {_reasons(verdict)})")
            self._record(tier, "fail", label)
            return []
        found = isolate(hosts, lambda subset: self._passes(tier, subset), tier=tier, min_size=2)
        culprits = {m for fault in found.faults for m in fault.members}
        self.named += [f"{' and '.join(fault.members)} ({tier} tier, isolated by {fault.method} in {found.runs} "
                       f"runs: {fault.kind})" for fault in found.faults]
        unresolved = f", no run narrowed it down to fewer than {', '.join(found.unresolved)}" if found.unresolved else ""
        self._record(tier, f"fail ({_reasons(verdict)}{unresolved})", label)
        return [h for h in hosts if h not in culprits and h not in found.unresolved]

    def _record(self, tier: str, outcome: str, label: str) -> None:
        self.outcomes.setdefault(tier, {}).setdefault(outcome, []).append(label)

    def summary(self) -> str:
        """Each tier's outcome per run: `tray tier: incomplete on a, b; fail on c`."""
        return "; ".join(f"{tier} tier: " + ", ".join(f"{outcome} on {' '.join(labels)}" for outcome, labels in runs.items())
                         for tier, runs in self.outcomes.items())

    def _passes(self, tier: str, subset: tuple[str, ...]) -> bool:
        return run_tier(self.f, tier, sorted(subset, key=self.order.__getitem__), self.srun)["result"] != "fail"


def run_tiers(f: Factory, results_dir: Path, acceptance: dict[str, dict | None], srun: Srun) -> tuple[str, str]:
    """(passed|incomplete|failed, detail) of the tiers over the nodes that passed hardware acceptance."""
    eligible = [n.name for n in f.nodes if n.name in acceptance and host_outcome(acceptance[n.name]) in GATE_PASSES]
    if not eligible:
        return "failed", "no node passed hardware acceptance: no tier ran"
    out = results_dir / certificate.PERFORMANCE_DIR
    shutil.rmtree(out, ignore_errors=True)  # a previous run's tiers are not this one's
    out.mkdir(parents=True)
    tiers = _Tiers(f, srun, out)
    passed = [h for h in eligible if tiers.run("tray", [h], h)]
    if tier_checks(f.platform.name, "rack"):
        by_rack: dict[str, list[str]] = {}
        for n in f.nodes:
            if n.name in passed:
                by_rack.setdefault(n.rack_group, []).append(n.name)
        passed = [h for group, members in by_rack.items() for h in tiers.run("rack", members, group)]
    if len(passed) > 1 and tier_checks(f.platform.name, "cross-rack"):
        tiers.run("cross-rack", passed, "all")
    left = [n for n in acceptance if n not in eligible]
    detail = tiers.summary() + (f"; not run on {', '.join(left)} (hardware acceptance failed)" if left else "")
    if tiers.named:
        return "failed", f"{detail}; named: {'; '.join(tiers.named)}"
    if tiers.failed:
        return "failed", detail
    if tiers.incomplete:
        return "incomplete", (f"{detail}; incomplete, not failed: {', '.join(sorted(tiers.incomplete))} not judged "
                              "(site baselines not recorded)")
    if left:
        return "incomplete", detail  # a node its hardware acceptance kept out was not judged
    return "passed", detail


# --- the certificate ------------------------------------------------------------------------------------
def lab_signing(f: Factory, key_dir: Path) -> Factory:
    """`f` as the lab signs for it: unchanged where its spec names a local key; else naming a throwaway
    Ed25519 key made in `key_dir` (lab down removes its private half, the public one stays to verify)."""
    config = f.acceptance.certificate
    if config is not None and config.signing == "local-key":
        return f
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    private, public = key_dir / "lab-acceptance.key", key_dir / "lab-acceptance.pub.pem"
    key = ed25519.Ed25519PrivateKey.generate()
    private.touch(mode=0o600)
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    lab = AcceptanceCertificate(signing="local-key", public_key_file=str(public), private_key_file=str(private))
    return f.model_copy(update={"acceptance": f.acceptance.model_copy(update={"certificate": lab})})


def certify(f: Factory, results_dir: Path, path: Path, key_dir: Path) -> str:
    """Write the certificate of `results_dir` to `path` with the lab's key and verify it; the detail says where
    and against which public key. RuntimeError when it does not verify."""
    signed = lab_signing(f, key_dir)
    signer, key = signing.LocalKey(signed), signing.public_key(signed)
    records = certificate.host_records(signed, results_dir, [])
    entry = certificate.new_entry(signed, None, records, certificate.tier_verdicts(results_dir), signer)
    path.write_text(certificate.render(certificate.appended(signed, None, entry)), encoding="utf-8")
    verdict = certificate.verify(path.read_text(encoding="utf-8"), signed, key)
    if not verdict.ok:
        raise RuntimeError(f"certificate {path} does not verify: {'; '.join(verdict.problems)}")
    return (f"certificate {path} verifies against {signed.acceptance.certificate.public_key_file} "
            f"({signing.fingerprint(key)}, {len(entry['body']['performance'])} tier runs)")


# --- in the lab -----------------------------------------------------------------------------------------
def slurm_srun(f: Factory, state: LabState, booted: list[str]) -> Srun:
    """srun on the head node over SSH. A job across NVL72 racks asks for segments (Slurm refuses --segment
    with --nodelist, so the booted nodes outside the job are excluded instead)."""
    head = f.head_nodes[0]

    def srun(hosts: list[str], command: str) -> subprocess.CompletedProcess:
        segment = scheduler_lab.job_segment(f, hosts)
        others = [n for n in booted if n not in hosts]
        where = (segment + (f" --exclude={scheduler.hostlist(others)}" if others else "")) if segment \
            else f" --nodelist={scheduler.hostlist(hosts)}"
        line = f"srun --nodes={len(hosts)} --ntasks-per-node=1{where} bash -c {shlex.quote(command)}"
        return nodes.ssh(state, head.address, line, timeout=COMMAND_TIMEOUT_S)
    return srun


def install_tools(f: Factory, state: LabState, hosts: list[str]) -> None:
    """nccl-tests: no vendor publishes it as a package; a site builds its own into its mirror bundle (`mirror build
    --site-package`, aifactory.mirror.site_built), as the lab's bundle holds the stand-in's. Each node installs it
    with APT from its sources: the bundle, or where the lab builds none the stand-in CUDA repository that carries
    it. perftest comes with DOCA-OFED, nccom-test with aws-neuronx-tools, both from the mirror."""
    if f.platform.software_stack != "nvidia":
        return
    command = ("command -v all_reduce_perf >/dev/null || "
               f"DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {NCCL_TESTS}")
    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:  # the nodes install at once, as a site's would
        done = dict(zip(hosts, pool.map(
            lambda host: nodes.ssh(state, state.nodes[host]["address"], command, timeout=COMMAND_TIMEOUT_S), hosts)))
    failed = [f"{host}: {result.stderr.strip()[-300:]}" for host, result in done.items() if result.returncode != 0]
    if failed:
        raise RuntimeError(f"nccl-tests did not install: {'; '.join(failed)}")


def performance_outcome(f: Factory, state: LabState, results_dir: Path,
                        acceptance: dict[str, dict | None]) -> tuple[str, str]:
    """(passed|incomplete|failed, detail) of the rehearsal's performance stage: the tiers, then the
    certificate (written and verified also when a tier failed: it records the failure)."""
    booted = [n.name for n in f.nodes if n.name in state.nodes]
    try:
        install_tools(f, state, [h for h in booted if h in acceptance])
        outcome, detail = run_tiers(f, results_dir, acceptance, slurm_srun(f, state, booted))
        signed = certify(f, results_dir, state.dir / CERTIFICATE_FILE, state.dir / KEY_DIR)
    except subprocess.TimeoutExpired as err:
        return "failed", f"no answer in {err.timeout:g}s: {err.cmd[-1] if err.cmd else ''}"
    except (certificate.CertificateError, BadInput) as err:
        return "failed", f"the certificate could not be written: {err}"
    return outcome, f"{detail}; {signed}"
