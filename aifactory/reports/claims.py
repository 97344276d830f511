"""What the report's topology drawing asserts, each statement backed by the control that checks it.

A statement is shown as holding only when its control passed on a plan that ran to its end; when the
control failed it is shown as failing, with the control id and the resources the control named; when
the plan has no result for the control, or the program failed before it finished, it is not checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from aifactory.aws.plan.evaluate import ControlResult

HOLDS, FAILS, UNCHECKED = "holds", "fails", "not checked"
STACK = "(the stack)"  # what a violation that names no resource is about


@dataclass(frozen=True)
class Claim:
    place: str  # where the drawing shows it: "vpc", "endpoints", "region", "link", "bedrock"
    control: str
    holds: str  # the statement, shown when the control passed
    fails: str  # what the plan has instead, shown when the control failed


CLAIMS = (
    Claim("vpc", "SOV-01", "no internet path", "an internet path"),
    Claim("endpoints", "SOV-02", "private interface endpoints only", "an endpoint that is not private"),
    Claim("region", "SOV-03", "every role pinned to the allowed regions", "a role not pinned to the allowed regions"),
    Claim("region", "SOV-09", "every region in the residency zone", "a region outside the residency zone"),
    Claim("region", "SOV-04", "customer keys, rotating, wherever data rests", "data at rest without a rotating customer key"),
    Claim("link", "SOV-08", "hardened (IKEv2, AES-256, SHA-2, BGP)", "a link weaker than the hardening"),
    Claim("bedrock", "SOV-07", "guardrail required, prompts stay", "prompts or outputs that may leave"),
)


@dataclass(frozen=True)
class ClaimState:
    claim: Claim
    state: str  # HOLDS, FAILS or UNCHECKED
    resources: tuple[str, ...] = ()  # what the failed control named, in its order
    why: str = ""  # why an unchecked claim is not checked

    @property
    def text(self) -> str:
        """The statement as the drawing shows it."""
        c = self.claim
        if self.state == HOLDS:
            return f"{c.holds} ({c.control} passed)"
        if self.state == FAILS:
            return f"{c.control} FAILED: {c.fails}"
        return f"{c.control} not checked: {c.holds}?"


def claim_states(controls: list[ControlResult], program_finished: bool) -> list[ClaimState]:
    """Each claim of the drawing as this plan's control results support it."""
    by_id = {c.id: c for c in controls}
    states = []
    for claim in CLAIMS:
        result = by_id.get(claim.control)
        if result is None:
            states.append(ClaimState(claim, UNCHECKED, why=f"the plan has no {claim.control} result"))
        elif not result.passed:
            named = dict.fromkeys(v.resource or STACK for v in result.violations)
            states.append(ClaimState(claim, FAILS, tuple(named)))
        elif not program_finished:
            states.append(ClaimState(claim, UNCHECKED, why="the program failed before it declared everything"))
        else:
            states.append(ClaimState(claim, HOLDS))
    return states
