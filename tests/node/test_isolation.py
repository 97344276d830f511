"""Isolation of a failing tier by bisection, with simulated runners: the faulty trays or links are named, no
healthy tray ever is, in a bounded number of runs."""

from __future__ import annotations

import math

import pytest

from aifactory.node.isolation import Fault, isolate

TRAYS = [f"lab-gb200-r001-n{i:02d}" for i in range(1, 19)]


class Runner:
    """A simulated tier: fails when the subset holds a bad tray or both ends of a bad link; counts runs."""

    def __init__(self, bad_trays=(), bad_links=(), min_size=1):
        self.bad_trays, self.bad_links, self.min_size = set(bad_trays), [set(link) for link in bad_links], min_size
        self.subsets: list[tuple[str, ...]] = []

    def __call__(self, subset: tuple[str, ...]) -> bool:
        assert len(subset) >= self.min_size, f"ran the tier on {subset}, smaller than it can run on"
        self.subsets.append(subset)
        members = set(subset)
        return not (members & self.bad_trays or any(link <= members for link in self.bad_links))


def named(isolation) -> set[str]:
    return {m for fault in isolation.faults for m in fault.members}


def log2(n: int) -> int:
    return math.ceil(math.log2(n))


@pytest.mark.parametrize("bad", TRAYS)
def test_one_bad_tray_among_18_is_named_by_halving(bad):
    runner = Runner(bad_trays=[bad])
    result = isolate(TRAYS, runner, tier="rack")
    assert result.faults == (Fault((bad,), "rack", "halves"),) and result.unresolved == ()
    assert result.runs == len(runner.subsets) == len(set(map(frozenset, runner.subsets)))  # no subset twice
    assert result.runs <= 2 * log2(len(TRAYS)) + 1  # both halves per level, then the rest once


def test_two_bad_trays_are_both_named_and_nothing_else():
    runner = Runner(bad_trays=["lab-gb200-r001-n03", "lab-gb200-r001-n16"])
    result = isolate(TRAYS, runner, tier="tray")
    assert named(result) == {"lab-gb200-r001-n03", "lab-gb200-r001-n16"}
    assert all(f.kind == "tray" and f.tier == "tray" for f in result.faults)
    assert result.runs <= 4 * log2(len(TRAYS)) + 2


def test_two_bad_trays_in_the_same_half():
    result = isolate(TRAYS, Runner(bad_trays=[TRAYS[0], TRAYS[1]]), tier="rack")
    assert named(result) == {TRAYS[0], TRAYS[1]}


@pytest.mark.parametrize("min_size", [1, 2])
def test_a_bad_link_that_fails_only_in_pairs_is_named_as_the_link(min_size):
    link = ("lab-gb200-r001-n04", "lab-gb200-r001-n13")
    runner = Runner(bad_links=[link], min_size=min_size)
    result = isolate(TRAYS, runner, tier="cross-rack", min_size=min_size)
    assert result.faults == (Fault(link, "cross-rack", "pairs"),)
    assert result.faults[0].kind == "link" and result.unresolved == ()
    assert result.runs <= 4 * log2(len(TRAYS)) + 4


def test_a_bad_tray_on_a_tier_that_needs_two_is_named_against_a_tray_known_healthy():
    bad = "lab-gb200-r001-n10"
    runner = Runner(bad_trays=[bad], min_size=2)
    result = isolate(TRAYS, runner, tier="cross-rack", min_size=2)
    assert named(result) == {bad} and result.faults[0].kind == "tray"


def test_links_as_members():
    links = [f"{t}:mlx5_{p}" for t in TRAYS[:4] for p in range(4)]
    result = isolate(links, Runner(bad_trays=["lab-gb200-r001-n02:mlx5_3"]), tier="cross-rack")
    assert named(result) == {"lab-gb200-r001-n02:mlx5_3"}


def test_a_fault_no_pair_explains_is_left_unresolved_and_names_nobody():
    three = {"lab-gb200-r001-n02", "lab-gb200-r001-n09", "lab-gb200-r001-n17"}
    result = isolate(TRAYS, lambda subset: not three <= set(subset), tier="rack")
    assert result.faults == () and three <= set(result.unresolved)


def test_a_pair_that_cannot_be_told_apart_is_unresolved_not_guessed():
    # A tier that needs two, over two trays only: no run can say whether a tray or their link is at fault.
    pair = ["lab-gb200-r001-n01", "lab-gb200-r002-n01"]
    result = isolate(pair, Runner(bad_trays=[pair[0]], min_size=2), tier="cross-rack", min_size=2)
    assert result.faults == () and set(result.unresolved) == set(pair)


@pytest.mark.parametrize("seed", range(20))
def test_no_healthy_tray_is_ever_named(seed):
    bad = {TRAYS[(seed * 7) % 18], TRAYS[(seed * 5 + 3) % 18]}
    link = (TRAYS[(seed * 11 + 1) % 18], TRAYS[(seed * 13 + 8) % 18])
    links = [link] if not set(link) & bad and link[0] != link[1] else []
    result = isolate(TRAYS, Runner(bad_trays=bad, bad_links=links), tier="rack")
    trays = {f.members[0] for f in result.faults if f.kind == "tray"}
    assert trays == bad
    assert {frozenset(f.members) for f in result.faults if f.kind == "link"} == {frozenset(x) for x in links}
