"""A stand-in for srun in the performance tests: runs a tier's command once per node on this machine, each
task with its node's hardware profile and Slurm's task variables, as the lab's srun runs the stand-in tools
on the nodes. Ranks meet on 127.0.0.1 (NCCL_COMM_ID; ib_write_bw's server name and port rewritten)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from aifactory.lab import hardware, vendor_repos
from aifactory.lab.procs import free_port
from aifactory.lab.performance import PERFTEST_PORT
from aifactory.spec import Factory

TOOLS = ("all_reduce_perf", "all_gather_perf", "ib_write_bw", "nccom-test", "dcgmi")
BOOTED = 2  # trays per rack, as `aifactory rehearse` boots lab-gb200


def booted(f: Factory) -> list[str]:
    """The first BOOTED nodes of each rack."""
    return [n.name for n in f.nodes if n.slot <= BOOTED]


class FakeSrun:
    """srun over profiles written under `tmp`; `calls` records (hosts, command)."""

    def __init__(self, tmp: Path, f: Factory, faults: dict[str, list[str]] | None = None):
        self.bin, self.calls = tmp / "bin", []
        self.bin.mkdir(parents=True, exist_ok=True)
        for tool in TOOLS:
            shutil.copyfile(vendor_repos.TOOL_SOURCE, self.bin / tool)
            (self.bin / tool).chmod(0o755)
        self.profiles = {}
        for n in f.nodes:
            hw = hardware.with_faults(hardware.node_profile(f.platform, f.name, n.name, n.rack), (faults or {}).get(n.name, []))
            path = tmp / f"{n.name}.json"
            path.write_text(json.dumps(hw))
            self.profiles[n.name] = path

    def __call__(self, hosts: list[str], command: str) -> subprocess.CompletedProcess:
        self.calls.append((list(hosts), command))
        command = command.replace(f"-p {PERFTEST_PORT}", f"-p {free_port()}")
        for host in hosts:
            command = command.replace(f" {host} ", " 127.0.0.1 ")
        comm = f"127.0.0.1:{free_port()}"
        procs = [subprocess.Popen(["bash", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "PATH": f"{self.bin}:{os.environ['PATH']}", "NCCL_COMM_ID": comm,
                                       "AIFACTORY_LAB_HARDWARE": str(self.profiles[host]), "SLURM_PROCID": str(rank),
                                       "SLURM_NTASKS": str(len(hosts))})
                 for rank, host in enumerate(hosts)]
        outs = [p.communicate(timeout=120) for p in procs]
        return subprocess.CompletedProcess(["srun", command], max(p.returncode for p in procs),
                                           "".join(o for o, _ in outs), "".join(e for _, e in outs))
