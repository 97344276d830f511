"""`aifactory lab up|status|down SPEC`, `lab ssh SITE NODE`: local stand-ins for a site's AWS account,
BMCs and nodes, and a shell on a lab node."""

from __future__ import annotations

import os
import sys

from aifactory.core.inputs import BadInput
from aifactory.lab import hardware, lifecycle, nodes, preflight
from aifactory.lab.state import LabState
from aifactory.lab.state import site_dir
from aifactory.core.output import emit_json, table
from aifactory.spec import load_spec


def register(sub) -> None:
    p = sub.add_parser("lab", help="start/stop local stand-ins (moto, sushy-emulator, nspawn nodes) for a site")
    lab = p.add_subparsers(dest="lab_command", required=True, metavar="ACTION")
    up = lab.add_parser("up", help="start the stand-ins and write the lab's host overrides")
    up.add_argument("spec", metavar="SPEC", help="factory.yaml or the site directory holding it")
    up.add_argument("--scratch-disks", type=int, default=lifecycle.SCRATCH_DISKS, metavar="N",
                    help="give every node N empty loop devices as scratch disks "
                         f"(default {lifecycle.SCRATCH_DISKS}, the storage stage's scratch)")
    add_fault_argument(up)
    up.add_argument("--trays-per-rack", type=int, metavar="N",
                    help="boot only the first N nodes of each rack; the others are left out of the inventory "
                         f"(default: every node, or the first {lifecycle.FIXED_RACK_TRAYS} of a fixed-size rack "
                         "such as an NVL72's 18 trays)")
    up.set_defaults(func=run_up)
    prepare = lab.add_parser("prepare", help="build the lab cache (base root, mirror and vendor repository "
                             "stand-ins) for these sites ahead of `lab up`; starts nothing")
    prepare.add_argument("specs", nargs="+", metavar="SPEC", help="factory.yaml or the site directory holding it")
    prepare.set_defaults(func=run_prepare)
    status = lab.add_parser("status", help="show whether each stand-in runs")
    status.add_argument("spec", metavar="SPEC", help="factory.yaml or the site directory holding it")
    status.add_argument("--format", choices=["table", "json"], default="table")
    status.set_defaults(func=run_status)
    down = lab.add_parser("down", help="stop the stand-ins and remove everything the lab made")
    down.add_argument("spec", metavar="SPEC", help="factory.yaml or the site directory holding it")
    down.set_defaults(func=run_down)
    ssh = lab.add_parser("ssh", help="open a shell on a lab node, or run COMMAND there (the lab's key and known hosts)")
    ssh.add_argument("site", metavar="SITE", help="the site's name, its factory.yaml or its directory")
    ssh.add_argument("node", metavar="NODE", help="the node's name (e.g. lab-b200-r001-n01)")
    ssh.add_argument("command", nargs="*", metavar="COMMAND", help="run this instead of a login shell")
    ssh.set_defaults(func=run_ssh)


def progress(line: str) -> None:
    print(line, flush=True)


def _preflight() -> bool:
    problems = preflight.missing()
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return not problems


def add_fault_argument(parser) -> None:
    """--fault NODE:KIND (repeatable), shared by `lab up` and `rehearse`."""
    parser.add_argument("--fault", action="append", default=[], metavar="NODE:KIND",
                        help="inject a fault into a node's stand-in hardware (repeatable); KIND: "
                             + ", ".join(hardware.FAULTS))


def parse_fault_options(args, f, in_service: bool = False) -> dict[str, list[str]] | None:
    """{node: [kind]} from the --fault options (or, `in_service`, from --fault-in-service); None (after printing the
    problem) when one is bad: an unknown kind, a node the lab does not boot, and in service a kind no alert sees or a
    spec without monitoring, whose stage is what catches them."""
    option = hardware.IN_SERVICE_OPTION if in_service else "--fault"
    try:
        faults = hardware.parse_faults(args.fault_in_service if in_service else args.fault, [n.name for n in f.nodes],
                                       f.platform, in_service=in_service)
        lifecycle.up_nodes(f, args.trays_per_rack, faults, option=option)
    except (hardware.FaultError, BadInput) as err:
        print(f"error: {err}", file=sys.stderr)
        return None
    if in_service and faults and not (f.monitoring.enabled and f.head_nodes):
        print(f"error: {option}: {f.name} has no monitoring stage to catch it (monitoring.enabled and a head node are "
              "needed)", file=sys.stderr)
        return None
    return faults


def run_up(args) -> int:
    f = load_spec(args.spec)
    faults = parse_fault_options(args, f)
    if faults is None:
        return 2
    if not _preflight():
        return 1
    try:
        lifecycle.up(f, progress, scratch_disks=args.scratch_disks, trays_per_rack=args.trays_per_rack, faults=faults)
    except lifecycle.LabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except RuntimeError as err:  # a stand-in failed to start; up() already removed what it made
        print(f"error: lab up failed: {err}", file=sys.stderr)
        return 1
    print(f"export AIFACTORY_HOST_OVERRIDES={site_dir(f.name) / lifecycle.OVERRIDES_FILE}")
    return 0


def run_prepare(args) -> int:
    sites = [load_spec(spec) for spec in args.specs]
    if not _preflight():
        return 1
    try:
        lifecycle.prepare(sites, progress)
    except RuntimeError as err:  # debootstrap or a download failed; the message names the log
        print(f"error: lab prepare failed: {err}", file=sys.stderr)
        return 1
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
    print(f"  vendor repository stand-ins (CUDA, DOCA, Neuron, EFA): {st['endpoints'].get('vendor')}")
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


def site_name(site: str) -> str:
    """A site's name from its name, its factory.yaml or its directory (a lab is found by name)."""
    if os.path.exists(site):
        return load_spec(site).name
    return site


def run_ssh(args) -> int:
    """Replace this process with ssh to the node (exit status: the remote command's, 255 on ssh errors)."""
    site = site_name(args.site)
    state = LabState.load(site)
    if state is None:
        print(f"error: no lab is up for {site}", file=sys.stderr)
        return 1
    if args.node not in state.nodes:
        print(f"error: {args.node} is no node of the {site} lab (nodes: {', '.join(sorted(state.nodes))})",
              file=sys.stderr)
        return 2
    argv = nodes.ssh_argv(state, state.nodes[args.node]["address"], *args.command,
                          tty=not args.command and sys.stdin.isatty())
    sys.stdout.flush()
    os.execvp(argv[0], argv)
