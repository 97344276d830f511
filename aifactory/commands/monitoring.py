"""`aifactory monitoring SITE --out DIR`: the site's Prometheus and Alertmanager configuration, alert rules and
Grafana dashboards.

Writes prometheus.yml, rules/aifactory-alerts.yml, dashboards/<uid>.json (Grafana's JSON model, for the customer's
Grafana: aifactory.monitoring.dashboards) and, per head node, its alertmanager.yml (the spec's receivers
and, with monitoring.enabled, the acting receiver on that head node) and the Debian /etc/default/prometheus lines
with its command-line flags (and environment). With monitoring.amp_remote_write,
prometheus.yml also writes to the AMP workspace whose URL `--stack-outputs` holds; without that file it has no
remote_write (metrics stay on the head nodes) and a note says so. Connects to nothing. Exit 0 when written, 2 on a
bad spec, bad host overrides or stack outputs, or a directory that cannot be written.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from aifactory.commands.paths import input_file, output_dir
from aifactory.commands.runner_options import HOST_OVERRIDES_HELP, bad_input
from aifactory.monitoring import alerts, dashboards, prometheus_config as pc
from aifactory.node.inventory import InventoryInputError, build_inventory, load_host_overrides
from aifactory.spec import load_spec


def register(sub) -> None:
    p = sub.add_parser("monitoring", help="write the site's Prometheus and Alertmanager configuration, alert rules and "
                                          "Grafana dashboards")
    p.add_argument("spec", metavar="SITE", help="factory.yaml or the site directory holding it")
    p.add_argument("--out", metavar="DIR", type=output_dir, required=True, help="directory to write the files into")
    p.add_argument("--host-overrides", type=input_file, metavar="FILE",
                   help=f"{HOST_OVERRIDES_HELP}; hosts with aifactory_absent are not scraped")
    p.add_argument("--stack-outputs", type=input_file, metavar="FILE",
                   help="`pulumi stack output --json` of the site's stack: with monitoring.amp_remote_write, "
                        f"Prometheus writes to the AMP workspace at its {pc.AMP_OUTPUT}")
    p.set_defaults(func=run_monitoring)


def site_files(spec: str | Path, host_overrides: dict | None = None, stack_outputs: str | Path | None = None) -> dict[str, str]:
    """{relative path: content} of everything the command writes."""
    f = load_spec(spec)
    inv = build_inventory(f, host_overrides=host_overrides)
    amp_url = pc.load_remote_write_url(f, stack_outputs) if stack_outputs else None
    if f.monitoring.amp_remote_write and amp_url is None:
        print("note: monitoring.amp_remote_write is true but no --stack-outputs was given: prometheus.yml has no "
              "remote_write (metrics stay on the head nodes)", file=sys.stderr)
    environment = "".join(f"{name}={shlex.quote(value)}\n" for name, value in pc.prometheus_environment(f, amp_url).items())
    files = {
        "prometheus.yml": pc.as_yaml(pc.prometheus_config(f, inv, amp_url=amp_url), "prometheus.yml", f),
        f"rules/{alerts.RULES_FILE}": alerts.rules_yaml(f),
        **{f"dashboards/{d['uid']}.json": json.dumps(d, indent=2) + "\n" for d in dashboards.dashboards(f)},
    }
    for head in pc.scrape_targets(inv)[1]:
        flags = shlex.join(pc.prometheus_flags(f, head.address))
        files[f"default/{head.host}.prometheus"] = (f"# /etc/default/prometheus on {head.host}\nARGS={shlex.quote(flags)}\n"
                                                    f"{environment}")
        files[f"alertmanager/{head.host}.yml"] = pc.as_yaml(pc.alertmanager_config(f, head.address),
                                                          f"alertmanager.yml of {head.host}", f)
    return files


def run_monitoring(args) -> int:
    try:
        files = site_files(args.spec, load_host_overrides(args.host_overrides) if args.host_overrides else None,
                           args.stack_outputs)
    except InventoryInputError as err:
        return bad_input(err)
    try:
        for name, content in files.items():
            path = Path(args.out) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    except OSError as err:
        print(f"error: --out {args.out}: {name} could not be written ({err.strerror or err})", file=sys.stderr)
        return 2
    for name in files:
        print(Path(args.out) / name)
    return 0
