"""The lab's BMC stand-in (sushy-emulator with its fake driver, on 127.0.0.1 only, no node booted) serving one
powered-off system, for tests of the playbooks that speak Redfish to it."""

from __future__ import annotations

import contextlib
import json
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from aifactory.lab import procs, redfish
from aifactory.lab.state import LabState


@contextlib.contextmanager
def one_system(root: Path, site: str, node: str, profile: str) -> Iterator[tuple[str, str]]:
    """(base URL, system id) of a stand-in serving `node`'s system with the hardware `profile`; stopped after."""
    state = LabState(site=site, root=root)
    try:
        url = redfish.start(state, [(node, "10.0.1.1")], profile)
        yield url, redfish.system_uuid(state.site, node)
    finally:
        for item in state.resources:
            if item["kind"] == "process":
                procs.stop(item)


def read_system(url: str, system_id: str) -> dict:
    """The system's Redfish resource as the stand-in serves it (its self-signed certificate accepted)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with urllib.request.urlopen(f"{url}/redfish/v1/Systems/{system_id}", context=context, timeout=30) as answer:
        return json.load(answer)
