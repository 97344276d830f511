"""Isolation of a failing performance tier: bisect its members (trays, or links) with a runner that runs the
tier on a subset and says whether it passed, until the faulty trays or links are named.

Halves first: a failing group is split in two and each half that fails alone is searched on. When both
halves pass but the group failed, the fault needs members of both (a link between two trays): pairs, by
keeping one side whole while halving the other to one partner, then the other side to the second. A pair
that fails is judged by testing each end on its own (or with a member a passing run showed healthy, where
the tier needs two): an end that fails is a faulty tray, and when neither does, the link between them is
named. A member is named only on a failing run of its own or of its pair; what no run narrows down is
reported unresolved, never guessed. Runs are cached, so no subset runs twice."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

HALVES = "halves"
PAIRS = "pairs"


@dataclass(frozen=True)
class Fault:
    """A faulty tray (one member) or link (its two ends), the tier that showed it and how it was found."""

    members: tuple[str, ...]
    tier: str
    method: str

    @property
    def kind(self) -> str:
        return "tray" if len(self.members) == 1 else "link"


@dataclass(frozen=True)
class Isolation:
    tier: str
    faults: tuple[Fault, ...]
    unresolved: tuple[str, ...]  # members of a failing group no run could narrow down
    runs: int  # how many times the runner ran the tier


@dataclass
class _Search:
    run: Callable[[tuple[str, ...]], bool]
    tier: str
    min_size: int
    cache: dict[frozenset, bool] = field(default_factory=dict)
    healthy: set[str] = field(default_factory=set)
    unresolved: list[str] = field(default_factory=list)
    runs: int = 0

    def fails(self, group: Sequence[str]) -> bool:
        key = frozenset(group)
        if key not in self.cache:
            self.runs += 1
            self.cache[key] = not self.run(tuple(group))
            if not self.cache[key]:
                self.healthy |= key
        return self.cache[key]

    def testable(self, group: Sequence[str]) -> bool:
        return len(group) >= self.min_size

    def search(self, group: list[str]) -> list[Fault]:
        """The faults of a group known to fail."""
        if len(group) == 1:
            return [Fault((group[0],), self.tier, HALVES)]
        left, right = group[: len(group) // 2], group[len(group) // 2:]
        faults = []
        for half in (left, right):
            if self.testable(half) and self.fails(half):
                faults += self.search(half)
        return faults or self.across(left, right)

    def across(self, left: list[str], right: list[str]) -> list[Fault]:
        """The fault of a failing group whose halves pass alone: one partner in each half."""
        partner = self.narrow(right, lambda part: [*left, *part])
        other = self.narrow(left, lambda part: [*part, partner])
        if self.fails([other, partner]):
            return self.pair(other, partner, PAIRS)
        self.unresolved += [*left, *right]
        return []

    def narrow(self, side: list[str], with_part: Callable[[list[str]], list[str]]) -> str:
        """Halve `side` to the one member whose presence makes the run fail (with the rest it needs)."""
        while len(side) > 1:
            first, second = side[: len(side) // 2], side[len(side) // 2:]
            side = first if self.fails(with_part(first)) else second
        return side[0]

    def pair(self, a: str, b: str, method: str) -> list[Fault]:
        """A failing pair: the ends that fail on their own are faulty trays; neither: the link between them."""
        ends = [end for end in (a, b) if self.end_fails(end, other=b if end == a else a)]
        if ends:
            return [Fault((end,), self.tier, method) for end in ends]
        if all(self.end_known(end, b if end == a else a) for end in (a, b)):
            return [Fault((a, b), self.tier, method)]
        self.unresolved += [a, b]
        return []

    def reference(self, exclude: tuple[str, ...]) -> str | None:
        return next((m for m in sorted(self.healthy) if m not in exclude), None)

    def end_known(self, end: str, other: str) -> bool:
        """Whether `end` could be tested apart from `other` (alone, or with a member known healthy)."""
        return self.testable([end]) or self.reference((end, other)) is not None

    def end_fails(self, end: str, other: str) -> bool:
        if self.testable([end]):
            return self.fails([end])
        partner = self.reference((end, other))
        return partner is not None and self.fails([end, partner])


def isolate(members: Sequence[str], run: Callable[[tuple[str, ...]], bool], *, tier: str,
            min_size: int = 1) -> Isolation:
    """Name the faulty trays or links of a tier that failed over `members`.

    `run(subset)` runs the tier on the subset and returns whether it passed; `min_size` is the smallest
    subset the tier can run on (2 where it needs a peer, as a cross-rack tier does). The full set is taken as
    failed (the tier's own run); after each round the members not yet named run again, and a failure there
    starts another round, so several faults are all found."""
    search = _Search(run=run, tier=tier, min_size=min_size)
    remaining = list(dict.fromkeys(members))
    search.cache[frozenset(remaining)] = True
    faults: list[Fault] = []
    while remaining and search.fails(remaining):
        found = search.search(remaining)
        if not found:
            break
        faults += found
        named = {m for fault in found for m in fault.members}
        remaining = [m for m in remaining if m not in named]
        if not search.testable(remaining):
            break
    return Isolation(tier=tier, faults=tuple(faults), unresolved=tuple(dict.fromkeys(search.unresolved)),
                     runs=search.runs)
