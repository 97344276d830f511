"""`aifactory monitoring-receiver SITE --listen ADDR:PORT --cert --key --ca`: the alert receiver on a head node.

Serves Alertmanager's webhook over mutual TLS and acts on the severity table (aifactory.monitoring.receiver)
until stopped. Its key and the BMC credentials are root-only files (systemd credentials), never arguments.
Exit 2 on a bad spec, option or file, before anything listens.
"""

from __future__ import annotations

import argparse
import logging
import ssl
import stat
import sys
from pathlib import Path

from aifactory.commands.paths import input_file, output_dir
from aifactory.commands.runner_options import bad_input
from aifactory.core.userstate import site_home
from aifactory.monitoring.actuators import RedfishPower, ScontrolSlurm, bmc_context, credentials_file, load_bmc_credentials
from aifactory.monitoring.receiver import Receiver, ReceiverServer, server_context
from aifactory.spec import load_spec


def listen_address(text: str) -> tuple[str, int]:
    """An argparse type: ADDR:PORT, the port from 1 to 65535."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"not ADDR:PORT with a port from 1 to 65535: {text!r}")
    return host, int(port)


def register(sub) -> None:
    p = sub.add_parser("monitoring-receiver", help="serve the alert receiver that acts on alerts (on a head node)")
    p.add_argument("spec", metavar="SITE", help="factory.yaml or the site directory holding it")
    p.add_argument("--listen", type=listen_address, required=True, metavar="ADDR:PORT",
                   help="the head node's management address and port")
    p.add_argument("--cert", type=input_file, required=True, metavar="FILE", help="the receiver's certificate (PEM)")
    p.add_argument("--key", type=input_file, required=True, metavar="FILE", help="its key (PEM, root-only)")
    p.add_argument("--ca", type=input_file, required=True, metavar="FILE",
                   help="the factory's CA (PEM): only clients with a certificate it signed are served")
    p.add_argument("--state-dir", type=output_dir, metavar="DIR",
                   help="the state file and audit log (default ~/.local/state/aifactory/sites/SITE/receiver/)")
    p.add_argument("--bmc-credentials", type=input_file, metavar="FILE",
                   help="JSON {username, password}, root-only (default: the systemd credential `bmc`); needed "
                        "where monitoring.actions.power_cycle is automatic")
    p.add_argument("--bmc-ca", type=input_file, metavar="FILE",
                   help="the CA the BMCs' certificates are checked against (default: the system's)")
    p.add_argument("--bmc-system-id", default="", metavar="ID", help="the BMCs' system to reset when they have several")
    p.set_defaults(func=run_receiver)


def _root_only(path: Path, option: str) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"{option} {path}: readable by others (mode {stat.S_IMODE(mode):o}): make it 0600 or 0400")


def build_receiver(args) -> tuple[Receiver, ssl.SSLContext]:
    """The receiver and its TLS context from the command line; a ValueError naming the option or field."""
    f = load_spec(args.spec)  # a bad spec raises SpecError: the CLI prints it and exits 2
    if f.scheduler.kind != "slurm":
        raise ValueError(f"scheduler.kind is {f.scheduler.kind}: the receiver drains nodes in Slurm")
    _root_only(args.key, "--key")
    try:
        context = server_context(args.cert, args.key, args.ca)
    except (ssl.SSLError, OSError) as err:
        raise ValueError(f"--cert/--key/--ca: not a usable certificate, key and CA ({getattr(err, 'reason', None) or err})") from None
    power = None
    credentials = credentials_file(args.bmc_credentials)
    if f.monitoring.actions.power_cycle == "automatic":
        if credentials is None:
            raise ValueError("monitoring.actions.power_cycle is automatic: give --bmc-credentials or the systemd "
                             "credential bmc")
        power = RedfishPower({n.name: n.bmc_address for n in f.nodes}, load_bmc_credentials(credentials),
                             bmc_context(args.bmc_ca), args.bmc_system_id)
    state_dir = args.state_dir or site_home(f.name) / "receiver"
    return Receiver(f, ScontrolSlurm(), power, Path(state_dir)), context


def run_receiver(args) -> int:
    try:
        receiver, context = build_receiver(args)
    except ValueError as err:
        return bad_input(err)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        server = ReceiverServer(args.listen, receiver, context)
    except OSError as err:
        print(f"error: --listen {args.listen[0]}:{args.listen[1]}: {err.strerror or err}", file=sys.stderr)
        return 2
    logging.getLogger(__name__).info("listening on %s:%s", *args.listen)
    with server:
        server.serve_forever(poll_interval=1.0)
    return 0
