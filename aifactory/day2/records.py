"""The JSON records of the day-2 procedures (rollout, replace): written whole or not at all, time-stamped, and
read back typed, bounded and checked against the site they claim to be of."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from aifactory.core.inputs import MAX_RECORD_BYTES, InputFileError, read_json
from aifactory.spec import Factory
from aifactory.spec.model import MAX_NODES
from aifactory.spec.validators import shown


def write_record(path: Path, data: dict) -> None:
    """Write the record whole or not at all (a rename), so Ctrl-C or a crash never leaves half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    partial.replace(path)


def now() -> str:
    """The time of a step, UTC, to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- reading a record back ---------------------------------------------------------------------------
# A record is read back as strictly as the spec: a regular file of bounded size, typed (strict: "false" is
# not false), bounded, and checked against the site it claims to belong to (aifactory.day2.rollout and
# aifactory.day2.replace check what is theirs: its stage, its Slurm and its nodes).
SHORT_TEXT = 200  # a label, a verdict, a time stamp, a step's name
LONG_TEXT = 4096  # a path, a step's outcome line
Short = Annotated[str, StringConstraints(max_length=SHORT_TEXT)]
Long = Annotated[str, StringConstraints(max_length=LONG_TEXT)]
Names = Annotated[list[Short], Field(max_length=MAX_NODES)]


class RecordError(Exception):
    """A record cannot be used; the message names the file and each problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class RunEntry(_Strict):
    playbook: Long | None
    exit_code: int | None
    artifacts: Long


class RolloutBatch(_Strict):
    index: int = Field(ge=1)
    label: Short
    nodes: Annotated[list[Short], Field(min_length=1, max_length=MAX_NODES)]
    outcome: Literal["pending", "running", "passed", "failed", "resume failed", "interrupted"]
    drained: Names
    nodes_outcome: Annotated[dict[Short, Short], Field(max_length=MAX_NODES)]
    runs: Annotated[list[RunEntry], Field(max_length=16)]


class RolloutRecord(_Strict):
    site: Short
    stage: Short
    status: Literal["running", "paused", "stopped", "interrupted", "done"]
    started: Short
    updated: Short
    slurm: bool
    drain_reason: Short | None
    batch_size: int | None = Field(ge=1, le=10_000)
    force: bool
    drain_timeout: int = Field(ge=1, le=10_000)
    skipped_absent: Names
    stopped_at: int | None = Field(ge=1)
    interrupted_by: Literal["SIGINT", "SIGTERM"] | None = None
    batches: Annotated[list[RolloutBatch], Field(min_length=1, max_length=MAX_NODES)]


class Replacement(_Strict):
    node: Short
    address: Short
    started: Short
    outcome: Literal["running", "in service", "failed", "interrupted"]
    steps: Annotated[dict[Short, Long], Field(max_length=16)]
    hardware: dict | None
    previous_hardware: dict | None
    host_key: Annotated[dict[Short, Long], Field(max_length=8)] | None


class ReplaceRecord(_Strict):
    site: Short
    replacements: Annotated[list[Replacement], Field(max_length=100_000)]


def read_record(path: Path, model: type[_Strict], what: str) -> _Strict | None:
    """The record at `path` as `model`, None when there is none; a RecordError naming the file and every
    problem when it is not a regular file of at most MAX_RECORD_BYTES of JSON of that shape."""
    where = shown(str(path), 300)
    try:
        data = read_json(path, MAX_RECORD_BYTES)
    except InputFileError as err:
        raise RecordError(f"{where}: not a {what} ({err})") from None
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
                             for e in err.errors()[:10])
        more = f" (and {err.error_count() - 10} more)" if err.error_count() > 10 else ""
        raise RecordError(f"{where}: not a {what} ({problems}{more}): fix or remove the file") from None


def check_site(path: Path, what: str, site: str, f: Factory, hosts: dict[str, list[str]]) -> None:
    """A RecordError unless the record is of this factory and every host it names is one of its nodes:
    `hosts` maps where in the record (`batches.2.nodes`) to the names found there."""
    where = shown(str(path), 300)
    if site != f.name:
        raise RecordError(f"{where}: a {what} of {shown(site)}, not of {f.name}: give this site's record")
    names = {n.name for n in f.nodes}
    unknown = [f"{place}: {shown(h)}" for place, found in hosts.items() for h in found if h not in names]
    if unknown:
        raise RecordError(f"{where}: the {what} names hosts that are no node of {f.name} ("
                          + "; ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "") + "): fix or remove the file")
