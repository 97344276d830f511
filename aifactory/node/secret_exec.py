"""`python -m aifactory.node.secret_exec PROGRAM ARGS...`: take the run's secrets from a FIFO, then exec PROGRAM.

`aifactory bringup` starts ansible-playbook through this wrapper so that ansible-runner, which records
the environment it starts a process with in the run's artifacts, never holds a secret: the secrets
travel through a FIFO (a kernel pipe, never on disk) named in $AIFACTORY_SECRETS_FIFO, and only the
exec'd program's environment holds them. The program also gets SIGTERM when bringup dies (even by
SIGKILL), so no orphaned run goes on touching hosts. Kept free of heavy imports: it starts every run.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

FIFO_ENV = "AIFACTORY_SECRETS_FIFO"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent() -> None:
    """Linux: SIGTERM to this process (kept across exec) when the process that started it dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m aifactory.node.secret_exec PROGRAM [ARGS...]", file=sys.stderr)
        return 2
    fifo = os.environ.pop(FIFO_ENV, None)
    if fifo:
        try:
            with open(fifo, encoding="utf-8") as pipe:
                secrets = json.load(pipe)
        except (OSError, ValueError) as err:
            print(f"aifactory: cannot take the run's secrets from {fifo}: {err}", file=sys.stderr)
            return 2
        os.environ.update({str(k): str(v) for k, v in secrets.items()})
    _die_with_parent()
    try:
        os.execvp(argv[0], argv)
    except OSError as err:
        print(f"aifactory: cannot start {argv[0]}: {err.strerror}", file=sys.stderr)
        return 127
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
