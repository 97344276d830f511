"""`lab down` leaves no private key of the lab on disk (its SSH key, CA, TLS and node keys); its logs stay.
(No lab is booted: a lab state with nothing recorded but the files it would have written.)"""

from __future__ import annotations

from aifactory.lab import lifecycle
from aifactory.lab.state import LabState

SITE = "lab-keys"
KEYS = ("ssh/id_ed25519", "ssh/id_ed25519.pub", "pki/lab-ca.key", "bmc/tls.key", "awslink-files/pki/node.key")
KEPT = ("ssh/known_hosts", "pki/lab-ca.crt", "bmc/emulator.log", "host-overrides.json")


def test_lab_down_removes_every_private_key_and_keeps_the_logs(tmp_path, monkeypatch):
    monkeypatch.setenv("AIFACTORY_LAB_DIR", str(tmp_path / "labs"))
    monkeypatch.setenv("AIFACTORY_STATE_DIR", str(tmp_path / "state"))
    state = LabState(site=SITE)
    state.save()
    for name in KEYS + KEPT:
        (state.dir / name).parent.mkdir(parents=True, exist_ok=True)
        (state.dir / name).write_text("x")
    lines = []
    assert lifecycle.down(SITE, lines.append)
    assert [name for name in KEYS if (state.dir / name).exists()] == []
    assert [name for name in KEPT if not (state.dir / name).exists()] == []
    assert f"{len(KEYS)} key files" in lines[-1] and LabState.load(SITE) is None
