"""Inventory cost: `ansible-inventory -i <site>/aifactory.yml --list` through the aifactory plugin."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.measure import REPO, run_child, spread
from bench.specs import scaled_plan_site

ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"


def by_racks(racks: list[int], repeats_for, work: Path, progress) -> list[dict]:
    rows = []
    env = {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    for n in racks:
        repeats = repeats_for(n)
        site = scaled_plan_site(n, work / f"plan-{n}r").site_dir
        progress(f"inventory: {n} racks, {repeats} runs")
        runs = []
        for _ in range(repeats):
            s = run_child([str(ANSIBLE_INVENTORY), "-i", str(site / "aifactory.yml"), "--list"], env)
            if s.rc != 0:
                raise RuntimeError(f"ansible-inventory on {site} exited {s.rc}: {s.stderr.strip()[-600:]}")
            runs.append((s, len(json.loads(s.stdout)["_meta"]["hostvars"])))
        rows.append({"racks": n, "hosts": runs[0][1],
                     "wall_s": spread([s.wall_s for s, _ in runs]),
                     "max_rss_mb": spread([s.max_rss_mb for s, _ in runs])})
    return rows
