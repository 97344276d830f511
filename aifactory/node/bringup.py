"""Bring-up: the stage playbooks of a site run through ansible-runner, with progress and a closing table.

One run is one `ansible-playbook` process (site.yml, or a given playbook) whose runner directory is
kept in the user's state directory (`sites/<site>/bringup/<timestamp>/`, aifactory.core.userstate;
`--artifacts-dir DIR`: `DIR/<site>/<timestamp>/`). Stages are site.yml's tags: `--stages drivers,os`
runs site.yml with `--tags os,drivers`, so the plays keep site.yml's order and the validation (tagged
`always`) runs first.

Secrets never rest on disk. They reach Ansible only through ansible-playbook's environment
(`group_vars/all/secrets.yml` looks them up there), and ansible-runner, which writes the environment
it starts a process with into `artifacts/<ident>/command` before it starts it, never sees them: they
are taken out of runner's environment and handed to `aifactory.node.secret_exec` (which execs
ansible-playbook) through a FIFO in the run directory. Runner's env files are off. Events are
masked before runner writes them, and every secret value (raw or JSON-escaped) is scrubbed from the
run directory when the run ends. A run killed before it could clean up is registered in the state
directory; the next `aifactory` command scrubs its run directory and says so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from aifactory.node import task_results
from aifactory.node.acceptance_gate import Gate, incomplete_hosts, judge, run_exit_code
from aifactory.node.secret_exec import FIFO_ENV
from aifactory.spec import Factory
from aifactory.spec.validators import shown
from aifactory.node.stage_tally import StageTally, play_stages
from aifactory.node.stages import site_stages
from aifactory.core import project
from aifactory.core.inputs import InputFileError, parse_json, read_text
from aifactory.core.userstate import acceptance_dir, bringup_runs, fact_cache_dir, state_dir

PROJECT_ROOT = project.root()  # ansible.cfg and playbooks/: the checkout's, or the installed package's copy
PLAYBOOKS = project.playbooks()
ANSIBLE_CFG = project.ansible_cfg()
STAGES = site_stages(PLAYBOOKS / "site.yml")  # site.yml's stage imports, in its order
INVENTORY_SOURCE = "aifactory.yml"
RUNNER_IDENT = "run"
ACCEPTANCE_STATS_KEY = "aifactory_acceptance"  # the acceptance role's set_stats key
MASK = "********"
# Environment variables whose values are secrets: BMC passwords, the SSM activation code, VPN
# pre-shared keys, munge keys, and the usual credentials a shell may carry.
SECRET_NAME = re.compile(r"PASSWORD|PASSPHRASE|SECRET|TOKEN|ACTIVATION_CODE|PRIVATE_KEY|ACCESS_KEY|PSK|MUNGE_KEY")
MIN_SCRUB_LENGTH = 4  # shorter values would mangle the artifacts; they are reported instead
STAT_KEYS = (("ok", "ok"), ("changed", "changed"), ("failed", "failures"), ("unreachable", "dark"),
             ("skipped", "skipped"), ("rescued", "rescued"), ("ignored", "ignored"))
RESULT_EVENTS = {"runner_on_ok", "runner_on_failed", "runner_on_unreachable", "runner_on_skipped"}
# Ansible strategies a run can use: Ansible's own linear one, or Mitogen for Ansible's mitogen_linear
# (PyPI `mitogen`, pinned in pyproject.toml): one Python interpreter per host, modules shipped once.
STRATEGIES = ("linear", "mitogen")
MITOGEN_STRATEGY = "mitogen_linear"
# ansible-runner reads ansible-playbook's output through pexpect, waiting for a password prompt, a timeout or the
# end: until one of its patterns matches, pexpect keeps every character printed since the last match (1.5 kB per
# host-task, hundreds of MB on a 100-rack bring-up) and copies it at every timeout. A line end, answered with
# nothing (runner sends no reply for None), matches each line, so each is dropped once read (events still go
# through the event handler and job_events as before).
RELEASE_READ_OUTPUT = {r"\n": None}


# In each run directory: the name of its marker in the state directory (aifactory.node.bringup.register_run).
RUN_TOKEN = ".aifactory-run"
MARKER_BYTES = 64 * 1024  # a marker or a run token is a line
SECRETS_FIFO = "secrets.fifo"  # in the run directory; holds nothing once read (a kernel pipe)
EXIT_SIGNALS = {signal.SIGINT: 130, signal.SIGTERM: 143}


class BringupError(Exception):
    """The run cannot start: an unknown stage, a missing playbook."""


def stage_order(names: list[str]) -> list[str]:
    """The named stages in stage order; no name, an empty or an unknown one is an error naming the stages."""
    bad = [repr(name) for name in names if name not in STAGES]
    if bad or not names:
        raise BringupError(f"unknown or empty stage name(s) {', '.join(bad) or 'none given'}; "
                           f"the stages are {', '.join(STAGES)}")
    return [stage for stage in STAGES if stage in names]


def changed_label(task: str, res: Mapping) -> str:
    """How a changed task is named in `changed_tasks`: its name, then the paths it changed where its module says
    which (aifactory_files' `changed_paths`, of each loop item too): `Write the Slurm configuration
    (/etc/slurm/slurm.conf)`."""
    results = [res, *(r for r in res.get("results") or [] if isinstance(r, Mapping))]
    paths = [p for r in results if isinstance(r.get("changed_paths"), list) for p in r["changed_paths"]
             if isinstance(p, str)]
    return f"{task} ({', '.join(paths)})" if paths else task


def would_change_lines(changed_tasks: dict[str, list[str]], indent: str, where: str = "") -> list[str]:
    """A check run's changed tasks as lines, one per host: `<indent>[<where>: ]<host> would change: <tasks>`."""
    return [f"{indent}{where + ': ' if where else ''}{host} would change: {'; '.join(tasks)}"
            for host, tasks in changed_tasks.items()]


@dataclass
class BringupOptions:
    stages: list[str] | None = None
    playbook: Path | None = None
    limit: str | None = None
    check: bool = False
    stack_outputs: Path | None = None
    host_overrides: Path | None = None
    extra_vars: dict = field(default_factory=dict)
    forks: int | None = None
    strategy: str | None = None  # one of STRATEGIES; None: ansible.cfg's (linear unless changed there)
    artifacts_root: Path | None = None  # run directories go to <root>/<site>/; None: the site's state directory


@dataclass
class BringupResult:
    site: str
    playbook: str
    stages: list[str] | None
    check: bool
    status: str
    rc: int
    hosts: dict[str, dict[str, int]]
    run_dir: Path
    unscrubbable: list[str]
    # The acceptance role's verdict per host ({host: {result, counts, skipped: {check: reason}}}).
    acceptance: dict[str, dict] = field(default_factory=dict)
    # The signal that stopped the run (SIGINT, SIGTERM), and where it was then (play, task, counts so far).
    interrupted_by: int | None = None
    interrupted_at: dict = field(default_factory=dict)
    # The tasks that changed each host, in run order (what a re-run that should change nothing did).
    changed_tasks: dict[str, list[str]] = field(default_factory=dict)
    # Per stage: host-task results run, changed, failed, skipped, the steps reported not run, wall seconds (stage_tally).
    stage_results: dict[str, dict] = field(default_factory=dict)
    # Every key the run's plays handed over with `set_stats` (the acceptance verdicts among them).
    custom_stats: dict = field(default_factory=dict)

    @property
    def totals(self) -> dict[str, int]:
        return {key: sum(h[key] for h in self.hosts.values()) for key, _ in STAT_KEYS}

    @property
    def acceptance_incomplete(self) -> list[str]:
        """Hosts whose acceptance is incomplete: checks their hardware profile needs could not run."""
        return incomplete_hosts(self.acceptance)

    @property
    def exit_code(self) -> int:
        """0: the run ended well, no host failed or was unreachable, and every acceptance that ran passed;
        1: a run, host or acceptance check failed; EXIT_ACCEPTANCE_INCOMPLETE (3): nothing failed, but
        acceptance is incomplete on some host (checks that need hardware could not run; not in check
        mode, which runs no tool, so its acceptance is never complete); 130 or 143: stopped by Ctrl-C
        or SIGTERM."""
        if self.interrupted_by is not None:
            return EXIT_SIGNALS.get(self.interrupted_by, 1)
        totals = self.totals
        ran_clean = (self.status == "successful" and self.rc == 0 and bool(self.hosts)
                     and not totals["failed"] and not totals["unreachable"])
        return run_exit_code(ran_clean, self.acceptance, self.check)

    def gate(self, hosts: Iterable[str]) -> Gate:
        """The acceptance gate (aifactory.node.acceptance_gate.judge) of these hosts in this run."""
        return judge(self.exit_code, hosts, self.acceptance, self.hosts)

    def as_dict(self) -> dict:
        return {"site": self.site, "playbook": self.playbook, "stages": self.stages, "check": self.check,
                "status": self.status, "rc": self.rc, "exit_code": self.exit_code, "artifacts": str(self.run_dir),
                "hosts": self.hosts, "totals": self.totals, "acceptance": self.acceptance,
                "acceptance_incomplete": self.acceptance_incomplete, "unscrubbed_secrets": self.unscrubbable,
                "interrupted_by": signal.Signals(self.interrupted_by).name if self.interrupted_by else None,
                "interrupted_at": self.interrupted_at, "changed_tasks": self.changed_tasks,
                "stage_results": self.stage_results}


def select_playbook(options: BringupOptions) -> tuple[Path, str | None]:
    """The playbook to run (site.yml or the one given) and the tags for ansible-playbook's `--tags`:
    the chosen stages in stage order, or None for every stage."""
    try:
        book = Path(options.playbook).resolve() if options.playbook is not None else PLAYBOOKS / "site.yml"
    except (ValueError, OSError, RuntimeError) as err:  # a NUL byte, a symlink loop
        raise BringupError(f"--playbook: unusable path ({err})") from None
    if not book.is_file():
        raise BringupError(f"no such playbook: {book}")
    if options.stages is None:
        return book, None
    return book, ",".join(stage_order(options.stages))


def secret_env(environ: dict[str, str]) -> dict[str, str]:
    """The environment variables whose values are secrets (by name), which runner must never see."""
    return {name: value for name, value in environ.items() if value and SECRET_NAME.search(name)}


def secret_values(environ: dict[str, str]) -> tuple[list[str], list[str]]:
    """(values to scrub, names of secrets too short to scrub safely)."""
    values, short = [], []
    for name, value in environ.items():
        if value and SECRET_NAME.search(name):
            if len(value) >= MIN_SCRUB_LENGTH:
                values.append(value)
            elif name.startswith("AIFACTORY_"):
                short.append(name)
    return sorted(set(values), key=len, reverse=True), short


class Redactor:
    """Replaces every secret value, raw or JSON-escaped, with a mask."""

    def __init__(self, secrets: list[str]):
        forms = set()
        for secret in secrets:
            forms |= {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
        self.forms = sorted(forms, key=len, reverse=True)

    def text(self, value: str) -> str:
        for form in self.forms:
            value = value.replace(form, MASK)
        return value

    def data(self, value):
        """A copy of JSON-like data with every secret in its strings (and keys) masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return value

    def scrub_tree(self, root: Path) -> int:
        """Rewrite every file under root that holds a secret; return how many were rewritten."""
        if not self.forms:
            return 0
        encoded = [(f.encode(), MASK.encode()) for f in self.forms]
        rewritten = 0
        for path in root.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue
            cleaned = data
            for form, mask in encoded:
                cleaned = cleaned.replace(form, mask)
            if cleaned != data:
                path.write_bytes(cleaned)
                rewritten += 1
        return rewritten


class Progress:
    """Live progress from runner events: a line per play, task and host result, or one status line on a TTY."""

    def __init__(self, stream: TextIO, redactor: Redactor, tty: bool | None = None):
        self.stream = stream
        self.redactor = redactor
        self.redact = redactor.text
        self.tty = stream.isatty() if tty is None else tty
        self.play = ""
        self.task = ""
        self.counts = dict.fromkeys(("ok", "changed", "failed", "unreachable", "skipped"), 0)
        self.changed_tasks: dict[str, list[str]] = {}  # host -> tasks that changed it, in run order
        self.tally = StageTally(play_stages(PLAYBOOKS, STAGES))
        self.stats: dict | None = None

    def __call__(self, event: dict) -> bool:
        """ansible-runner event_handler: returns True so the event is also kept in job_events. Runner
        writes the event after this returns, so secrets are masked in it here, in place."""
        if self.redactor.forms:
            masked = self.redactor.data(event)
            event.clear()
            event.update(masked)
        name, data = event.get("event"), event.get("event_data") or {}
        self.tally.tick(self.play, event.get("created"))  # the time since the last event: the play running
        if name == "playbook_on_play_start":
            self.play = data.get("play") or data.get("play_pattern") or ""
            self._line(f"PLAY {self.play} [{data.get('play_pattern', '')}]")
        elif name in ("playbook_on_task_start", "playbook_on_handler_task_start"):
            self.task = data.get("task") or data.get("task_action") or ""
            if not self.tty:
                self._line(f"  TASK {self.task}")
        elif name in RESULT_EVENTS:
            self._result(name, data, task_results.changed(event))
        elif name == "playbook_on_no_hosts_matched":
            self._line(f"  no hosts matched in play {self.play}")
        elif name == "playbook_on_stats":
            self.stats = data
            self._status(final=True)
        return True

    def _result(self, name: str, data: dict, changed: bool) -> None:
        host, res = data.get("host", "?"), data.get("res") or {}
        if name == "runner_on_ok":
            outcome = "changed" if changed else "ok"
        elif name == "runner_on_failed":
            outcome = "ignored" if data.get("ignore_errors") else "failed"
        else:
            outcome = {"runner_on_unreachable": "unreachable", "runner_on_skipped": "skipped"}[name]
        self.counts["ok" if outcome == "ignored" else outcome] += 1
        self.tally.add(self.play, outcome, host, res)
        if outcome == "changed":
            self.changed_tasks.setdefault(host, []).append(self.redact(changed_label(self.task, res)))
        if outcome in ("failed", "unreachable"):
            message = shown(res.get("msg") or res.get("stderr") or res.get("reason") or "", 300)  # no escapes
            self._line(f"    {outcome.upper()}: {host}: {self.task}: {message}")
        elif not self.tty:
            self._line(f"    {outcome}: {host}")
        else:
            self._status()

    def _status(self, final: bool = False) -> None:
        if not self.tty:
            return
        counts = " ".join(f"{k} {v}" for k, v in self.counts.items())
        line = f"[{self.play}] {self.task} | {counts}"[:160]
        self.stream.write("\r\033[2K" + self.redact(line) + ("\n" if final else ""))
        self.stream.flush()

    def _line(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\033[2K")
        self.stream.write(self.redact(text) + "\n")
        self.stream.flush()


def new_run_dir(runs: Path) -> Path:
    """A new run directory, named by its UTC start time, in the site's directory of runs."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_dir, n = runs / stamp, 1
    try:
        while run_dir.exists():
            run_dir, n = runs / f"{stamp}-{n}", n + 1
        run_dir.mkdir(parents=True)
    except (OSError, ValueError) as err:
        raise BringupError(f"cannot create a run directory under {runs} (--artifacts-dir or the state directory): "
                           f"{getattr(err, 'strerror', None) or err}") from None
    return run_dir


def inventory_source(f: Factory, run_dir: Path) -> Path:
    """The site's `aifactory.yml`, or one written into the run directory when the site has none."""
    source = f.site_dir / INVENTORY_SOURCE
    if source.is_file():
        return source
    generated = run_dir / INVENTORY_SOURCE
    generated.write_text(f"plugin: aifactory\nspec: {json.dumps(str(f.site_dir / 'factory.yaml'))}\n")
    return generated


def runner_env(options: BringupOptions) -> dict[str, str]:
    """Non-secret settings for ansible-playbook; secrets stay in the inherited process environment."""
    env = {
        "ANSIBLE_CONFIG": str(ANSIBLE_CFG),
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True",
        # ansible-runner turns host key checking off unless told otherwise.
        "ANSIBLE_HOST_KEY_CHECKING": os.environ.get("ANSIBLE_HOST_KEY_CHECKING", "True"),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    if options.stack_outputs:
        env["AIFACTORY_STACK_OUTPUTS"] = str(Path(options.stack_outputs).resolve())
    if options.host_overrides:
        env["AIFACTORY_HOST_OVERRIDES"] = str(Path(options.host_overrides).resolve())
    if options.strategy == "mitogen":
        env["ANSIBLE_STRATEGY_PLUGINS"] = str(mitogen_strategy_dir())
        env["ANSIBLE_STRATEGY"] = MITOGEN_STRATEGY
    elif options.strategy == "linear":
        env["ANSIBLE_STRATEGY"] = "ansible.builtin.linear"
    elif options.strategy is not None:
        raise BringupError(f"unknown strategy {options.strategy!r}; the strategies are {', '.join(STRATEGIES)}")
    return env


def mitogen_strategy_dir() -> Path:
    """The folder of Mitogen for Ansible's strategy plugins (ansible_mitogen/plugins/strategy), found
    without importing it; a BringupError naming the package when it is not installed."""
    spec = importlib.util.find_spec("ansible_mitogen")
    folder = Path(next(iter(spec.submodule_search_locations or []), "")) / "plugins" / "strategy" if spec else None
    if folder is None or not (folder / f"{MITOGEN_STRATEGY}.py").is_file():
        raise BringupError("--strategy mitogen needs Mitogen for Ansible, which is not installed: "
                           "install the project's dependencies again (pyproject.toml pins PyPI mitogen)")
    return folder


class SecretsPipe:
    """Hands the secrets to `aifactory.node.secret_exec` through a FIFO: a writer thread blocks until the
    wrapper opens it, so the values only ever sit in a kernel pipe, never in a file."""

    def __init__(self, run_dir: Path, secrets: dict[str, str]):
        self.path = run_dir / SECRETS_FIFO
        os.mkfifo(self.path, 0o600)
        self._payload = json.dumps(secrets).encode()
        self._thread = threading.Thread(target=self._write, name="aifactory-secrets-pipe", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        try:
            with open(self.path, "wb") as pipe:
                pipe.write(self._payload)
        except OSError:
            pass  # closed without a reader: the run never started

    def close(self) -> None:
        """Release a writer still waiting for a reader (the run ended first) and remove the FIFO."""
        if self._thread.is_alive():
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
                os.close(fd)
            except OSError:
                pass
            self._thread.join(timeout=5)
        self._payload = b""
        self.path.unlink(missing_ok=True)


class Interruption:
    """SIGINT and SIGTERM during a run: remembered and answered by runner's cancel callback, which
    stops ansible-playbook; the run then ends normally with an accurate summary."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Interruption:
        if threading.current_thread() is threading.main_thread():
            for signum in EXIT_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.signum = self.signum or signum

    def __call__(self) -> bool:
        return self.signum is not None

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def run_bringup(f: Factory, options: BringupOptions, progress_stream: TextIO = sys.stderr) -> BringupResult:
    """Run the playbooks against the site's inventory; secrets never reach the run directory."""
    import ansible_runner  # imported here: ansible-runner is only needed when something runs

    playbook, tags = select_playbook(options)
    run_dir = new_run_dir(Path(options.artifacts_root) / f.name if options.artifacts_root else bringup_runs(f.name))
    marker = register_run(run_dir)
    secrets = secret_env(dict(os.environ))
    scrub_values, unscrubbable = secret_values(secrets)
    redactor = Redactor(scrub_values)
    progress = Progress(progress_stream, redactor)
    # Acceptance results go to the site's state directory whatever playbook the run starts from.
    extra_vars = {"acceptance_results_dir": str(acceptance_dir(f.name)), **options.extra_vars}
    pipe = None
    try:
        with Interruption() as interruption:
            runner = ansible_runner.interface.init_runner(
                private_data_dir=str(run_dir),
                project_dir=str(PROJECT_ROOT),
                ident=RUNNER_IDENT,
                playbook=str(playbook),
                tags=tags,
                inventory=str(inventory_source(f, run_dir)),
                limit=options.limit,
                forks=options.forks,
                extravars=extra_vars,
                cmdline="--check" if options.check else None,
                envvars=runner_env(options),
                suppress_env_files=True,
                passwords=dict(RELEASE_READ_OUTPUT),
                **fact_cache(dict(os.environ)),
                quiet=True,
                event_handler=progress,
                cancel_callback=interruption,
            )
            # How often the cancel callback is asked (runner's default: 5 s). Set here, not as `settings`: with
            # suppress_env_files runner reads its settings back from an env/settings it did not write, and drops them.
            runner.config.pexpect_timeout = 1
            pipe = SecretsPipe(run_dir, secrets)
            keep_secrets_from(runner.config, secrets, pipe.path)
            runner.run()
    finally:
        if pipe is not None:
            pipe.close()
        redactor.scrub_tree(run_dir)
        marker.unlink(missing_ok=True)
    return BringupResult(
        site=f.name,
        playbook=_display_path(playbook),
        stages=tags.split(",") if tags else None,
        check=options.check,
        status=runner.status,
        rc=runner.rc,
        hosts=host_table(progress.stats),
        run_dir=run_dir,
        unscrubbable=unscrubbable,
        acceptance=acceptance_verdicts(progress.stats),
        interrupted_by=interruption.signum,
        interrupted_at={"play": progress.play, "task": progress.task, **progress.counts} if interruption.signum else {},
        changed_tasks=progress.changed_tasks,
        stage_results=progress.tally.as_dict(),
        custom_stats=dict((progress.stats or {}).get("artifact_data") or {}),
    )


# What runs a bring-up: run_bringup, or a stand-in for it in the day-2 procedures' tests.
Runner = Callable[[Factory, BringupOptions], BringupResult]


def keep_secrets_from(config, secrets: dict[str, str], fifo: Path) -> None:
    """Take the secrets out of the environment runner records and starts the process with, and start
    ansible-playbook through `aifactory.node.secret_exec`, which takes them from the FIFO."""
    config.env = {name: value for name, value in config.env.items() if name not in secrets}
    config.env[FIFO_ENV] = str(fifo)
    config.command = [sys.executable, "-m", "aifactory.node.secret_exec", *config.command]


# --- runs that ended without cleaning up (SIGKILL, power loss) ------------------------------------------
def register_run(run_dir: Path) -> Path:
    """Note a run in progress, so that a run killed before it could clean up is found and scrubbed."""
    runs = state_dir() / "bringup-runs"
    runs.mkdir(parents=True, exist_ok=True)
    marker = runs / f"{os.getpid()}-{run_dir.name}.json"
    (run_dir / RUN_TOKEN).write_text(marker.name)  # the run directory names its marker back
    marker.write_text(json.dumps({"pid": os.getpid(), "run_dir": str(run_dir.resolve())}))
    return marker


def _marked_run(marker: Path) -> tuple[int, Path]:
    """(pid, run directory) of a marker, checked as strictly as any input: a small regular JSON file naming
    a live or dead pid and a run directory that names this marker back in its RUN_TOKEN, so a marker
    someone else wrote makes no command rewrite or remove files it names. InputFileError otherwise."""
    record = parse_json(read_text(marker, MARKER_BYTES))
    if not (isinstance(record, dict) and set(record) == {"pid", "run_dir"} and type(record["pid"]) is int
            and record["pid"] > 0 and isinstance(record["run_dir"], str)):
        raise InputFileError("not a run marker ({pid, run_dir})")
    run_dir = Path(record["run_dir"])
    if marker.name != f"{record['pid']}-{run_dir.name}.json":
        raise InputFileError("its name is not its pid and run directory")
    try:
        token = read_text(run_dir / RUN_TOKEN, MARKER_BYTES)
    except InputFileError as err:
        raise InputFileError(f"{run_dir} is no run directory of aifactory's ({RUN_TOKEN}: {err})") from None
    if token != marker.name:
        raise InputFileError(f"{run_dir} is no run directory of this marker's")
    return record["pid"], run_dir


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def scrub_leftovers(environ: dict[str, str], refused: list[str] | None = None) -> list[Path]:
    """Scrub the run directories of bring-ups that ended without cleaning up (their process is gone):
    remove the secrets FIFO and mask every secret value of this environment; return those run dirs.
    A marker that is not one aifactory wrote (_marked_run) is left alone, said in `refused`."""
    runs = state_dir() / "bringup-runs"
    if not runs.is_dir():
        return []
    redactor = Redactor(secret_values(secret_env(environ))[0])
    scrubbed = []
    for marker in sorted(runs.glob("*.json")):
        try:
            pid, run_dir = _marked_run(marker)
        except InputFileError as err:
            if refused is not None:
                refused.append(f"{marker}: {err}: left alone (nothing it names was touched); remove it")
            continue
        if pid != os.getpid() and _alive(pid):
            continue
        if run_dir.is_dir():
            (run_dir / SECRETS_FIFO).unlink(missing_ok=True)
            redactor.scrub_tree(run_dir)
            scrubbed.append(run_dir)
        marker.unlink(missing_ok=True)
    return scrubbed


def fact_cache(environ: dict[str, str]) -> dict[str, str]:
    """ansible-runner's fact-cache settings for the cache ansible.cfg asks for: jsonfile under
    the state directory's ansible-facts/ (or $ANSIBLE_CACHE_PLUGIN_CONNECTION), shared by every run, so a re-run gathers no
    facts it has (ansible.cfg's `gathering = smart`). Left to itself, runner points Ansible at a new
    cache inside each run directory. Another plugin named in $ANSIBLE_CACHE_PLUGIN is left to Ansible."""
    plugin = environ.get("ANSIBLE_CACHE_PLUGIN", "jsonfile")
    if plugin != "jsonfile":
        return {"fact_cache_type": plugin}
    where = Path(environ.get("ANSIBLE_CACHE_PLUGIN_CONNECTION") or fact_cache_dir())
    return {"fact_cache_type": "jsonfile", "fact_cache": str(where.resolve())}


def forget_facts(hosts: list[str], environ: dict[str, str]) -> None:
    """Drop the cached facts of these hosts: they are new machines (a new lab, a re-imaged node)."""
    where = fact_cache(environ).get("fact_cache")
    if where:
        for host in hosts:
            for cached in Path(where).glob(f"*{host}"):
                cached.unlink()


def acceptance_verdicts(stats: dict | None) -> dict[str, dict]:
    """The verdicts the acceptance role handed over with `set_stats` (key `aifactory_acceptance`): runner
    puts a run's aggregated custom stats in the `playbook_on_stats` event as `artifact_data`."""
    verdicts = ((stats or {}).get("artifact_data") or {}).get(ACCEPTANCE_STATS_KEY) or {}
    return {host: v for host, v in sorted(verdicts.items()) if isinstance(v, dict)}


def host_table(stats: dict | None) -> dict[str, dict[str, int]]:
    """Per-host counts from the `playbook_on_stats` event, in the closing table's columns."""
    if not stats:
        return {}
    hosts = sorted({h for _, key in STAT_KEYS for h in (stats.get(key) or {})})
    return {h: {col: int((stats.get(key) or {}).get(h, 0)) for col, key in STAT_KEYS} for h in hosts}


def runner_output_tail(result: BringupResult, lines: int = 15) -> str:
    """The end of ansible-playbook's own output (already scrubbed), for runs that ended early."""
    stdout = result.run_dir / "artifacts" / RUNNER_IDENT / "stdout"
    try:
        text = stdout.read_text(errors="replace")
    except OSError:
        return ""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _display_path(path: Path) -> str:
    try:
        return str(path.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)
