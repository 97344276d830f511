"""Generated sites for the benchmarks: the example sites scaled to N racks (or N lab nodes).

`scaled_plan_site` copies `inventories/paris-gb200` (factory.yaml with racks N and CIDRs wide enough
for 1,024 NVL72 racks, a power budget that fits, pki/, aifactory.yml, group_vars/).
`lab_site` copies `inventories/lab-b200` with nodes_per_rack N, its own name and host network, so a
bench lab never collides with the example site's lab.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import yaml

from aifactory.spec import Factory, load_spec

REPO = Path(__file__).resolve().parent.parent
PLAN_TEMPLATE = REPO / "inventories" / "paris-gb200"
LAB_TEMPLATE = REPO / "inventories" / "lab-b200"
WIDE_NETWORK = {"onprem_cidr": "10.0.0.0/8", "bmc_cidr": "10.0.0.0/16", "host_cidr": "10.1.0.0/16",
                "storage_cidr": "10.2.0.0/16"}
WIDE_VPC = "172.31.0.0/22"
# Each lab that may be up beside another has its own 10.<octet>.0.0/16: lab-b200 77, lab-gb200 78, the bench's
# lab 79, the day-2 lab 81, lab-converge 82, lab-os 84.
BENCH_LAB_OCTET = 79
POWER_HEADROOM = 1.25


def lab_network(octet: int) -> dict[str, str]:
    """A lab's four ranges on 10.<octet>.0.0/16 (BMCs, hosts and storage in its first three /24s)."""
    return {"onprem_cidr": f"10.{octet}.0.0/16", "bmc_cidr": f"10.{octet}.0.0/24", "host_cidr": f"10.{octet}.1.0/24",
            "storage_cidr": f"10.{octet}.2.0/24"}


LAB_HOST_CIDR = lab_network(BENCH_LAB_OCTET)["host_cidr"]


def _copy_site(template: Path, dest: Path, spec: dict) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(template, dest, ignore=shutil.ignore_patterns("factory.yaml"))
    (dest / "factory.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def _fit_power(dest: Path, spec: dict) -> Factory:
    """Give the spec a power budget its racks fit in, then load it (the generated spec must validate)."""
    spec["facility"].pop("power_budget_kw", None)
    spec["facility"]["power_budget_kw"] = 10**9  # placeholder only to compute the draw
    (dest / "factory.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    draw = load_spec(dest).power_kw
    spec["facility"]["power_budget_kw"] = math.ceil(draw * POWER_HEADROOM)
    (dest / "factory.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_spec(dest)


def scaled_plan_site(racks: int, dest: Path) -> Factory:
    """paris-gb200 with `racks` racks, written to `dest`; returns the loaded (validated) spec."""
    spec = yaml.safe_load((PLAN_TEMPLATE / "factory.yaml").read_text())
    spec["name"] = f"bench-gb200-{racks}r"
    spec["compute"]["racks"] = racks
    spec["network"].update(WIDE_NETWORK)
    spec["hybrid_link"]["vpc_cidr"] = WIDE_VPC
    _copy_site(PLAN_TEMPLATE, dest, spec)
    return _fit_power(dest, spec)


def lab_site(nodes: int, dest: Path) -> Factory:
    """lab-b200 (HGX B200, one rack) with `nodes` nodes, written to `dest`."""
    spec = yaml.safe_load((LAB_TEMPLATE / "factory.yaml").read_text())
    spec["name"] = f"bench-lab{nodes}"
    spec["compute"]["nodes_per_rack"] = nodes
    spec["network"].update(lab_network(BENCH_LAB_OCTET))
    _copy_site(LAB_TEMPLATE, dest, spec)
    return _fit_power(dest, spec)
