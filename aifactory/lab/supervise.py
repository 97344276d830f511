"""Keep a booted node running across reboots: systemd-nspawn exits 133 when its container reboots.

`python -m aifactory.lab.supervise CGROUP -- systemd-nspawn ...` first moves itself into its own
cgroup CGROUP (see cgroups.py: without systemd on the host every container would otherwise share
the root cgroup and their inits would trip over each other), runs the command, starts it again on
exit status 133 (what systemd-nspawn@.service does with RestartForceExitStatus=133), and exits with
the command's status otherwise. SIGTERM is passed to the command (nspawn powers the container off).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from aifactory.lab import cgroups

REBOOT_STATUS = 133


def main(argv: list[str]) -> int:
    sep = argv.index("--")
    cgroups.enter(argv[0], os.getpid())
    cmd = argv[sep + 1:]
    stopping = False
    child: subprocess.Popen | None = None

    def on_term(signum, _frame):
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    while True:
        child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        rc = child.wait()
        if rc != REBOOT_STATUS or stopping:
            return rc
        print(f"aifactory lab: container rebooted (exit {REBOOT_STATUS}); starting it again", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
