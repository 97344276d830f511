"""The Ansible inventory of a factory, as plain data: groups, group vars and host vars.

Built from the typed spec, plus optional Pulumi stack outputs and per-host overrides. The inventory
plugin (`playbooks/inventory_plugins/aifactory.py`) only copies this into Ansible's inventory, so
the layout below is the contract the playbooks rely on:

- `nodes` (children `rack01`, `rack02`, ...): every compute node;
- `gpu_nodes` or `trainium_nodes`, `platform_<platform>`: parents of `nodes`;
- `bmcs` (children `switch_tray_bmcs`, `node_bmcs`): one host per BMC, driven from the controller;
- `factory_<name>` (children `nodes`, `bmcs`): holds the vars every host shares, set once;
- `head_nodes` (child `slurm_accounting`, the one running slurmdbd): the scheduler's head nodes
  (`<factory>-head01`...), and `slurm_cluster` (children `head_nodes`, `nodes`) with the munge, slurm
  and slurmdbd roles' variables; absent when `scheduler.kind` is none.

The roles' variables come from `aifactory.node.role_vars`: those of every node on `nodes`, the NVLink
domain's on each rack group. What a host lacks comes as capability variables in its host overrides
(the lab's containers set them): a role's own (`os_baseline_apply_sysctl: false`), or an inventory-level
one that several roles act on (`aifactory_kernel_modules: false`, `role_vars.HOST_CAPABILITIES`), spelled
here as each role's variable; the Slurm files lack what one host lacks (`role_vars.CLUSTER_CAPABILITIES`).
The old lab switches (`aifactory_stand_in`, `<role>_stand_in`) are refused, naming the capability
variables to set instead. A host override `aifactory_absent: true` leaves that
host out of the inventory (a tray that is not there: out for repair, or not booted in the lab); its
name and address stay reserved, and no other host moves. `factory_<name>` lists them in
`aifactory_absent_hosts`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from aifactory.core.inputs import InputFileError, parse_json, read_text
from aifactory.node.role_docs import ROLES, argument_specs
from aifactory.node.role_vars import (CLUSTER_CAPABILITIES, HOST_CAPABILITIES, OLD_STAND_IN_SWITCHES, capability_vars, cluster_capabilities, os_baseline_vars,
                                      rack_vars, role_vars, scheduler_vars, shared_storage_vars)
from aifactory.spec import Factory, Problem, rack_group
from aifactory.spec.naming import MARKS, absent_hosts, bmc_host, mark_problems
from aifactory.spec.validators.registry import Kind

# The stack output (infra/factory_stack.py) holding the AMP workspace's remote-write URL, with monitoring's
# amp_remote_write: Prometheus on the head nodes writes there (aifactory.monitoring.prometheus_config).
AMP_OUTPUT = "amp_remote_write_url"
# Pulumi stack outputs the roles get (`aws_node_identity_outputs`, the Bedrock endpoint in `acceptance_expected`): an
# allow-list, so that a secret output such as `ssm_activation_code` can never reach inventory vars,
# whatever the stack exports.
AWS_OUTPUT_KEYS = ("region", "endpoint_dns", "trust_anchor_arn", "node_profile_arn", "node_role_arn",
                   "ssm_activation_id", AMP_OUTPUT)
# The variable (on `factory_<name>`) naming the stack outputs the awslink stage needs: playbooks/validate.yml
# refuses to run the stage without them.
AWSLINK_REQUIRED_VAR = "aifactory_awslink_required_outputs"
# The variable (on `factory_<name>`) that runs the monitoring stage: the spec's monitoring.enabled
# (playbooks/monitoring.yml reports the stage skipped without it).
MONITORING_VAR = "aifactory_monitoring_enabled"


class InventoryInputError(Exception):
    """A stack-outputs or host-overrides file cannot be used; `problems` lists every reason."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(str(p) for p in problems))


@dataclass
class Group:
    name: str
    children: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    vars: dict = field(default_factory=dict)


@dataclass
class Inventory:
    """Groups in creation order (parents before children) and the vars of each host."""

    groups: dict[str, Group] = field(default_factory=dict)
    hostvars: dict[str, dict] = field(default_factory=dict)

    def group(self, name: str, *, parent: str | None = None) -> Group:
        group = self.groups.setdefault(name, Group(name))
        if parent is not None:
            self.groups[parent].children.append(name)
        return group

    def add_host(self, group: str, host: str, hostvars: dict) -> None:
        self.groups[group].hosts.append(host)
        self.hostvars[host] = hostvars

    def remove_host(self, host: str) -> None:
        for g in self.groups.values():
            if host in g.hosts:
                g.hosts.remove(host)
        del self.hostvars[host]

    def to_ansible_list(self) -> dict:
        """The shape `ansible-inventory --list --export` prints (group vars not merged into hosts)."""
        data: dict = {"_meta": {"hostvars": self.hostvars}, "all": {"children": []}}
        children = {c for g in self.groups.values() for c in g.children}
        for g in self.groups.values():
            entry = {k: v for k, v in (("children", g.children), ("hosts", g.hosts), ("vars", g.vars)) if v}
            data[g.name] = entry
            if g.name not in children:
                data["all"]["children"].append(g.name)
        return data


def group_name(prefix: str, value: str) -> str:
    """An Ansible-safe group name: `platform_nvidia_gb200_nvl72`."""
    return f"{prefix}_{value.replace('-', '_').replace('.', '_')}"


def factory_vars(f: Factory) -> dict:
    """The vars every host of the factory shares: which factory and platform it is, and the stack outputs
    its awslink stage needs. What the roles need is on `nodes` (`aifactory.node.role_vars`)."""
    return {"aifactory_factory_name": f.name, "aifactory_platform": f.compute.platform,
            AWSLINK_REQUIRED_VAR: awslink_required_outputs(f), MONITORING_VAR: f.monitoring.enabled}


def build_inventory(f: Factory, stack_outputs: dict | None = None, host_overrides: dict | None = None,
                    controller_python: str | None = None) -> Inventory:
    """The whole inventory of a factory. Host overrides are applied last and name known hosts only.

    `controller_python` is the Python running Ansible, which the BMC hosts' Redfish modules run in.
    """
    problems = stack_output_problems(f, stack_outputs or {})
    if problems:
        raise InventoryInputError("stack outputs", problems)
    inv = Inventory()
    factory = inv.group(group_name("factory", f.name))
    factory.vars = factory_vars(f)

    inv.group("nodes", parent=factory.name).vars = role_vars(f, aws_vars(stack_outputs or {}))
    stack_group = "trainium_nodes" if f.platform.software_stack == "neuron" else "gpu_nodes"
    for parent in (stack_group, group_name("platform", f.compute.platform)):
        inv.group(parent, parent=factory.name)
        inv.groups[parent].children.append("nodes")
    # BMCs are driven from the controller (Redfish over HTTPS), never logged into.
    bmcs = inv.group("bmcs", parent=factory.name)
    bmcs.vars = {"ansible_connection": "local"}
    if controller_python:
        bmcs.vars["ansible_python_interpreter"] = controller_python
    inv.group("switch_tray_bmcs", parent="bmcs").vars = {"aifactory_bmc_kind": "switch-tray"}
    inv.group("node_bmcs", parent="bmcs").vars = {"aifactory_bmc_kind": "compute"}

    for rack in range(1, f.compute.racks + 1):
        inv.group(rack_group(rack), parent="nodes").vars = rack_vars(f, rack_group(rack))
    if f.head_nodes:
        add_scheduler_groups(inv, f, factory.name)
    for tray in f.switch_trays:
        inv.add_host("switch_tray_bmcs", bmc_host(tray.name), _bmc_vars(tray.rack, tray.bmc_address))
    for node in f.nodes:
        inv.add_host(node.rack_group, node.name, {
            "ansible_host": node.address,
            "aifactory_rack": node.rack,
            "aifactory_rack_group": node.rack_group,
            "aifactory_slot": node.slot,
            "aifactory_bmc_address": node.bmc_address,
            "aifactory_storage_address": node.storage_address,
        })
        inv.add_host("node_bmcs", bmc_host(node.name), _bmc_vars(node.rack, node.bmc_address))

    if host_overrides:
        unknown = sorted(set(host_overrides) - set(inv.hostvars))
        if unknown:
            raise InventoryInputError("host overrides", [
                Problem(h, "no such host in this factory", None) for h in unknown])
        old = old_switch_problems(host_overrides)
        if old:
            raise InventoryInputError("host overrides", old)
        for host, overrides in host_overrides.items():
            inv.hostvars[host].update({**capability_vars(overrides), **overrides})
        absent = absent_hosts(host_overrides)
        for host in absent:
            inv.remove_host(host)
        if absent:
            factory.vars["aifactory_absent_hosts"] = absent
    if f.head_nodes:  # after the overrides: absent nodes are FUTURE nodes, the files lack what a host lacks
        capable = cluster_capabilities(list((host_overrides or {}).values()))
        inv.groups["slurm_cluster"].vars = {
            **scheduler_vars(f, absent=factory.vars.get("aifactory_absent_hosts", []), kernel_modules=capable["aifactory_kernel_modules"],
                             dedicated_resources=capable["aifactory_dedicated_resources"]),
            "os_baseline_hosts_group": "slurm_cluster"}
    return inv


def old_switch_problems(host_overrides: dict) -> list[Problem]:
    """One problem per old lab switch set in the host overrides, naming the capability variables to set instead."""
    return [Problem(f"{host}.{name}", "the lab switch is gone: set what the host lacks as capability variables "
                    f"instead ({', '.join(OLD_STAND_IN_SWITCHES[name])})", value)
            for host, overrides in host_overrides.items() if isinstance(overrides, dict)
            for name, value in overrides.items() if name in OLD_STAND_IN_SWITCHES]


def add_scheduler_groups(inv: Inventory, f: Factory, factory_group: str) -> None:
    """`head_nodes` and `slurm_cluster` (whose vars are set once the host overrides are known). Head nodes
    get the OS baseline and shared mounts in the scheduler stage, and every host of the cluster lists the
    others in /etc/hosts (`os_baseline_hosts_group`)."""
    head = inv.group("head_nodes", parent=factory_group)
    head.vars = {**os_baseline_vars(f), **shared_storage_vars(f)}
    inv.group("slurm_cluster", parent=factory_group).children += ["head_nodes", "nodes"]
    accounting = inv.group("slurm_accounting", parent="head_nodes")
    for h in f.head_nodes:
        inv.add_host("head_nodes", h.name, {"ansible_host": h.address, "aifactory_head_services": list(h.services)})
        if "slurmdbd" in h.services:
            accounting.hosts.append(h.name)


def _bmc_vars(rack: int, address: str) -> dict:
    return {
        "aifactory_bmc_address": address,
        "bmc_endpoint": f"https://{address}",
        "aifactory_rack": rack,
        "aifactory_rack_group": rack_group(rack),
    }


def awslink_required_outputs(f: Factory) -> list[str]:
    """The stack outputs the awslink stage acts on: every one the playbooks consume, the SSM activation
    id only where the spec asks for the hybrid activation (no other stack exports it)."""
    return [key for key in AWS_OUTPUT_KEYS
            if key != AMP_OUTPUT and (key != "ssm_activation_id" or f.identity.ssm_hybrid_activation)]


def aws_vars(stack_outputs: dict) -> dict:
    """The allow-listed, non-secret stack outputs; `{}` when there are none."""
    return {key: stack_outputs[key] for key in AWS_OUTPUT_KEYS if key in stack_outputs}


def _partition(region: str) -> str:
    """The AWS partition a region belongs to (the ARN's second field)."""
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def amp_url_pattern(region: str) -> re.Pattern:
    """An AMP workspace's remote-write URL in `region`, at the name the aps-workspaces endpoint answers privately."""
    return re.compile(rf"https://aps-workspaces\.{re.escape(region)}\.amazonaws\.com/workspaces/ws-[A-Za-z0-9-]+"
                      r"/api/v1/remote_write")


def amp_url_problem(region: str, url: object) -> Problem | None:
    """Why `url` is not the home region's AMP workspace, at its private endpoint's name; None when it is."""
    if isinstance(url, str) and amp_url_pattern(region).fullmatch(url):
        return None
    return Problem(AMP_OUTPUT, f"must be https://aps-workspaces.{region}.amazonaws.com/workspaces/<workspace id>"
                   "/api/v1/remote_write: the home region's workspace, through the private endpoint", url)


def stack_output_problems(f: Factory, outputs: dict) -> list[Problem]:
    """Stack outputs of another stack refused: the region, each ARN's partition and region, each AWS endpoint's
    DNS name and the AMP workspace's URL must be the spec's home region's, and every ARN of one account."""
    region = f.sovereignty.region
    problems = []
    if outputs.get("region") not in (None, region):
        problems.append(Problem("region", f"the stack is in another region than {f.name}'s home region {region}",
                                outputs["region"]))
    accounts = {}
    for key in sorted(k for k in AWS_OUTPUT_KEYS if k.endswith("_arn") and outputs.get(k) is not None):
        parts = str(outputs[key]).split(":", 5)
        if len(parts) < 6 or parts[0] != "arn" or not parts[4].isdigit():
            problems.append(Problem(key, "not an ARN with an account (arn:PARTITION:SERVICE:REGION:ACCOUNT:...)",
                                    outputs[key]))
            continue
        if parts[1] != _partition(region) or parts[3] not in ("", region):
            problems.append(Problem(key, f"of another partition or region than {f.name}'s home region {region}",
                                    outputs[key]))
        accounts[key] = parts[4]
    if len(set(accounts.values())) > 1:
        problems.append(Problem(", ".join(accounts), "ARNs of different AWS accounts: one stack is one account",
                                sorted(set(accounts.values()))))
    for service, dns in sorted((outputs.get("endpoint_dns") or {}).items()):
        if str(dns).endswith(".amazonaws.com") and region not in str(dns).split("."):
            problems.append(Problem(f"endpoint_dns.{service}", f"an endpoint outside {f.name}'s home region {region}",
                                    dns))
    if outputs.get(AMP_OUTPUT) is not None and (problem := amp_url_problem(region, outputs[AMP_OUTPUT])):
        problems.append(problem)
    return problems


def load_stack_outputs(path: str | Path) -> dict:
    """Read `pulumi stack output --json` output (never with --show-secrets: no secret belongs in a file),
    keeping only what inventory may hold."""
    data = _read_json_mapping(path, "stack outputs")
    problems = []
    dns = data.get("endpoint_dns")
    if dns is not None and not (isinstance(dns, dict) and all(isinstance(v, str) for v in dns.values())):
        problems.append(Problem("endpoint_dns", "must map each service to a DNS name", Kind(type(dns).__name__)))
    for key in set(AWS_OUTPUT_KEYS) - {"endpoint_dns"}:
        if data.get(key) is not None and not isinstance(data[key], str):
            problems.append(Problem(key, "must be a string", Kind(type(data[key]).__name__)))
    if problems:
        raise InventoryInputError(str(path), problems)
    return aws_vars(data)


def load_host_overrides(path: str | Path) -> dict:
    """Read a `{hostname: {var: value}}` JSON file."""
    data = _read_json_mapping(path, "host overrides")
    problems = [Problem(host, "must map variable names to values", Kind(type(v).__name__))
                for host, v in data.items() if not isinstance(v, dict)]
    problems += [Problem(host, message, given) for host, message, given in mark_problems(data)]
    problems += boolean_problems(data)
    if problems:
        raise InventoryInputError(str(path), problems)
    return data


@functools.cache
def boolean_variables() -> frozenset[str]:
    """The host variables that are booleans: every role variable whose argument spec says `type: bool`,
    the cluster's capabilities and each host capability that feeds boolean role variables
    (aifactory.node.role_vars)."""
    names = set(CLUSTER_CAPABILITIES)
    for role in sorted(ROLES.iterdir()):
        if (role / "meta" / "argument_specs.yml").is_file():
            for spec in argument_specs(role).values():
                names.update(n for n, option in (spec.get("options") or {}).items() if option.get("type") == "bool")
    names.update(name for name, fed in HOST_CAPABILITIES.items() if set(fed) <= names)
    return frozenset(names)


def boolean_problems(host_overrides: dict) -> list[Problem]:
    """One problem per boolean host variable given as anything but true or false (the string "false" is
    true to Jinja): the marks are naming's (mark_problems)."""
    return [Problem(f"{host}.{name}", "must be true or false (a JSON boolean, not a string or a number)", value)
            for host, host_vars in host_overrides.items() if isinstance(host_vars, dict)
            for name, value in host_vars.items()
            if name in boolean_variables() and name not in MARKS and not isinstance(value, bool)]


def _read_json_mapping(path: str | Path, what: str) -> dict:
    try:
        data = parse_json(read_text(path))
    except InputFileError as err:
        raise InventoryInputError(str(path), [Problem("(file)", f"{what}: {err}")]) from None
    if not isinstance(data, dict):
        raise InventoryInputError(str(path), [Problem("(top level)", "must be a JSON object", Kind(type(data).__name__))])
    return data
