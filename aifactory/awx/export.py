"""`aifactory awx export`: an `awx.awx` playbook that makes in AWX / Automation Platform what a factory's
bring-up needs, and the execution environment's definition (aifactory.awx.execution_environment).

The playbook makes, in order: the organization, the credential types of the site's secrets
(aifactory.awx.credentials) and one empty credential of each (a reference: its values are filled in AWX, and
a re-import never overwrites them), a machine credential for SSH to the nodes (also empty), the execution
environment, one instance group per rack row, the project (the repository, `--scm-url`), the site's inventory
whose source is the project's inventory plugin (`inventories/<site>/aifactory.yml`), one job template per
stage (site.yml with the stage's tag, in stage order), and the bring-up workflow (aifactory.awx.workflow).
The organization, repository, branch and image are play variables (`aifactory_awx_*`) that `-e` overrides."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from aifactory.awx import execution_environment
from aifactory.awx.credentials import (CUSTOM_KIND, STACK_OUTPUTS_TYPE, CredentialType, site_credential_types,
                                       site_secret_variables, stack_outputs_type)
from aifactory.awx.workflow import GATE_STAGE, Node, row_group, rows, workflow_nodes
from aifactory.core import project
from aifactory.core.inputs import BadInput
from aifactory.node.batch_plan import SituationError, in_service_from_records, site_plan
from aifactory.node.stages import site_stages
from aifactory.spec import Factory
from aifactory.spec.validators import shown

PLAYBOOK_FILE = "awx-import.yml"
EE_FILE = "execution-environment.yml"
INVENTORY_SOURCE = "aifactory.yml"
SITE_PLAYBOOK = "playbooks/site.yml"
EE_NAME = "aifactory"
DEFAULT_BRANCH = "main"
DEFAULT_ORGANIZATION = "Default"
DEFAULT_IMAGE = "localhost/aifactory-ee:latest"
DEFAULT_RACKS_PER_ROW = 10
# The play variables the module calls read; `-e` overrides them at import.
ORGANIZATION = "{{ aifactory_awx_organization }}"
SCM_URL = "{{ aifactory_awx_scm_url }}"
SCM_BRANCH = "{{ aifactory_awx_scm_branch }}"
EE_IMAGE = "{{ aifactory_awx_ee_image }}"
REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


class Unsafe(str):
    """A value Ansible must not template (an AWX injector's own template): written with YAML's `!unsafe` tag."""


class _Dumper(yaml.SafeDumper):
    """YAML as ansible-lint's production profile wants it: lists indented under their key, no anchors."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)

    def ignore_aliases(self, data):
        return True


_Dumper.add_representer(Unsafe, lambda dumper, value: dumper.represent_scalar("!unsafe", str(value)))


@dataclass(frozen=True)
class ExportOptions:
    scm_url: str = ""
    scm_branch: str = DEFAULT_BRANCH
    organization: str = DEFAULT_ORGANIZATION
    ee_image: str = DEFAULT_IMAGE
    racks_per_row: int = DEFAULT_RACKS_PER_ROW
    fresh: bool = False  # every node not in service (a first bring-up), whatever the site's records say


def option_problem(options: ExportOptions) -> str | None:
    """Why an option cannot be exported, naming it; None when they all can."""
    if options.scm_url:
        try:
            parts = urlsplit(options.scm_url)
        except ValueError as err:
            return f"--scm-url: not a URL ({err})"
        if parts.password is not None:
            return "--scm-url: holds a password; give AWX the repository's credential instead, never in a URL"
        if any(c.isspace() or not c.isprintable() or c in "\"'{}" for c in options.scm_url):
            return "--scm-url: must not hold spaces, quotes, braces or control characters"
    if not REF.match(options.scm_branch):
        return f"--scm-branch {shown(options.scm_branch)}: not a branch or tag name"
    for flag, value in (("--organization", options.organization), ("--ee-image", options.ee_image)):
        if not value.strip() or any(not c.isprintable() or c in "{}" for c in value):
            return f"{flag} {shown(value)}: must be a non-empty name without braces or control characters"
    if options.racks_per_row < 1:
        return f"--racks-per-row must be at least 1, not {options.racks_per_row}"
    return None


def inventory_source_path(site_dir: Path) -> str:
    """The site's inventory source as a path in the project's repository (the checkout, or the working
    directory of an installed aifactory)."""
    source = site_dir / INVENTORY_SOURCE
    if not source.is_file():
        raise BadInput(f"SITE {shown(str(site_dir), 300)}: has no {INVENTORY_SOURCE} (the inventory source AWX reads)")
    base = (project.checkout() or Path.cwd()).resolve()
    try:
        return source.resolve().relative_to(base).as_posix()
    except ValueError:
        raise BadInput(f"SITE {shown(str(site_dir), 300)}: not inside the project's repository ({shown(str(base), 300)}), "
                       "where AWX finds the inventory source") from None


def _task(name: str, module: str, args: dict) -> dict:
    return {"name": name, f"awx.awx.{module}": args}


def _unsafe(injectors: dict) -> dict:
    """An AWX credential type's injectors, each template marked for Ansible to leave to AWX."""
    return {key: _unsafe(value) if isinstance(value, dict) else Unsafe(value) for key, value in injectors.items()}


def _credential_type_task(kind: CredentialType) -> dict:
    return _task(f"Credential type {kind.name}", "credential_type",
                 {"name": kind.name, "description": kind.description, "kind": CUSTOM_KIND, "inputs": kind.inputs(),
                  "injectors": _unsafe(kind.injectors())})


def _stack_outputs_type_task() -> dict:
    args = stack_outputs_type()
    return _task(f"Credential type {STACK_OUTPUTS_TYPE}", "credential_type", {**args, "injectors": _unsafe(args["injectors"])})


def _credential_task(name: str, kind: str, description: str) -> dict:
    """A credential with no value: AWX holds the values, filled in there; a re-import leaves them."""
    return _task(f"Credential {name} (a reference: its values are set in AWX)", "credential",
                 {"name": name, "description": description, "organization": ORGANIZATION, "credential_type": kind,
                  "update_secrets": False})


def names(site: str) -> dict:
    """The names of the site's objects in AWX."""
    return {"project": f"{site} aifactory", "inventory": site, "inventory_source": f"{site} factory.yaml",
            "workflow": f"{site} bring-up", "machine": f"{site} machine", "stack_outputs": f"{site} stack outputs"}


def job_template_name(site: str, stages: tuple[str, ...], stage: str) -> str:
    return f"{site} {stages.index(stage) + 1:02d} {stage}"


def _node_task(site: str, stages: tuple[str, ...], node: Node, after: Node | None) -> dict:
    args = {"identifier": node.identifier, "workflow_job_template": names(site)["workflow"], "organization": ORGANIZATION,
            "unified_job_template": job_template_name(site, stages, node.stage), "lookup_organization": ORGANIZATION}
    if node.limit:
        args["limit"] = node.limit
    if node.extra_data:
        args["extra_data"] = node.extra_data
    if node.instance_groups:
        args["instance_groups"] = list(node.instance_groups)
    if after is not None:
        args[node.then] = [after.identifier]
    return _task(f"Workflow node {node.identifier}", "workflow_job_template_node", args)


@dataclass(frozen=True)
class Export:
    """What an export made: the import playbook, its workflow's nodes, the site's secret variables that no
    credential type injects."""

    playbook: list[dict]
    nodes: list[Node]
    uninjected: list[str]


def export(f: Factory, site_dir: Path, options: ExportOptions) -> Export:
    """The site's import playbook."""
    site, own = f.name, names(f.name)
    stages = site_stages(project.playbooks() / "site.yml")
    try:
        in_service = set() if options.fresh else in_service_from_records(f)
    except SituationError as err:
        raise BadInput(str(err)) from None
    kinds, uninjected = site_credential_types(site_secret_variables(site_dir))
    credentials = [own["machine"], own["stack_outputs"], *(f"{site} {k.name}" for k in kinds)]
    tasks = [
        {"name": "The repository AWX syncs the project from is given",
         "ansible.builtin.assert": {"that": "aifactory_awx_scm_url | length > 0",
                                    "fail_msg": "give the project's git repository: -e aifactory_awx_scm_url=URL"}},
        _task("Organization", "organization", {"name": ORGANIZATION}),
        *(_credential_type_task(k) for k in kinds),
        _stack_outputs_type_task(),
        _credential_task(own["machine"], "Machine", "SSH to the factory's nodes and head nodes"),
        _credential_task(own["stack_outputs"], STACK_OUTPUTS_TYPE, "The AWS stack's outputs, for the inventory plugin"),
        *(_credential_task(f"{site} {k.name}", k.name, k.description) for k in kinds),
        _task("Execution environment with aifactory installed", "execution_environment",
              {"name": EE_NAME, "image": EE_IMAGE, "organization": ORGANIZATION, "pull": "missing"}),
        *(_task(f"Instance group of rack row {row}", "instance_group", {"name": row_group(site, row)})
          for row in rows(f, options.racks_per_row)),
        _task("Project", "project",
              {"name": own["project"], "organization": ORGANIZATION, "scm_type": "git", "scm_url": SCM_URL,
               "scm_branch": SCM_BRANCH, "default_environment": EE_NAME, "scm_update_on_launch": True, "wait": True}),
        _task("Inventory", "inventory", {"name": own["inventory"], "organization": ORGANIZATION,
                                         "description": f"{site}: hosts and groups from factory.yaml"}),
        _task("Inventory source: the project's aifactory inventory plugin", "inventory_source",
              {"name": own["inventory_source"], "inventory": own["inventory"], "organization": ORGANIZATION,
               "source": "scm", "source_project": own["project"], "source_path": inventory_source_path(site_dir),
               "credential": own["stack_outputs"], "execution_environment": EE_NAME, "overwrite": True,
               "overwrite_vars": True, "update_on_launch": True}),
        *(_task(f"Job template of stage {stage}", "job_template",
                {"name": job_template_name(site, stages, stage), "organization": ORGANIZATION, "job_type": "run",
                 "inventory": own["inventory"], "project": own["project"], "playbook": SITE_PLAYBOOK, "job_tags": stage,
                 "credentials": credentials, "execution_environment": EE_NAME, "ask_limit_on_launch": True,
                 "ask_variables_on_launch": True, "ask_instance_groups_on_launch": True})
          for stage in stages),
        _task("Bring-up workflow (its nodes are made again below)", "workflow_job_template",
              {"name": own["workflow"], "organization": ORGANIZATION,
               "description": f"{site}: the stages in site.yml's order; batches with the {GATE_STAGE} gate after each",
               "allow_simultaneous": False, "destroy_current_nodes": True}),
    ]
    nodes = workflow_nodes(f, site_plan(f, stages, in_service, []), options.racks_per_row)
    # A node's success_nodes must exist when it is made: the last node first.
    tasks += [_node_task(site, stages, node, nodes[i + 1] if i + 1 < len(nodes) else None)
              for i, node in reversed(list(enumerate(nodes)))]
    play = {"name": f"Make in AWX what the bring-up of {site} needs", "hosts": "localhost", "connection": "local",
            "gather_facts": False,
            "vars": {"aifactory_awx_organization": options.organization, "aifactory_awx_scm_url": options.scm_url,
                     "aifactory_awx_scm_branch": options.scm_branch, "aifactory_awx_ee_image": options.ee_image},
            "tasks": tasks}
    return Export([play], nodes, uninjected)


def dumped(document: object, header: str) -> str:
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)
    return "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines()) + "---\n" + body


def write_export(out: Path, f: Factory, site_dir: Path, options: ExportOptions) -> tuple[Export, list[Path]]:
    """Write the import playbook and the EE definition into `out`: (the export, the files written)."""
    made = export(f, site_dir, options)
    files = {
        out / PLAYBOOK_FILE: dumped(made.playbook, f"Generated by `aifactory awx export` for {f.name}: run it where the awx.awx "
                                          "collection reaches the controller\n(CONTROLLER_HOST and its credentials in the "
                                          "environment). Holds no secret; docs/AWX.md."),
        out / EE_FILE: dumped(execution_environment.definition(options.scm_url, options.scm_branch),
                              f"Generated by `aifactory awx export` for {f.name}: the execution environment\n"
                              f"(ansible-builder build -f {EE_FILE} -t IMAGE). docs/AWX.md."),
    }
    try:
        out.mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            path.write_text(text)
    except OSError as err:
        raise BadInput(f"--out {shown(str(out), 300)}: cannot write: {err.strerror or err}") from None
    return made, list(files)
