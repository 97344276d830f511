"""`aifactory awx export SITE --out DIR`: what AWX / Automation Platform needs to run the site's bring-up."""

from __future__ import annotations

import sys
from pathlib import Path

from aifactory.awx.export import (DEFAULT_BRANCH, DEFAULT_IMAGE, DEFAULT_ORGANIZATION, DEFAULT_RACKS_PER_ROW, EE_FILE,
                                  PLAYBOOK_FILE, ExportOptions, option_problem, write_export)
from aifactory.commands.paths import output_dir
from aifactory.spec import load_spec
from aifactory.spec.validators import shown


def register(sub) -> None:
    p = sub.add_parser("awx", help="AWX / Automation Platform: run the factory past one controller")
    actions = p.add_subparsers(dest="awx_command", required=True, metavar="ACTION")
    e = actions.add_parser("export", help="write an awx.awx playbook (project, inventory, credential references, "
                                          "job templates, bring-up workflow) and an execution environment definition")
    e.add_argument("spec", metavar="SITE", help="the site directory (or its factory.yaml), inside the project's repository")
    e.add_argument("--out", type=output_dir, required=True, metavar="DIR", help=f"where {PLAYBOOK_FILE} and {EE_FILE} go")
    e.add_argument("--scm-url", default="", metavar="URL",
                   help="the git repository AWX syncs the project from (no password in it: AWX's SCM credential "
                        "holds that); without it, give -e aifactory_awx_scm_url=URL at import")
    e.add_argument("--scm-branch", default=DEFAULT_BRANCH, metavar="BRANCH", help="its branch or tag (default: %(default)s)")
    e.add_argument("--organization", default=DEFAULT_ORGANIZATION, help="the AWX organization (default: %(default)s)")
    e.add_argument("--ee-image", default=DEFAULT_IMAGE, metavar="IMAGE",
                   help="the execution environment image built from the definition (default: %(default)s)")
    e.add_argument("--racks-per-row", type=int, default=DEFAULT_RACKS_PER_ROW, metavar="N",
                   help="racks in a row: one instance group per row runs that row's batches (default: %(default)s)")
    e.add_argument("--fresh", action="store_true",
                   help="plan the batches of a first bring-up (no node in service) instead of reading the site's "
                        "acceptance records, as bringup --batches --fresh")
    e.set_defaults(func=run_export)


def run_export(args) -> int:
    options = ExportOptions(scm_url=args.scm_url, scm_branch=args.scm_branch, organization=args.organization,
                            ee_image=args.ee_image, racks_per_row=args.racks_per_row, fresh=args.fresh)
    problem = option_problem(options)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    f = load_spec(args.spec)  # a bad spec raises SpecError: the CLI prints it and exits 2
    site = Path(args.spec)
    site_dir = site if site.is_dir() else site.parent
    made, files = write_export(args.out, f, site_dir, options)
    for variable in made.uninjected:
        print(f"warning: {variable}: the site's secrets.yml reads it from the environment, but no aifactory credential "
              "type injects it; add a credential type for it in AWX", file=sys.stderr)
    for path in files:
        print(f"wrote {shown(str(path), 300)}")
    print(f"{f.name}: a workflow of {len(made.nodes)} nodes; import it with ansible-playbook "
          f"{shown(str(args.out / PLAYBOOK_FILE), 300)}" + ("" if options.scm_url else " -e aifactory_awx_scm_url=URL"))
    return 0
