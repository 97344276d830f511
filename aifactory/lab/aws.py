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
    url = f"http://127.0.0.1:{port}"
    procs.start_service(state, "AWS (moto_server)", argv, state.dir / "aws" / "moto.log", f"{url}/moto-api/", env=env)
    return url
