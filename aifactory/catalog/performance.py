"""Performance acceptance thresholds (`performance.yaml`): per platform, tier and check, a published figure
with its source, URL and message sizes, or a site baseline the operator records where none exists."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import model_validator

from aifactory.catalog import _DATA, _Frozen, _read, platforms

TIERS = ("tray", "rack", "cross-rack")
PUBLISHED = "published"
SITE_BASELINE = "site baseline"


class MessageSizes(_Frozen):
    """The message sizes (bytes) a figure applies to; the check reads the results within them."""

    min: int
    max: int

    @model_validator(mode="after")
    def _ordered(self) -> MessageSizes:
        if not 0 < self.min <= self.max:
            raise ValueError(f"message_bytes: min {self.min} must be positive and at most max {self.max}")
        return self


class Floor(_Frozen):
    """A published lower bound that is not a target: below it fails, above it the site baseline decides."""

    min: float
    source: str
    url: str


class Threshold(_Frozen):
    """One check of one platform: a published minimum (`min`) or a site baseline (`site_baseline`)."""

    check: str
    tier: Literal["tray", "rack", "cross-rack"]
    tool: Literal["nccl-tests", "ib_write_bw", "dcgmi", "nccom-test"]
    test: str
    unit: Literal["GB/s", "Gb/s", "level"]
    min: float | None = None
    site_baseline: bool = False
    floor: Floor | None = None
    message_bytes: MessageSizes | None = None
    transport: Literal["p2p", "mnnvl", "net-ib-gdr", "net-ofi"] | None = None
    source: str
    url: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Threshold:
        if (self.min is None) == (not self.site_baseline):
            raise ValueError(f"{self.check}: set either min (a published figure) or site_baseline: true, "
                             "not both or neither")
        if self.min is not None and not (self.url or "").startswith("https://"):
            raise ValueError(f"{self.check}: a published figure needs its source's https:// URL")
        if self.tool != "dcgmi" and self.message_bytes is None:
            raise ValueError(f"{self.check}: say which message sizes the figure applies to (message_bytes)")
        return self

    @property
    def kind(self) -> str:
        """`published` (a public figure) or `site baseline` (the operator records the site's own)."""
        return PUBLISHED if self.min is not None else SITE_BASELINE


@cache
def performance_thresholds() -> dict[str, dict[str, Threshold]]:
    """platform -> check -> threshold, for platforms the platform catalog knows."""
    data = _read("performance.yaml")
    unknown = set(data) - set(platforms())
    if unknown:
        raise ValueError(f"{_DATA / 'performance.yaml'}: unknown platforms {sorted(unknown)}")
    return {platform: {check: Threshold(check=check, **body) for check, body in checks.items()}
            for platform, checks in data.items()}
