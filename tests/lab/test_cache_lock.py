"""Labs started at once (make test's two workers) take the lab cache in turn: the second waits, and says so,
until the first has checked or built the cached trees (aifactory.lab.base.cache_lock)."""

from __future__ import annotations

import threading

from aifactory.lab import base, procs


def test_a_second_lab_waits_for_the_first_to_finish_with_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(base, "CACHE_ROOT", tmp_path / "cache")
    said: list[str] = []
    order: list[str] = []

    def second_lab() -> None:
        with base.cache_lock(said.append):
            order.append("second")

    with base.cache_lock(said.append):
        other = threading.Thread(target=second_lab)
        other.start()
        assert procs.wait_until(lambda: bool(said), 30, every_s=0.05)  # it is waiting
        order.append("first")
    other.join(30)
    assert order == ["first", "second"]
    assert said == [f"lab cache: another lab is building {tmp_path / 'cache'}; waiting for it"]
