"""Semantic validators: relations between values that field types cannot express.

In the manner of AWS ParallelCluster's validators: each is small and named, yields problems with a
level and a message that says what to change, and all of them run so that every problem is
reported at once. `validate(factory)` runs them all. One module per concern of the spec; importing
a module registers its validators, in the order below.
"""

from __future__ import annotations

from aifactory.spec.model import Factory
from aifactory.spec.validators import (  # noqa: F401 - imported to register their validators
    text, network, hybrid_link, aws, platform, software, storage, identity, scheduler, file_grammar)
from aifactory.spec.validators.network import az_subnets
from aifactory.spec.validators.registry import VALIDATORS, Level, Problem, shown, unsafe_character, validator
from aifactory.spec.validators.storage import normal_mount_point
from aifactory.spec.validators.software import host_is_public

__all__ = ["VALIDATORS", "Level", "Problem", "az_subnets", "host_is_public", "normal_mount_point", "shown",
           "unsafe_character", "validate", "validator"]


def validate(factory: Factory) -> list[Problem]:
    """Every problem every registered validator finds, each with its validator's level and name."""
    problems = []
    for name, level, check in VALIDATORS:
        for problem in check(factory):
            problems.append(Problem(problem.path, problem.message, problem.given, level, name))
    return problems
