"""The change preview: what a site's change does to its hosts and to its AWS resources.

`site_diff(site, against)` compares the site as it is with the site at a git ref of its repository
(its files read with `git show` into a temporary directory) or with a saved plan JSON
(`aifactory plan --format json`, AWS side only). Hosts are the inventory's (each node, each node's BMC,
each switch tray's BMC), compared by their place (rack, slot, kind): one added or removed is expected
growth; one whose name or address would change, or a name or address that would pass to another place,
is an error, since the node would be re-addressed in place.
The scheduler is compared by the Slurm files aifactory.scheduler generates on each side: head nodes
(a moved address is an error too), Slurm nodes, partitions and topology blocks or switches added,
removed or changed, and which files change (the scheduler stage applies them with `scontrol
reconfigure`). AWS resources are compared by two offline plans (the program at the ref when the ref
has one), each in a process of its own, both at once: a changed resource is replaced when a changed
property forces a new resource in the AWS provider (aifactory.reports.replace_on_change), updated
otherwise; each change shows its old and new value, secrets masked.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from aifactory import scheduler
from aifactory.aws.plan import EXIT_NOT_CHECKED, MASK, masked
from aifactory.core.inputs import MAX_RECORD_BYTES, InputFileError, read_json
from aifactory.reports.replace_on_change import replacing
from aifactory.spec import Factory, load_spec, resolve_spec_path
from aifactory.spec.naming import bmc_host
from aifactory.spec.validators import shown

# An id AWS (and moto) makes up: a type prefix and 8 or 17 hex digits (vpc-0a1b2c3d4e5f60718).
MADE_UP_ID = re.compile(r"\b[a-z]+(?:-[a-z]+)*-(?:[0-9a-f]{17}|[0-9a-f]{8})\b")


class DiffError(Exception):
    """The ref or the saved plan cannot be read."""


class DiffNotChecked(DiffError):
    """A side's plan stopped without a verdict (AWS's stand-in unreachable or failed): no diff of the AWS side."""


# --- hosts -----------------------------------------------------------------------------------------
def hosts(f: Factory) -> dict[tuple[int, int, str], dict]:
    """Every inventory host of the racks by its place: (rack, slot, kind) -> name and addresses. A node, its
    BMC and a switch tray's BMC are each a host (aifactory.node.inventory)."""
    places = {(n.rack, n.slot, "node"): {"name": n.name, "address": n.address,
                                         "storage_address": n.storage_address} for n in f.nodes}
    places |= {(n.rack, n.slot, "node BMC"): {"name": bmc_host(n.name), "address": n.bmc_address} for n in f.nodes}
    places |= {(t.rack, t.slot, "switch-tray BMC"): {"name": bmc_host(t.name), "address": t.bmc_address}
               for t in f.switch_trays}
    return places


def compare_hosts(before: dict, after: dict) -> dict[str, list[dict]]:
    """Hosts added, removed, and moved (a name or address that would change place: an error)."""
    entry = lambda place, host: {"rack": place[0], "slot": place[1], "kind": place[2], **host}  # noqa: E731
    by_rack_kind = lambda place: (place[0], place[2], place[1])  # noqa: E731
    added = [entry(p, after[p]) for p in sorted(after.keys() - before.keys(), key=by_rack_kind)]
    removed = [entry(p, before[p]) for p in sorted(before.keys() - after.keys(), key=by_rack_kind)]
    moved = []
    for place in sorted(before.keys() & after.keys()):
        old, new = before[place], after[place]
        for field in sorted(old.keys() & new.keys()):
            if old[field] != new[field]:
                moved.append({**entry(place, new), "field": field, "before": old[field], "after": new[field],
                              "message": f"{old['name']} (rack {place[0]} slot {place[1]}): {field} would change "
                                         f"from {old[field]} to {new[field]}"})
    # a name or address that another place held before
    held_before = {value: place for place, host in before.items() for value in host.values()}
    for place, host in sorted(after.items()):
        for field, value in host.items():
            old_place = held_before.get(value, place)
            if old_place != place:
                moved.append({**entry(place, host), "field": field, "before": value, "after": value,
                              "message": f"{value} would move from rack {old_place[0]} slot {old_place[1]} "
                                         f"to rack {place[0]} slot {place[1]}"})
    return {"added": added, "removed": removed, "moved": moved}


# --- the scheduler ---------------------------------------------------------------------------------------
# Lines of the generated slurm.conf and topology.conf that each describe one thing, by their first key.
SCHEDULER_SECTIONS = {"NodeName": "nodes", "PartitionName": "partitions", "BlockName": "topology",
                      "SwitchName": "topology"}


def scheduler_view(f: Factory) -> dict:
    """The scheduler as its generated files say it: head nodes {name: address}, {name: line} per section
    (nodes, partitions, topology), and every file's text. Empty where the spec has no scheduler."""
    view = {"kind": f.scheduler.kind, "head_nodes": {h.name: h.address for h in f.head_nodes},
            **{section: {} for section in SCHEDULER_SECTIONS.values()}, "files": {}}
    if f.scheduler.kind == "none":
        return view
    view["files"] = scheduler.config_files(f)
    for name in ("slurm.conf", "topology.conf"):
        for line in view["files"][name].splitlines():
            key, _, rest = line.partition("=")
            if key in SCHEDULER_SECTIONS:
                view[SCHEDULER_SECTIONS[key]][rest.split(" ", 1)[0]] = line
    return view


def compare_scheduler(before: dict, after: dict) -> dict:
    """Scheduler changes between two `scheduler_view`s; head nodes whose address would change, or an
    address another head node held, are `moved` (an error, as for hosts)."""
    def changes(old: dict, new: dict) -> dict:
        return {"added": sorted(new.keys() - old.keys()), "removed": sorted(old.keys() - new.keys()),
                "changed": sorted(k for k in old.keys() & new.keys() if old[k] != new[k])}

    old_heads, new_heads = before["head_nodes"], after["head_nodes"]
    holder = {address: name for name, address in old_heads.items()}
    moved = [f"{name}: address would change from {old_heads[name]} to {address}"
             for name, address in sorted(new_heads.items()) if name in old_heads and old_heads[name] != address]
    moved += [f"{address} would move from {holder[address]} to {name}" for name, address in sorted(new_heads.items())
              if holder.get(address, name) != name]
    files = sorted(n for n in before["files"].keys() | after["files"].keys()
                   if before["files"].get(n) != after["files"].get(n))
    return {"kind": {"before": before["kind"], "after": after["kind"]},
            "head_nodes": {**{k: v for k, v in changes(old_heads, new_heads).items() if k != "changed"}, "moved": moved},
            **{section: changes(before[section], after[section]) for section in ("nodes", "partitions", "topology")},
            "files_changed": files,
            "reconfigure": bool(files) and after["kind"] == "slurm" and before["kind"] == "slurm"}


# --- AWS resources ---------------------------------------------------------------------------------
def _with_references(value, ids: list[tuple[str, str]]):
    """`value` with every id another resource got replaced by `<name.id>`, and any other id AWS makes
    up (an attachment's, read from a resource's outputs) by `<id>`: moto makes up new ids on each
    plan, so only what they refer to can be compared."""
    if isinstance(value, str):
        for resource_id, name in ids:
            value = value.replace(resource_id, f"<{name}.id>")
        return MADE_UP_ID.sub("<id>", value)
    if isinstance(value, dict):
        return {k: _with_references(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_references(v, ids) for v in value]
    return value


def _resources(plan: dict) -> dict[str, dict]:
    ids = sorted(((r["id"], r["name"]) for r in plan["resources"] if r.get("id") and len(r["id"]) >= 6),
                 key=lambda pair: -len(pair[0]))
    return {r["name"]: {**r, "inputs": masked(_with_references(r.get("inputs") or {}, ids), set())}
            for r in plan["resources"]}


def compare_plans(before: dict, after: dict) -> dict[str, list[dict]]:
    """Resources created, updated, replaced and deleted. A changed resource is replaced when its type changed or
    a changed property forces a new one (`replace_on_change`); each lists its changes, old -> new (secrets
    masked), and `because` (the properties or type that force the replacement). A type the table lacks is
    updated with `replacement_unknown` set."""
    old, new = _resources(before), _resources(after)
    brief = lambda r: {"name": r["name"], "type": r["type"], "component": r["component"]}  # noqa: E731
    created = [brief(new[n]) for n in new.keys() - old.keys()]
    deleted = [brief(old[n]) for n in old.keys() - new.keys()]
    updated, replaced = [], []
    for name in new.keys() & old.keys():
        a, b = old[name], new[name]
        # properties the program told Pulumi to ignore (ignore_changes) are no change, as under `pulumi preview`
        ignored = set(a.get("ignore_changes") or []) | set(b.get("ignore_changes") or [])
        changed = sorted(k for k in (a["inputs"].keys() | b["inputs"].keys()) - ignored if a["inputs"].get(k) != b["inputs"].get(k))
        changes = [{"property": k, "before": a["inputs"].get(k), "after": b["inputs"].get(k)} for k in changed]
        forcing = replacing(b["type"], changed)
        if a["type"] != b["type"]:
            replaced.append({**brief(b), "because": [f"type was {a['type']}"], "properties": changed,
                             "changes": changes})
        elif forcing:
            replaced.append({**brief(b), "because": forcing, "properties": changed, "changes": changes})
        elif changed:
            updated.append({**brief(b), "properties": changed, "changes": changes,
                            **({"replacement_unknown": True} if forcing is None else {})})
    order = lambda items: sorted(items, key=lambda r: (r["component"], r["name"]))  # noqa: E731
    return {"created": order(created), "updated": order(updated), "replaced": order(replaced), "deleted": order(deleted)}


def start_plan(spec: Path, program: Path | None, cwd: Path | None = None) -> subprocess.Popen:
    """An offline plan as its JSON, planned in a process of its own (so a ref's program imports its own `infra`
    modules), started: `plan_json` reads it. The two sides of a diff plan at once."""
    command = [sys.executable, "-m", "aifactory.cli", "plan", str(spec), "--format", "json"]
    if program:
        command += ["--program", str(program)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)


def plan_json(spec: Path, planning: subprocess.Popen) -> dict:
    """The plan JSON of the process `planning` (start_plan) of `spec`; DiffError when it has none."""
    out, err = planning.communicate()
    if planning.returncode == EXIT_NOT_CHECKED:
        raise DiffNotChecked(f"planning {spec} stopped without a verdict: {err.strip()[-2000:]}")
    if planning.returncode not in (0, 1):
        raise DiffError(f"planning {spec} failed (exit {planning.returncode}): {err.strip()[-2000:]}")
    return json.loads(out)


def plan_both(before: tuple[Path, Path | None, Path], after: tuple[Path, Path | None]) -> tuple[dict, dict]:
    """The plans of both sides ((spec, program, cwd), (spec, program)), planned at once; a side that fails stops
    the other."""
    started = [start_plan(*before), start_plan(*after)]
    try:
        return plan_json(before[0], started[0]), plan_json(after[0], started[1])
    finally:
        for planning in started:
            if planning.poll() is None:
                planning.kill()
                planning.communicate()


# --- the two sides ---------------------------------------------------------------------------------
def _git(repo: Path, *args: str, reason: str = "") -> str:
    """git's output; a DiffError with git's reason (or `reason`, for a git that says none) when it fails."""
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True)
    except OSError as err:
        raise DiffError(f"cannot run git: {err.strerror or err}") from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip()[-2000:] or reason or f"exit {done.returncode}"
        raise DiffError(f"git {' '.join(shown(a, 300) for a in args)}: {shown(said, 2000)}")
    return done.stdout.decode(errors="replace")


def checkout_at(site_dir: Path, ref: str, into: Path) -> tuple[Path, Path | None]:
    """The site's files, the project's Pulumi files and infra/ at `ref`, written under `into`:
    (the site directory there, the program there or None when the ref has no infra/)."""
    top = Path(_git(site_dir, "rev-parse", "--show-toplevel").strip())
    site_rel = site_dir.resolve().relative_to(top).as_posix()
    _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}",
         reason=f"{shown(ref, 300)} is neither a commit of {top} nor a saved plan file")
    files = _git(top, "ls-tree", "-r", "--name-only", ref, "--", site_rel, "infra").splitlines()
    files += [f for f in _git(top, "ls-tree", "--name-only", ref).splitlines() if f.startswith("Pulumi.") and f.endswith(".yaml")]
    if not any(f.startswith(site_rel + "/") for f in files):
        raise DiffError(f"{site_rel} does not exist at {ref}")
    for name in files:
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_git(top, "show", f"{ref}:{name}").encode())
    program = into / "infra"
    return into / site_rel, program if (program / "__main__.py").is_file() else None


def _names_a_file(against: str) -> bool:
    """Whether --against names something other than a directory (a saved plan, or a FIFO or device
    that reading it as one refuses) rather than a git ref."""
    try:
        return not stat.S_ISDIR(os.stat(against).st_mode)
    except (OSError, ValueError):
        return False


def saved_plan(path: Path) -> dict:
    """A saved `aifactory plan --format json`: a regular file of at most MAX_RECORD_BYTES."""
    try:
        plan = read_json(path, MAX_RECORD_BYTES)
    except InputFileError as err:
        raise DiffError(f"--against {shown(str(path), 300)}: not a plan JSON ({err})") from None
    if not isinstance(plan, dict) or not isinstance(plan.get("resources"), list):
        raise DiffError(f"--against {shown(str(path), 300)}: not a plan JSON (`aifactory plan --format json`)")
    return plan


def site_diff(site: str | Path, against: str, program: Path | None = None,
              progress: Callable[[str], None] = lambda line: None) -> dict:
    """The change preview of `site` against a git ref or a saved plan JSON (see the module doc);
    the old side is read first, so a bad ref or file costs no plan. `progress` hears of each step."""
    spec_file = resolve_spec_path(site)
    after = load_spec(spec_file)
    result = {"site": after.name, "against": against, "hosts": None, "scheduler": None, "aws": None, "notes": []}
    with tempfile.TemporaryDirectory(prefix="aifactory-diff-") as tmp:
        if _names_a_file(against):
            progress(f"reading the saved plan {against}")
            before_plan = saved_plan(Path(against))
            result["notes"].append("hosts not compared (nor the scheduler): a saved plan holds the AWS side only")
            progress(f"planning {after.name} as it is now")
            after_plan = plan_json(spec_file, start_plan(spec_file, program))
        else:
            progress(f"reading the site and infra/ at {against}")
            old_site, old_program = checkout_at(spec_file.parent, against, Path(tmp))
            before = load_spec(old_site)
            result["hosts"] = compare_hosts(hosts(before), hosts(after))
            result["scheduler"] = compare_scheduler(scheduler_view(before), scheduler_view(after))
            if old_program is None:
                result["notes"].append(f"{against} has no infra/: both sides planned with the same program")
            progress(f"planning {after.name} at {against} and as it is now, at once")
            before_plan, after_plan = plan_both((old_site / spec_file.name, old_program or program, Path(tmp)),
                                                (spec_file, program))
    progress("comparing the two sides")
    result["aws"] = compare_plans(before_plan, after_plan)
    for side, plan in (("before", before_plan), ("after", after_plan)):
        if not plan.get("clean", True):
            result["notes"].append(f"the plan {side} the change is not clean (see `aifactory plan`)")
    return result


def has_errors(diff: dict) -> bool:
    """A host's or head node's name or address would move."""
    return bool((diff["hosts"] and diff["hosts"]["moved"])
                or (diff.get("scheduler") and diff["scheduler"]["head_nodes"]["moved"]))


def scheduler_markdown(sched: dict) -> list[str]:
    """The scheduler part of the preview."""
    out = []
    heads = sched["head_nodes"]
    if heads["moved"]:
        out += [f"**Error: {len(heads['moved'])} head node address(es) would move**", ""]
        out += [f"- :x: {m}" for m in heads["moved"]] + [""]
    kind = sched["kind"]
    if kind["before"] != kind["after"]:
        out += [f"**Scheduler**: {kind['before']} -> {kind['after']}", ""]
    elif kind["after"] == "none":
        return out + ["**Scheduler**: none on either side", ""]
    def count(part: dict) -> str:
        return ", ".join(f"{len(part[k])} {k}" for k in ("added", "removed", "changed") if k in part)
    out.append(f"**Scheduler**: head nodes {count(heads)}; Slurm nodes {count(sched['nodes'])}; "
               f"partitions {count(sched['partitions'])}; topology {count(sched['topology'])}")
    out.append("")
    rows = [(what, change, name) for what in ("head_nodes", "partitions", "topology")
            for change in ("added", "removed", "changed") for name in sched[what].get(change, [])]
    if sched["nodes"]["added"] or sched["nodes"]["removed"]:
        rows += [("nodes", change, scheduler.hostlist(sched["nodes"][change]))
                 for change in ("added", "removed") if sched["nodes"][change]]
    if rows:
        out += ["| scheduler | change | name |", "|---|---|---|"]
        out += [f"| {what.replace('_', ' ')} | {change} | {name} |" for what, change, name in rows]
        out.append("")
    if sched["files_changed"]:
        how = ("the scheduler stage applies them with `scontrol reconfigure`: running jobs go on"
               if sched["reconfigure"] else "the scheduler stage sets Slurm up or removes it")
        out += [f"Slurm files changed: {', '.join(sched['files_changed'])}; {how}", ""]
    return out


# The longest value a merge-request comment shows in full; the JSON has every value whole.
SHOWN_VALUE_LENGTH = 80


def _shown(value) -> str:
    """One value of a change as a table cell: JSON, cut to SHOWN_VALUE_LENGTH, pipes escaped."""
    text = value if value == MASK else json.dumps(value, sort_keys=True)
    if len(text) > SHOWN_VALUE_LENGTH:
        text = text[:SHOWN_VALUE_LENGTH - 1] + "…"
    return text.replace("|", "\\|")


def _changes_cell(resource: dict) -> str:
    """`property: old -> new` for each change of a resource (a type the replace table lacks is said so)."""
    cell = "; ".join(f"{c['property']}: `{_shown(c['before'])}` -> `{_shown(c['after'])}`" for c in resource["changes"])
    if resource.get("replacement_unknown"):
        cell += " (whether this replaces it is unknown: the type is not in aifactory.reports.replace_on_change)"
    return cell


def markdown(diff: dict) -> str:
    """The preview as a merge-request comment."""
    out = [f"### aifactory diff: {diff['site']} against `{diff['against']}`", ""]
    h = diff["hosts"]
    if h is not None:
        if h["moved"]:
            out += [f"**Error: {len(h['moved'])} host name(s) or address(es) would move**", ""]
            out += [f"- :x: {m['message']}" for m in h["moved"]] + [""]
        out.append(f"**Hosts**: {len(h['added'])} added, {len(h['removed'])} removed, {len(h['moved'])} moved")
        out.append("")
        rows = [("added", x) for x in h["added"]] + [("removed", x) for x in h["removed"]]
        if rows:
            out += ["| change | host | kind | rack | slot | address |", "|---|---|---|---|---|---|"]
            out += [f"| {c} | {x['name']} | {x['kind']} | {x['rack']} | {x['slot']} | {x['address']} |" for c, x in rows]
            out.append("")
    if diff.get("scheduler"):
        out += scheduler_markdown(diff["scheduler"])
    a = diff["aws"]
    out.append(f"**AWS resources**: {len(a['created'])} created, {len(a['updated'])} updated, "
               f"{len(a['replaced'])} replaced, {len(a['deleted'])} deleted")
    out.append("")
    rows = ([("created", r, "") for r in a["created"]] + [("updated", r, _changes_cell(r)) for r in a["updated"]]
            + [("replaced", r, f"replaced because {', '.join(r['because'])} changed: {_changes_cell(r)}")
               for r in a["replaced"]] + [("deleted", r, "") for r in a["deleted"]])
    if rows:
        out += ["| change | resource | type | component | changes |", "|---|---|---|---|---|"]
        out += [f"| {c} | {r['name']} | `{r['type']}` | {r['component']} | {p} |" for c, r, p in rows]
        out.append("")
    out += [f"_{n}_" for n in diff["notes"]]
    return "\n".join(out).rstrip() + "\n"
