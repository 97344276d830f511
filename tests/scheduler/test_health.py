"""The node health check (aifactory.scheduler.health): the acceptance verdict on the node's light
observations, a drain with the failing check as reason, a resume once it passes, the prolog's refusal.

slurmd's side is a fake `scontrol` on PATH that answers `show node` with a given state and records every
update; the checks run for real on this machine (a scratch mount point that is not mounted fails).
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from aifactory.scheduler import health, health_expected, health_program
from aifactory.spec import load_spec
from tests.conftest import site_dir

HEALTH = Path(health.__file__)
NODE = "lab-b200-r001-n01"


@pytest.fixture
def slurm(tmp_path):
    """A fake scontrol: `show node` prints state.txt, `update` appends its arguments to updates.txt."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "scontrol"
    script.write_text(f"""#!/bin/sh
if [ "$1" = update ]; then echo "$*" >> {tmp_path}/updates.txt; exit 0; fi
cat {tmp_path}/state.txt
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)

    def run(expected: dict, state: str, context: str = "", **extra) -> tuple[int, list[str], str]:
        """`extra`: SLURM_* variables of the job (as slurmd sets them) and `job_mapping_dir` for the configuration."""
        (tmp_path / "state.txt").write_text(f"NodeName={NODE} Arch=x86_64 {state}\n")
        (tmp_path / "updates.txt").unlink(missing_ok=True)
        config = tmp_path / "health.json"
        mapping = {key: extra.pop(key) for key in ("job_mapping_dir", "textfile_dir", "link_endpoints") if key in extra}
        config.write_text(json.dumps({"node": NODE, "expected": expected,
                                      "checks_without_kernel": ["imex_channel", "shared"], **mapping}))
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_SCRIPT_CONTEXT": context, **extra}
        # Run as slurmd would: the program file itself, not the package (it finds aifactory.node.parsers on its own).
        done = subprocess.run([sys.executable, str(HEALTH), str(config)], capture_output=True, text=True, env=env,
                              cwd=tmp_path)
        updates = (tmp_path / "updates.txt").read_text().splitlines() if (tmp_path / "updates.txt").exists() else []
        return done.returncode, updates, done.stdout + done.stderr

    return run


def unmounted(tmp_path) -> dict:
    return {"scratch_mount": str(tmp_path / "scratch")}


def writable_mount() -> str:
    """A mount point of this machine that the user running the tests can write ("/" as root; /dev/shm or
    another world-writable mount otherwise): the scratch that passes."""
    with open("/proc/self/mounts", encoding="utf-8") as table:
        points = [line.split()[1] for line in table if len(line.split()) > 1]
    usable = [p for p in ["/", *points] if os.path.isdir(p) and os.access(p, os.W_OK | os.X_OK)]
    if not usable:
        pytest.skip("no mount point of this machine can be written by this user")
    return usable[0]


def test_a_failing_check_drains_the_node_with_the_check_as_reason(slurm, tmp_path):
    rc, updates, out = slurm(unmounted(tmp_path), "State=IDLE")
    assert rc == 0, out
    assert updates == [f"update NodeName={NODE} State=DRAIN Reason=aifactory health: scratch"]


def test_the_prolog_refuses_the_job(slurm, tmp_path):
    rc, updates, _ = slurm(unmounted(tmp_path), "State=ALLOCATED", context="prolog_slurmd")
    assert rc == 1 and updates[0].endswith("Reason=aifactory health: scratch")


def test_the_epilog_drains_but_does_not_fail(slurm, tmp_path):
    rc, updates, _ = slurm(unmounted(tmp_path), "State=ALLOCATED", context="epilog_slurmd")
    assert rc == 0 and len(updates) == 1


def test_a_node_drained_for_the_same_reason_is_left_as_it_is(slurm, tmp_path):
    rc, updates, _ = slurm(unmounted(tmp_path), "State=IDLE+DRAIN Reason=aifactory health: scratch [root@t]")
    assert rc == 0 and updates == []


def test_passing_again_resumes_a_node_this_check_drained(slurm):
    rc, updates, _ = slurm({"scratch_mount": writable_mount()}, "State=IDLE+DRAIN Reason=aifactory health: scratch [slurm@t]")
    assert rc == 0 and updates == [f"update NodeName={NODE} State=RESUME"]


def test_a_node_drained_by_an_operator_stays_drained(slurm):
    rc, updates, _ = slurm({"scratch_mount": writable_mount()}, "State=IDLE+DRAIN Reason=new DIMMs [admin@t]")
    assert rc == 0 and updates == []


def test_a_failing_check_keeps_a_rollouts_drain_reason(slurm, tmp_path):
    """Mid-upgrade the checks fail; the rollout's reason must stay, or a later pass would resume the node
    before the rollout's own acceptance gate ran."""
    rc, updates, out = slurm(unmounted(tmp_path), "State=IDLE+DRAIN Reason=aifactory rollout drivers [root@t]")
    assert rc == 0 and updates == [] and "stays drained: aifactory rollout drivers" in out


def test_checks_whose_tool_is_not_installed_drain_nothing(slurm):
    """The light profile of a Trainium node where neuron-ls is not installed: skipped, not failed."""
    expected = {**health_expected(load_spec(site_dir("ohio-trn3") / "factory.yaml")), "scratch_mount": writable_mount(),
                "shared_mounts": []}
    rc, updates, out = slurm(expected, "State=IDLE")
    assert rc == 0 and updates == [], out


def test_the_light_subset_leaves_out_dcgm_and_bedrock():
    expected = health_expected(load_spec(site_dir("paris-gb200") / "factory.yaml"))
    assert expected["dcgm_diag_level"] == 0 and "bedrock_endpoint" not in expected
    assert health.wanted_tools(expected) == ["nvidia_smi", "nvlink", "ibstat"]
    assert health.wanted_tools(health_expected(load_spec(site_dir("ohio-trn3") / "factory.yaml"))) == ["neuron_ls"]


def test_a_failing_gpu_reads_as_the_acceptance_verdict_says(monkeypatch):
    """Observations come from the node's tools; the verdict and its check names are acceptance's."""
    expected = {"accelerators": 8, "accelerator_name_contains": "B200", "fabric": "fabric-manager"}
    monkeypatch.setattr(health, "TOOL_PATHS", {"nvidia_smi": sys.executable})  # an existing file as the tool
    monkeypatch.setattr(health, "run", lambda argv: {"rc": 9, "stdout": "", "stderr": "NVIDIA-SMI has failed"})
    monkeypatch.setattr(health, "services", dict)
    monkeypatch.setattr(health, "packages", dict)
    verdict = health.evaluate(expected, health.observe(expected, checks_without_kernel=[]))
    assert health.drain_reason(verdict).startswith("aifactory health: accelerator_count, accelerator_model")


def test_the_imex_channel_is_not_looked_for_where_the_kernel_for_it_is_declared_missing(monkeypatch):
    expected = {"fabric": "imex", "scratch_mount": ""}
    monkeypatch.setattr(health, "services", dict)
    monkeypatch.setattr(health, "packages", dict)
    assert "imex_channel" in health.observe(expected, checks_without_kernel=[])
    container = health.observe(expected, checks_without_kernel=["imex_channel"])
    assert "imex_channel" not in container and container["checks_without_kernel"] == ["imex_channel"]


def test_an_unreadable_configuration_is_exit_2(tmp_path):
    done = subprocess.run([sys.executable, str(HEALTH), str(tmp_path / "missing.json")], capture_output=True, text=True)
    assert done.returncode == 2 and "cannot read" in done.stderr and "Traceback" not in done.stderr


def test_the_zipapp_is_the_same_bytes_build_after_build_and_changes_with_its_sources(monkeypatch):
    first = health_program.program_bytes()
    assert health_program.program_bytes() == first
    assert health_program.cached_program().read_bytes() == first
    sources = health_program.entries()
    monkeypatch.setattr(health_program, "entries", lambda: {**sources, "__main__.py": sources["__main__.py"] + b"\n"})
    assert health_program.program_bytes() != first


def test_the_zipapp_runs_as_slurmd_runs_it_with_only_its_own_modules(tmp_path):
    """The file alone, executed through its shebang's Python (-S: no site packages, so no installed aifactory)."""
    program = tmp_path / "aifactory-health"
    done = subprocess.run([sys.executable, "-m", "aifactory.scheduler.health_program", str(program)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert program.read_bytes().startswith(b"#!/usr/bin/python3\n") and os.access(program, os.X_OK)
    config = tmp_path / "health.json"
    config.write_text(json.dumps({"node": NODE, "expected": {}, "checks_without_kernel": ["imex_channel"]}))
    done = subprocess.run([sys.executable, "-S", str(program), str(config)], capture_output=True, text=True,
                          cwd=tmp_path, env={"PATH": "/nonexistent"})
    assert done.returncode == 0 and "aifactory-health:" in done.stdout, done.stderr
    done = subprocess.run([sys.executable, "-S", str(program), str(tmp_path / "missing.json")], capture_output=True,
                          text=True, cwd=tmp_path, env={"PATH": "/nonexistent"})
    assert done.returncode == 2 and "cannot read" in done.stderr


def test_building_without_a_path_is_exit_2():
    done = subprocess.run([sys.executable, "-m", "aifactory.scheduler.health_program"], capture_output=True, text=True)
    assert done.returncode == 2 and "usage" in done.stderr and "Traceback" not in done.stderr


def test_the_prolog_maps_the_job_to_its_gpus_and_the_epilog_takes_it_out(slurm, tmp_path):
    """dcgm-exporter's job mapping: a file per GPU index holding the IDs of the jobs using it."""
    mapping = tmp_path / "run" / "dcgm-job-mapping"
    healthy = {"scratch_mount": writable_mount()}
    for job, gpus in (("4242", "0,2"), ("4243", "0")):
        rc, _updates, out = slurm(healthy, "State=ALLOCATED", context="prolog_slurmd", job_mapping_dir=str(mapping),
                                  SLURM_JOB_ID=job, SLURM_JOB_GPUS=gpus)
        assert rc == 0 and f"job mapping: job {job} on GPU {gpus}" in out, out
    assert {p.name: p.read_text() for p in mapping.iterdir() if not p.name.startswith(".")} == {
        "0": "4242\n4243\n", "2": "4242\n"}
    rc, _updates, out = slurm(healthy, "State=ALLOCATED", context="epilog_slurmd", job_mapping_dir=str(mapping),
                              SLURM_JOB_ID="4242", SLURM_JOB_GPUS="0,2")
    assert rc == 0 and "job mapping: job 4242 off GPU 0,2" in out
    assert {p.name: p.read_text() for p in mapping.iterdir() if not p.name.startswith(".")} == {"0": "4243\n"}


def test_a_job_the_prolog_refuses_is_not_mapped_and_odd_ids_map_nothing(slurm, tmp_path):
    mapping = tmp_path / "mapping"
    rc, _updates, _out = slurm(unmounted(tmp_path), "State=ALLOCATED", context="prolog_slurmd",
                               job_mapping_dir=str(mapping), SLURM_JOB_ID="7", SLURM_JOB_GPUS="1")
    assert rc == 1 and not mapping.exists()
    assert health.map_job(str(mapping), "prolog_slurmd", "7", "../x").startswith("job mapping: nothing to map")
    assert health.map_job(str(mapping), "prolog_slurmd", "7;rm", "1").startswith("job mapping: nothing to map")
    assert health.map_job(str(mapping), "prolog_slurmd", "7", "").startswith("job mapping: nothing to map")
    assert not mapping.exists()


def test_the_node_s_textfile_has_the_loaded_driver_and_a_link_check_per_endpoint():
    xml = (Path(__file__).parents[1] / "fixtures" / "tools" / "nvidia-smi-q-x.hgx-b200-healthy.xml").read_text()
    observations = {"nvidia_smi": {"rc": 0, "stdout": xml, "stderr": ""}}
    endpoints = {"sts": "sts.eu-west-3.amazonaws.com", "bedrock-runtime": "bedrock-runtime.eu-west-3.amazonaws.com"}
    text = health.node_textfile(observations, endpoints, connects=lambda name: name.startswith("sts."))
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    version = re.search(r"<driver_version>([^<]+)<", xml).group(1)
    assert samples == [
        f'aifactory_driver_info{{stack="nvidia",version="{version}"}} 1',
        'aifactory_link_check_success{check="bedrock-runtime connect",endpoint="bedrock-runtime.eu-west-3.amazonaws.com"} 0',
        'aifactory_link_check_success{check="sts connect",endpoint="sts.eu-west-3.amazonaws.com"} 1']
    # A node whose nvidia-smi failed, or a Trainium node, reports no driver: DriverOffPin cannot misfire on it.
    failed = {"nvidia_smi": {"rc": 9, "stdout": "", "stderr": "NVIDIA-SMI has failed"}}
    assert "aifactory_driver_info{" not in health.node_textfile(failed, {}) and "{" not in health.node_textfile({}, {})


def test_a_link_check_passes_only_where_a_connection_opens(monkeypatch):
    with socket.create_server(("127.0.0.1", 0)) as server:
        monkeypatch.setattr(health, "LINK_PORT", server.getsockname()[1])
        assert health.link_check("127.0.0.1") is True
    assert health.link_check("127.0.0.1") is False  # nothing listens there now
    assert health.link_check("name.invalid") is False


def test_the_program_writes_the_node_s_textfile_where_its_configuration_says(slurm, tmp_path):
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    rc, _updates, out = slurm({"scratch_mount": writable_mount()}, "State=IDLE", textfile_dir=str(textfile),
                              link_endpoints={"sts": "name.invalid"})
    assert rc == 0, out
    written = (textfile / health.TEXTFILE).read_text()
    assert 'aifactory_link_check_success{check="sts connect",endpoint="name.invalid"} 0' in written
    assert health.TEXTFILE.startswith("aifactory_") and not list(textfile.glob(".*"))  # no temporary left
