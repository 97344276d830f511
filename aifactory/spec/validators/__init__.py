"""Semantic validators: relations between values that field types cannot express.

In the manner of AWS ParallelCluster's validators: each is small and named, yields problems with a
level and a message that says what to change, and all of them run so that every problem is
reported at once. `validate(factory)` runs them all. One module per concern of the spec; importing
a module registers its validators, in the order below.
"""

from __future__ import annotations

from aifactory.spec.model import Factory
from aifactory.spec.partial import UnreadableField, unreadable_paths
from aifactory.spec.validators import (  # noqa: F401 - imported to register their validators
    text, network, hybrid_link, aws, aws_refusals, platform, software, storage, identity, scheduler, acceptance, monitoring,
    file_grammar)
from aifactory.spec.validators.network import az_subnets
from aifactory.spec.validators.registry import VALIDATORS, Level, NotRun, Problem, shown, unsafe_character, validator
from aifactory.spec.validators.storage import normal_mount_point
from aifactory.spec.validators.software import host_is_public

__all__ = ["VALIDATORS", "Level", "NotRun", "Problem", "az_subnets", "host_is_public", "normal_mount_point", "shown",
           "unsafe_character", "validate", "validator"]


def validate(factory: Factory, not_run: list[NotRun] | None = None) -> list[Problem]:
    """Every problem every registered validator finds, each with its validator's level and name. On a spec
    read in part (`aifactory.spec.partial`), a validator that needs a field that failed its type stops there:
    what it found so far is kept, and `not_run` says which field it waited for (when a C function refused
    the stand-in by its type, any of the refused fields)."""
    problems = []
    unreadable = unreadable_paths(factory) if not_run is not None else []
    for name, level, check in VALIDATORS:
        try:
            for problem in check(factory):
                problems.append(Problem(problem.path, problem.message, problem.given, level, name))
        except UnreadableField as blocked:
            if not_run is None:
                raise
            not_run.append(NotRun(name, blocked.path))
        except TypeError:  # `re.fullmatch(<unreadable>)`: a C function checks the type before any method runs
            if not unreadable:
                raise
            not_run.append(NotRun(name, " or ".join(unreadable)))
    return problems
