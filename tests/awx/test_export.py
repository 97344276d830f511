"""`aifactory awx export`: every module call of the import playbook is one the awx.awx modules accept (their own
argument specs, read from the modules), no secret value reaches the files, the workflow follows the stage order
and the batch plan with the acceptance gate after each batch, and bad input exits 2."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.inventory.manager import split_host_pattern
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from aifactory.awx.credentials import CREDENTIAL_TYPES, site_credential_types, site_secret_variables
from aifactory.awx.execution_environment import SOURCE_ARG, pinned
from aifactory.awx.workflow import ALWAYS, GATE_STAGE, SUCCESS, row_group, workflow_nodes
from aifactory.cli import main
from aifactory.core.userstate import acceptance_dir
from aifactory.node.batch_plan import MAX_FAIL_VAR, site_plan
from aifactory.node.batches import SERIAL_VAR, situation_batches
from aifactory.node.bringup import SECRET_NAME, STAGES
from aifactory.spec import load_spec
from aifactory.spec.naming import rack_group
from bench.specs import scaled_plan_site
from tests.conftest import REPO, SITES, site_dir

SITE = "inventories/paris-gb200"
MODULES = "ansible_collections.awx.awx.plugins.modules"
SCM_URL = "https://git.example.com/factory/aifactory.git"


class _Captured(Exception):
    pass


def module_spec(module: str) -> dict:
    """The keyword arguments an awx.awx module builds its ControllerAPIModule with (argument_spec,
    mutually_exclusive, required_if, ...), read by running its main() up to that point."""
    loaded = importlib.import_module(f"{MODULES}.{module}")
    seen = {}

    def capture(*args, **kwargs):
        seen.update(kwargs)
        raise _Captured

    original = loaded.ControllerAPIModule
    loaded.ControllerAPIModule = capture
    try:
        loaded.main()
    except _Captured:
        pass
    finally:
        loaded.ControllerAPIModule = original
    assert "argument_spec" in seen, f"awx.awx.{module} did not build its module"
    return seen


def spec_errors(module: str, params: dict) -> list[str]:
    """Why the awx.awx module refuses the parameters (unknown option, missing required one, bad choice or
    type, a broken mutually_exclusive or required_if), by Ansible's own validator and the module's spec."""
    built = module_spec(module)
    validator = ArgumentSpecValidator(built["argument_spec"], **{k: built[k] for k in (
        "mutually_exclusive", "required_together", "required_one_of", "required_if", "required_by") if k in built})
    result = validator.validate(params)
    return [str(e) for e in result.errors]


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def export(out: Path, *extra: str, site: str = SITE) -> int:
    return main(["awx", "export", site, "--out", str(out), *extra])


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("awx")
    assert export(out, "--scm-url", SCM_URL, "--fresh") == 0
    return out


def tasks_of(out: Path) -> list[dict]:
    plays = yaml.load((out / "awx-import.yml").read_text(), Loader=_Loader)
    assert len(plays) == 1
    return plays[0]["tasks"]


def calls(out: Path) -> list[tuple[str, dict]]:
    """(module, arguments) of each task."""
    found = []
    for task in tasks_of(out):
        (module,) = [key for key in task if key != "name"]
        found.append((module, task[module]))
    return found


def chain(out: Path) -> list[tuple[dict, str]]:
    """The workflow's nodes from its one root along the edges: (node arguments, the edge that led on from it)."""
    nodes = {args["identifier"]: args for module, args in calls(out) if module == "awx.awx.workflow_job_template_node"}
    targets = {t for args in nodes.values() for edge in (SUCCESS, ALWAYS, "failure_nodes") for t in args.get(edge, [])}
    (root,) = [name for name in nodes if name not in targets]
    order, current = [], root
    while current:
        args = nodes[current]
        edges = [(edge, args[edge]) for edge in (SUCCESS, ALWAYS, "failure_nodes") if edge in args]
        assert len(edges) <= 1 and all(len(t) == 1 for _, t in edges), args
        order.append((args, edges[0][0] if edges else ""))
        current = edges[0][1][0] if edges else None
    assert len(order) == len(nodes), "every node is on the one path"
    return order


def hosts_of(f, limit: str) -> list[str]:
    """The nodes a batch's limit names, in rack and slot order (a rack group: its nodes)."""
    by_group = {rack_group(n.rack): [] for n in f.nodes}
    for n in f.nodes:
        by_group[rack_group(n.rack)].append(n.name)
    return [name for part in split_host_pattern(limit) for name in by_group.get(part, [part])]


def test_every_module_call_passes_the_awx_modules_own_argument_specs(exported):
    used = set()
    for module, args in calls(exported):
        if module == "ansible.builtin.assert":
            continue
        namespace, collection, name = module.split(".")
        assert (namespace, collection) == ("awx", "awx"), module
        assert spec_errors(name, args) == [], (module, args)
        used.add(name)
    assert {"organization", "credential_type", "credential", "execution_environment", "instance_group", "project",
            "inventory", "inventory_source", "job_template", "workflow_job_template", "workflow_job_template_node"} <= used


def test_the_spec_check_refuses_an_unknown_option_a_missing_required_one_and_a_bad_choice():
    assert any("nonsense" in e for e in spec_errors("job_template", {"name": "x", "nonsense": 1}))
    assert any("name" in e for e in spec_errors("job_template", {"playbook": "site.yml"}))
    assert any("job_type" in e for e in spec_errors("job_template", {"name": "x", "job_type": "deploy"}))
    assert any("identifier" in e for e in spec_errors("workflow_job_template_node", {"workflow_job_template": "w"}))
    assert spec_errors("workflow_job_template_node", {"identifier": "a", "workflow_job_template": "w",
                                                      "unified_job_template": "t", "approval_node": {"name": "n"}})


def test_the_playbook_is_one_ansible_reads(exported):
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--syntax-check", "awx-import.yml"],
                          cwd=exported, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_playbook_passes_ansible_lint_production(exported):
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-lint"), "--offline", "--nocolor", "--profile",
                           "production", "awx-import.yml"], cwd=exported, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_injectors_are_left_to_awx_to_render(exported):
    text = (exported / "awx-import.yml").read_text()
    assert "AIFACTORY_BMC_PASSWORD: !unsafe '{{ bmc_password }}'" in text


def test_no_secret_value_reaches_the_export(tmp_path, monkeypatch, capsys):
    markers = {}
    for variable in [*site_secret_variables(site_dir("paris-gb200")), "CONTROLLER_PASSWORD", "CONTROLLER_OAUTH_TOKEN"]:
        markers[variable] = f"marker-{variable.lower()}-5f3a9c"
        monkeypatch.setenv(variable, markers[variable])
    assert export(tmp_path, "--scm-url", SCM_URL) == 0
    said = capsys.readouterr()
    written = "".join(p.read_text() for p in tmp_path.iterdir())
    assert "AIFACTORY_MUNGE_KEY" in written  # the variables are named ...
    for value in markers.values():  # ... never their values
        assert value not in written and value not in said.out + said.err


def test_the_credentials_are_references_that_a_re_import_leaves_alone(exported):
    credentials = [args for module, args in calls(exported) if module == "awx.awx.credential"]
    assert {c["credential_type"] for c in credentials} >= {t.name for t in CREDENTIAL_TYPES} | {"Machine"}
    assert all("inputs" not in c and c["update_secrets"] is False for c in credentials)
    templates = [args for module, args in calls(exported) if module == "awx.awx.job_template"]
    assert all(set(t["credentials"]) == {c["name"] for c in credentials} for t in templates)


@pytest.mark.parametrize("site", SITES)
def test_every_secret_a_site_reads_is_injected_by_a_credential_type_as_a_secret(site):
    variables = site_secret_variables(site_dir(site))
    kinds, uninjected = site_credential_types(variables)
    assert variables and uninjected == []
    secret_fields = {f.env: f.secret for k in kinds for f in k.fields}
    assert all(secret_fields[v] == bool(SECRET_NAME.search(v)) for v in variables)
    assert secret_fields["AIFACTORY_BMC_PASSWORD"] and not secret_fields["AIFACTORY_BMC_USERNAME"]


def test_a_secret_no_credential_type_injects_is_said():
    assert site_credential_types(["AIFACTORY_MUNGE_KEY", "AIFACTORY_VPN_PSK"])[1] == ["AIFACTORY_VPN_PSK"]


def test_one_job_template_per_stage_in_stage_order(exported):
    templates = [args for module, args in calls(exported) if module == "awx.awx.job_template"]
    assert [t["job_tags"] for t in templates] == list(STAGES)
    assert all(t["playbook"] == "playbooks/site.yml" and t["ask_limit_on_launch"] and t["ask_variables_on_launch"]
               for t in templates)


def test_the_workflow_follows_the_stage_order_and_the_batch_plan_with_the_gate_after_each_batch(exported):
    f = load_spec(REPO / SITE)
    order = chain(exported)
    stages = [args["unified_job_template"].split(" ")[-1] for args, _ in order]
    plan = {p.stage: p for p in site_plan(f, STAGES, set(), [])}
    batches = plan["drivers"].batches
    expected = []
    for stage in STAGES:
        expected += ["drivers", GATE_STAGE] * len(batches) if stage == "drivers" else [stage]
    assert stages == expected
    driver_nodes = [(args, edge) for args, edge in order if args["identifier"].startswith("03-drivers")]
    for index, batch in enumerate(batches):
        (run, edge), (gate, _) = driver_nodes[2 * index], driver_nodes[2 * index + 1]
        assert hosts_of(f, run["limit"]) == list(batch.nodes) and gate["limit"] == run["limit"]
        assert run["extra_data"] == {SERIAL_VAR: [len(batch.nodes)], MAX_FAIL_VAR: plan["drivers"].max_fail_percentage}
        assert run[edge] == [gate["identifier"]]
        assert edge == (ALWAYS if len(batch.nodes) * plan["drivers"].max_fail_percentage // 100 else SUCCESS)
    assert len(batches) <= 3 and any(edge == ALWAYS for _, edge in driver_nodes)


def test_the_workflow_of_a_site_in_service_goes_rack_by_rack():
    f = load_spec(REPO / SITE)
    everyone = {n.name for n in f.nodes}
    nodes = workflow_nodes(f, site_plan(f, STAGES, everyone, []), racks_per_row=10)
    runs = [n for n in nodes if n.stage == "drivers"]
    assert [hosts_of(f, n.limit) for n in runs] == [list(b.nodes) for b in situation_batches(f.nodes, everyone)]
    assert runs[-1].limit == rack_group(f.compute.racks)  # a whole rack by its group
    assert len(runs) == 1 + f.compute.racks and all(n.then == SUCCESS for n in runs)


def test_the_site_records_make_the_plan_and_a_bad_record_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AIFACTORY_STATE_DIR", str(tmp_path / "state"))
    f = load_spec(REPO / SITE)
    records = acceptance_dir(f.name)
    records.mkdir(parents=True)
    for n in f.nodes:
        (records / f"{n.name}.json").write_text(json.dumps({"result": "pass"}))
    assert export(tmp_path / "in-service", "--scm-url", SCM_URL) == 0
    assert sum(1 for args, _ in chain(tmp_path / "in-service") if args["identifier"].endswith("-gate")) == 1 + f.compute.racks
    assert export(tmp_path / "fresh", "--scm-url", SCM_URL, "--fresh") == 0
    assert sum(1 for args, _ in chain(tmp_path / "fresh") if args["identifier"].endswith("-gate")) == 3
    (records / f"{f.nodes[0].name}.json").write_text("not json")
    assert export(tmp_path / "bad", "--scm-url", SCM_URL) == 2
    assert f"{f.nodes[0].name}.json" in capsys.readouterr().err


def test_batches_run_on_the_instance_group_of_their_rack_row(tmp_path):
    f = scaled_plan_site(100, tmp_path / "site")
    everyone = {n.name for n in f.nodes}
    nodes = workflow_nodes(f, site_plan(f, STAGES, everyone, []), racks_per_row=8)
    racks = {n.name: n.rack for n in f.nodes}
    for node in (n for n in nodes if n.limit):
        rows_of_batch = {(racks[name] - 1) // 8 + 1 for name in hosts_of(f, node.limit)}
        assert node.instance_groups == tuple(row_group(f.name, r) for r in sorted(rows_of_batch))
    assert {g for n in nodes for g in n.instance_groups} == {row_group(f.name, r) for r in range(1, 14)}


def test_the_inventory_source_is_the_projects_inventory_plugin(exported):
    (source,) = [args for module, args in calls(exported) if module == "awx.awx.inventory_source"]
    assert source["source"] == "scm" and source["source_path"] == "inventories/paris-gb200/aifactory.yml"
    assert yaml.safe_load((REPO / source["source_path"]).read_text())["plugin"] == "aifactory"


def test_the_execution_environment_installs_the_project_from_its_repository(exported):
    ee = yaml.safe_load((exported / "execution-environment.yml").read_text())
    assert ee["version"] == 3
    assert ee["dependencies"]["ansible_core"]["package_pip"] == pinned("ansible-core") != "ansible-core"
    assert f'ARG {SOURCE_ARG}="aifactory @ git+{SCM_URL}@main"' in ee["additional_build_steps"]["append_final"]


def test_without_a_repository_the_import_asks_for_one(tmp_path):
    assert export(tmp_path) == 0
    first = tasks_of(tmp_path)[0]
    assert "aifactory_awx_scm_url" in first["ansible.builtin.assert"]["that"]
    assert f'ARG {SOURCE_ARG}=""' in (tmp_path / "execution-environment.yml").read_text()


@pytest.mark.parametrize("site, message", [
    ("inventories/no-such-site", "no-such-site"),
    ("playbooks", "factory.yaml"),
])
def test_a_bad_site_exits_2(tmp_path, capsys, site, message):
    assert export(tmp_path / "out", site=site) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_site_outside_the_projects_repository_exits_2(tmp_path, capsys):
    scaled_plan_site(2, tmp_path / "elsewhere")
    (tmp_path / "elsewhere" / "aifactory.yml").write_text("plugin: aifactory\n")
    assert export(tmp_path / "out", site=str(tmp_path / "elsewhere")) == 2
    assert "not inside the project's repository" in capsys.readouterr().err


def test_an_unwritable_out_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for out in (blocker, blocker / "below"):
        with pytest.raises(SystemExit) as stopped:
            export(out)
        assert stopped.value.code == 2
        assert "--out" in capsys.readouterr().err


@pytest.mark.parametrize("option, value, message", [
    ("--scm-url", "https://bot:hunter2@git.example.com/a.git", "holds a password"),
    ("--scm-branch", "main; rm -rf /", "--scm-branch"),
    ("--racks-per-row", "0", "--racks-per-row"),
    ("--organization", "{{ lookup('env', 'HOME') }}", "--organization"),
])
def test_a_bad_option_exits_2_naming_it(tmp_path, capsys, option, value, message):
    assert export(tmp_path, option, value) == 2
    err = capsys.readouterr().err
    assert message in err and "hunter2" not in err
