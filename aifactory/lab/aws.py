"""The AWS stand-in: `moto_server` on 127.0.0.1, a free port, its own process per lab."""

from __future__ import annotations

import os
import sys

from aifactory.lab import procs
from aifactory.lab.state import LabState


def start(state: LabState) -> str:
    """Start moto's server; return its endpoint URL once it answers."""
    port = procs.free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    # AWS managed policies (AmazonSSMManagedInstanceCore, ...) exist in moto's IAM only when loaded.
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    ident = procs.spawn(argv, state.dir / "aws" / "moto.log", env=env)
    state.record("process", role="AWS (moto_server)", **ident)
    url = f"http://127.0.0.1:{port}"
    if not procs.wait_until(lambda: procs.http_ok(f"{url}/moto-api/") or not procs.alive(ident), 60):
        raise RuntimeError(f"moto_server did not answer on {url}; see {ident['log']}")
    if not procs.alive(ident):
        raise RuntimeError(f"moto_server exited; see {ident['log']}")
    return url
