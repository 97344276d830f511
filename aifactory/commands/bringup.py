"""`aifactory bringup SPEC`: run the site's playbooks through ansible-runner, with progress."""

from __future__ import annotations

import argparse
import signal
import sys

from aifactory.commands.paths import input_file
from aifactory.commands.runner_options import add_run_arguments, bad_input, checked_run_options, confirmed, is_lab
from aifactory.core.output import emit_json, table
from aifactory.node.acceptance_gate import EXIT_ACCEPTANCE_INCOMPLETE
from aifactory.node.batch_plan import (BATCHED_STAGE, SituationError, StagePlan, drivers_plan, drivers_vars,
                                       in_service_from_records, plan_dict, plan_rows, site_plan)
from aifactory.node.bringup import (EXIT_SIGNALS, STAGES, BringupError, BringupOptions, BringupResult, run_bringup,
                                    runner_output_tail, stage_order)
from aifactory.node.inventory import InventoryInputError
from aifactory.node.parsers.acceptance import RUNNING_JOBS
from aifactory.node.slurm_situation import SlurmAnswer, ask_slurm, first_controller, uses_slurm
from aifactory.node.stages import ACCEPTANCE_STAGE
from aifactory.spec import Factory, load_spec
from aifactory.spec.naming import absent_hosts

# The acceptance role's variable naming the hosts Slurm runs jobs on (playbooks/roles/acceptance).
BUSY_VAR = "acceptance_hosts_running_jobs"
# Why a real run on an inventory that is not a lab did not run, without a terminal to ask on.
REFUSAL = "not a terminal, so nothing was asked and nothing ran: pass --yes to run for real, or --check"

EXIT_CODES = f"""A run without --check on an inventory that is not a lab (the lab's host overrides say every node
is a container, `aifactory_dedicated_resources: false`) first shows what it will touch and asks on a terminal; without a
terminal it needs --yes. Secrets come from the environment only and are never written to disk.

exit codes:
  0    every host ran cleanly and every acceptance that ran passed
  1    the run, a host or an acceptance check failed
  2    bad input (spec, stage names, stack outputs, host overrides, extra vars, options), or a real
       run that was not confirmed; nothing ran
  {EXIT_ACCEPTANCE_INCOMPLETE}    nothing failed, but acceptance is incomplete: checks the platform's expected hardware
       needs could not run on some host (tool not installed, a kernel it does not have, the DCGM diagnostic
       not run on a node Slurm runs jobs on); see ~/.local/state/aifactory/sites/SITE/acceptance/
       (not with --check: check mode runs no tool, so its acceptance is never complete)
  130  stopped by Ctrl-C (SIGINT); 143 stopped by SIGTERM: ansible-playbook was stopped, the summary
       says where"""


def register(sub) -> None:
    p = sub.add_parser("bringup", help="bring the site's nodes up with Ansible (site.yml or chosen stages)",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", metavar="SPEC", help="factory.yaml or the site directory holding it")
    p.add_argument("--stages", help=f"comma-separated stages to run, as site.yml's tags (they run in this order): "
                                    f"{','.join(STAGES)}")
    p.add_argument("--playbook", type=input_file, metavar="FILE", help="run this playbook instead of site.yml (--stages become its --tags)")
    p.add_argument("--limit", help="Ansible host pattern to limit the run to")
    p.add_argument("--check", action="store_true", help="check mode: report what would change, change nothing")
    p.add_argument("--batches", action="store_true",
                   help="print the batch plan of every stage and run nothing (offline: the site's records say which "
                        "nodes are in service)")
    p.add_argument("--fresh", action="store_true",
                   help="plan as if no node were in service (a first bring-up): ignore the site's records and ask "
                        "Slurm nothing (the acceptance stage then runs the DCGM diagnostic on every node)")
    add_run_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    f = load_spec(args.spec)  # a bad spec raises SpecError: the CLI prints it and exits 2
    try:
        options, overrides = checked_run_options(
            f, args, stages=[s.strip() for s in args.stages.split(",")] if args.stages is not None else None,
            playbook=args.playbook, limit=args.limit, check=args.check)
        recorded = set() if args.fresh else in_service_from_records(f)
        absent = absent_hosts(overrides)
        if args.batches:
            return print_plan(f, site_plan(f, STAGES, recorded, absent), recorded, args)
        if not options.check and not is_lab(f, overrides) and not confirmed(
                f.name, args.yes, REFUSAL, summary=lambda: touch_summary(f, options)):
            return 2
        slurm = None
        if asks_slurm(f, options, args.fresh):
            print(f"situation: asking Slurm on {first_controller(f)} which nodes run jobs", file=sys.stderr)
            slurm = ask_slurm(f, options, runner=run_bringup)
            print(slurm_line(slurm, recorded, accepts(options)), file=sys.stderr)
            if slurm.interrupted_by is not None:
                return EXIT_SIGNALS[slurm.interrupted_by]
        in_service = recorded | (slurm.nodes if slurm is not None else set())
        options.extra_vars = {**drivers_vars(drivers_plan(f, in_service, absent)), **busy_vars(options, slurm),
                              **options.extra_vars}
        result = run_bringup(f, options)
    except (InventoryInputError, BringupError, SituationError) as err:
        return bad_input(err)

    if result.interrupted_by is not None:
        print(interrupted_line(result), file=sys.stderr)
    if args.format == "json":
        emit_json({**result.as_dict(), "situation": {
            "fresh": args.fresh, "in_service_by_records": sorted(recorded),
            "slurm": slurm.as_dict() if slurm is not None else None, "in_service": sorted(in_service)}})
        if result.acceptance_incomplete:
            print(incomplete_line(result), file=sys.stderr)
        return result.exit_code
    if result.hosts:
        rows = [[host, *counts.values()] for host, counts in result.hosts.items()]
        rows.append(["TOTAL", *result.totals.values()])
        print(table(["host", *next(iter(result.hosts.values()))], rows))
    elif result.interrupted_by is None:
        print(f"ansible-playbook ended ({result.status}, rc {result.rc}) before any host ran; its last output:",
              file=sys.stderr)
        print(runner_output_tail(result), file=sys.stderr)
    for name in result.unscrubbable:
        print(f"warning: {name} is too short to be scrubbed from output and artifacts", file=sys.stderr)
    if result.acceptance_incomplete:
        print(incomplete_line(result))
    mode = " (check mode: nothing changed)" if result.check else ""
    verdict = {0: "ok", EXIT_ACCEPTANCE_INCOMPLETE: "acceptance INCOMPLETE", 130: "INTERRUPTED (Ctrl-C)",
               143: "INTERRUPTED (SIGTERM)"}.get(result.exit_code, "FAILED")
    tags = f" --tags {','.join(result.stages)}" if result.stages else ""
    print(f"\n{f.name}: {verdict}{mode}; {result.playbook}{tags}")
    print(f"artifacts: {result.run_dir}")
    return result.exit_code


def asks_slurm(f: Factory, options: BringupOptions, fresh: bool) -> bool:
    """Whether this run asks Slurm which nodes run jobs: it runs site.yml's drivers stage (whose batches
    depend on it) or its acceptance stage (whose DCGM diagnostic spares them) for real, and the factory runs
    Slurm. Not with --fresh, not in check mode (a check changes nothing and runs no diagnostic), not with a
    playbook of the user's own."""
    return ((runs_stage(options, BATCHED_STAGE) or accepts(options)) and uses_slurm(f)
            and not (fresh or options.check))


def runs_stage(options: BringupOptions, stage: str) -> bool:
    """Whether this run runs `stage` of site.yml (all of them without --stages; none with a playbook of one's own)."""
    return options.playbook is None and (options.stages is None or stage in options.stages)


def accepts(options: BringupOptions) -> bool:
    """Whether this run runs site.yml's acceptance stage."""
    return runs_stage(options, ACCEPTANCE_STAGE)


def busy_vars(options: BringupOptions, slurm: SlurmAnswer | None) -> dict:
    """The acceptance role's hosts running jobs, where this run's acceptance stage runs and Slurm answered:
    the DCGM diagnostic is not run on them."""
    return {BUSY_VAR: sorted(slurm.nodes)} if accepts(options) and slurm is not None and slurm.answered else {}


def slurm_line(slurm: SlurmAnswer, recorded: set[str], acceptance: bool = False) -> str:
    """One line on what decided the drivers stage's batches and, where the run's `acceptance` stage runs, which
    nodes get the DCGM diagnostic."""
    line = f"situation: {len(recorded)} node(s) in service per the site's records; {slurm.summary()}"
    if not slurm.answered:
        return line + ": the records alone decide" + ("; acceptance runs the DCGM diagnostic on every node"
                                                      if acceptance else "")
    extra = sorted(slurm.nodes - recorded)
    return (line + (f", {len(extra)} of them without a record ({_some(extra)})" if extra else "")
            + ("; acceptance runs no DCGM diagnostic on them" if acceptance and slurm.nodes else ""))


def print_plan(f: Factory, plans: list[StagePlan], in_service: set[str], args) -> int:
    """--batches: the plan of every stage, as a table or JSON; nothing runs."""
    if args.format == "json":
        emit_json(plan_dict(f, plans, in_service, args.fresh))
        return 0
    situation = ("--fresh: every node planned as not in service" if args.fresh else
                 f"{len(in_service)} node(s) in service per the site's records")
    print(f"batch plan of {f.name} ({situation}; nothing ran)")
    print(table(["stage", "batch", "what", "nodes", "may fail"], plan_rows(plans)))
    drivers = next((p for p in plans if p.stage == BATCHED_STAGE), None)
    if drivers and drivers.max_fail_percentage:
        print(f"{BATCHED_STAGE}: a batch goes on past {drivers.max_fail_percentage}% failed trays (compute."
              "fresh_batch_max_fail_percent): they are reported failed and left out")
    return 0


def interrupted_line(result: BringupResult) -> str:
    """Where a run was when a signal stopped it, and what its hosts had done by then."""
    at = result.interrupted_at
    counts = ", ".join(f"{k} {at[k]}" for k in ("ok", "changed", "failed", "unreachable", "skipped") if k in at)
    name = signal.Signals(result.interrupted_by).name
    return (f"interrupted by {name}: ansible-playbook was stopped during play {at.get('play') or '-'!r}, task "
            f"{at.get('task') or '-'!r}; task results until then: {counts or 'none'}. Hosts may be part-way "
            "through that task; a re-run converges them.")


def touch_summary(f: Factory, options: BringupOptions) -> str:
    """What a real run will touch: hosts, stages and the power actions of the racks stage."""
    stages = stage_order(options.stages) if options.stages is not None else list(STAGES)
    nodes = len(f.nodes)
    bmcs = len(f.nodes) + len(f.switch_trays)
    power = options.extra_vars.get("bmc_power_action", "on")  # playbooks/racks.yml's: powers on what is off
    pxe = bool(options.extra_vars.get("bmc_pxe_boot_once", False))
    lines = [f"bringup of {f.name} WITHOUT --check: this changes real machines",
             f"  hosts: {nodes} nodes and {bmcs} BMCs" + (f", limited to {options.limit!r}" if options.limit else ""),
             f"  playbook: {options.playbook or 'playbooks/site.yml'}; stages: {', '.join(stages)}"]
    if "racks" in stages:
        lines.append(f"  power (racks stage, Redfish on the BMCs): power action {power!r}, one-time PXE boot "
                     f"{'yes' if pxe else 'no'}")
    return "\n".join(lines)


def incomplete_line(result: BringupResult) -> str:
    """One line naming the hosts whose acceptance is incomplete and the checks that could not run."""
    hosts = result.acceptance_incomplete
    checks = sorted({c for h in hosts for c in result.acceptance[h].get("skipped") or {}})
    busy = [h for h in hosts if RUNNING_JOBS in (result.acceptance[h].get("skipped") or {}).values()]
    return (f"acceptance incomplete on {len(hosts)} host{'s' if len(hosts) != 1 else ''}: checks that need hardware "
            f"could not run ({', '.join(checks)}) on {_some(hosts)}"
            + (" (check mode runs no tool: not counted in the exit code)" if result.check else "")
            + (f"; the DCGM diagnostic was not run on {len(busy)} host(s) running jobs ({_some(busy)}): drain them, or wait "
               "until they are idle, and run the acceptance stage on them" if busy else ""))


def _some(hosts: list[str]) -> str:
    """The first five hosts, and `...` when there are more."""
    return f"{', '.join(hosts[:5])}{' ...' if len(hosts) > 5 else ''}"
