"""`aifactory lab up|status|down SPEC`: local stand-ins for a site's AWS account, BMCs and nodes."""

from __future__ import annotations

import sys

from aifactory.lab import lifecycle, preflight
from aifactory.lab.state import site_dir
from aifactory.report import emit_json, table
from aifactory.spec import load_spec


def register(sub) -> None:
    p = sub.add_parser("lab", help="start/stop local stand-ins (moto, sushy-emulator, nspawn nodes) for a site")
    lab = p.add_subparsers(dest="lab_command", required=True, metavar="ACTION")
    up = lab.add_parser("up", help="start the stand-ins and write the lab's host overrides")
    up.add_argument("spec", metavar="SPEC", help="factory.yaml or the site directory holding it")
    up.add_argument("--scratch-disks", type=int, default=lifecycle.SCRATCH_DISKS, metavar="N",
                    help="give every node N empty loop devices as scratch disks "
                         f"(default {lifecycle.SCRATCH_DISKS}, the storage stage's scratch)")
    up.set_defaults(func=run_up)
    status = lab.add_parser("status", help="show whether each stand-in runs")
    status.add_argument("spec", metavar="SPEC", help="factory.yaml or the site directory holding it")
    status.add_argument("--format", choices=["table", "json"], default="table")
    status.set_defaults(func=run_status)
    down = lab.add_parser("down", help="stop the stand-ins and remove everything the lab made")
    down.add_argument("spec", metavar="SPEC", help="factory.yaml or the site directory holding it")
    down.set_defaults(func=run_down)


def progress(line: str) -> None:
    print(line, flush=True)


def _preflight() -> bool:
    problems = preflight.missing()
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return not problems


def run_up(args) -> int:
    f = load_spec(args.spec)
    if not _preflight():
        return 1
    try:
        lifecycle.up(f, progress, scratch_disks=args.scratch_disks)
    except lifecycle.LabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except RuntimeError as err:  # a stand-in failed to start; up() already removed what it made
        print(f"error: lab up failed: {err}", file=sys.stderr)
        return 1
    print(f"export AIFACTORY_HOST_OVERRIDES={site_dir(f.name) / lifecycle.OVERRIDES_FILE}")
    return 0


def run_status(args) -> int:
    f = load_spec(args.spec)
    st = lifecycle.status(f.name)
    if args.format == "json":
        emit_json(st or {"site": f.name, "up": False})
        return 0 if st else 1
    if st is None:
        print(f"no lab is up for {f.name}")
        return 1
    print(f"lab {f.name} (state in {st['state_dir']})")
    print(f"  AWS stand-in (moto_server): {st['endpoints'].get('aws')}")
    print(f"  BMC stand-in (sushy-emulator, fake driver): {st['endpoints'].get('bmc')}")
    print(f"  host overrides: {st['host_overrides']}\n")
    print(table(["stand-in / resource", "id", "state"],
                [(r["stand_in"], r["id"], "up" if r["up"] else "GONE") for r in st["resources"]]))
    return 0 if all(r["up"] for r in st["resources"]) else 1


def run_down(args) -> int:
    f = load_spec(args.spec)
    if not _preflight():
        return 1
    if not lifecycle.down(f.name, progress):
        print(f"no lab is up for {f.name}")
    return 0
