"""Tool-output parsers and the acceptance evaluation, on fixtures in each tool's real output format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aifactory.node.parsers import ParseError
from aifactory.node.parsers.acceptance import NO_STACK_OUTPUTS, RUNNING_JOBS, WITHOUT_KERNEL, evaluate, observations, summarize
from aifactory.node.parsers.dcgm import parse_dcgm_diag
from aifactory.node.parsers.ibstat import check_fabric_ports, fabric_link_layer, parse_ibstat
from aifactory.node.parsers.neuron_ls import parse_neuron_ls
from aifactory.node.parsers.nvidia_smi import parse_nvidia_smi_xml
from aifactory.node.parsers.nvlink import parse_nvlink_status
from aifactory.spec import load_spec
from tests.conftest import REPO, site_dir

TOOLS = REPO / "tests" / "fixtures" / "tools"


def fixture(name: str) -> str:
    return (TOOLS / name).read_text()


def gb200(kind: str) -> dict:
    return {
        "nvidia_smi": fixture(f"nvidia-smi-q-x.gb200-{kind}.xml"),
        "nvlink": fixture(f"nvidia-smi-nvlink-s.gb200-{kind}.txt"),
        "dcgm": fixture(f"dcgmi-diag-r2-j.gb200-{kind}.json"),
        "ibstat": fixture(f"ibstat.gb200-{kind}.txt"),
        "services": {"nvidia-imex.service": {"state": "running"}},
        "imex_channel": True,
    }


def expected(site: str, **extra) -> dict:
    return load_spec(site_dir(site)).platform.expected.model_dump() | extra


def by_name(result: dict) -> dict[str, dict]:
    """Each check by name, without its `stand_in` field (fixtures are real tool output: always false,
    asserted in test_every_check_says_whether_it_ran_against_a_stand_in_tool)."""
    return {c["name"]: {k: v for k, v in c.items() if k != "stand_in"} for c in result["checks"]}


# --- nvidia-smi -q -x ------------------------------------------------------------------------------

def test_nvidia_smi_healthy_gb200():
    smi = parse_nvidia_smi_xml(fixture("nvidia-smi-q-x.gb200-healthy.xml"))
    assert smi["driver_version"] == "580.82.07"
    assert [g["name"] for g in smi["gpus"]] == ["NVIDIA GB200"] * 4
    first = smi["gpus"][0]
    assert first["pci_bus_id"] == "00000008:01:00.0" and first["uuid"].startswith("GPU-")
    assert (first["ecc_mode"], first["fabric_state"], first["fabric_status"]) == ("Enabled", "completed", "Success")
    assert first["retired_pages_pending"] is None  # Blackwell remaps rows; retired pages read N/A
    assert first["remapped_rows_pending"] is False and first["remapped_rows_failure"] is False
    assert {(g["cluster_uuid"], g["clique_id"]) for g in smi["gpus"]} == {("8f3c2b1a-5d4e-4c7b-9a61-2e0f7d3c9b45", "32766")}


def test_nvidia_smi_faulty_gb200():
    gpus = parse_nvidia_smi_xml(fixture("nvidia-smi-q-x.gb200-faulty.xml"))["gpus"]
    assert (gpus[1]["fabric_state"], gpus[1]["fabric_status"], gpus[1]["cluster_uuid"]) == ("in_progress", None, None)
    assert (gpus[2]["ecc_mode"], gpus[2]["ecc_mode_pending"]) == ("Disabled", "Enabled")
    assert gpus[3]["remapped_rows_pending"] is True


@pytest.mark.parametrize("text", ["", "not xml at all", "<other_log></other_log>"])
def test_nvidia_smi_rejects_what_it_did_not_write(text):
    with pytest.raises(ParseError, match="nvidia-smi -q -x"):
        parse_nvidia_smi_xml(text)


# --- nvidia-smi nvlink -s --------------------------------------------------------------------------

def test_nvlink_status_lists_every_link():
    healthy = parse_nvlink_status(fixture("nvidia-smi-nvlink-s.gb200-healthy.txt"))
    assert len(healthy) == 4 * 18 and all(link["active"] and link["speed_gbytes"] == 50.0 for link in healthy)
    faulty = parse_nvlink_status(fixture("nvidia-smi-nvlink-s.gb200-faulty.txt"))
    assert [(link["gpu"], link["link"]) for link in faulty if not link["active"]] == [(1, 4), (1, 5), (1, 11)]


def test_nvlink_status_keeps_a_gpu_nvml_cannot_read():
    text = ("GPU 0: NVIDIA B200 (UUID: GPU-aa)\n\t Link 0: 50 GB/s\n"
            "GPU 1: NVIDIA B200 (UUID: GPU-bb)\nNVML: Unable to retrieve NVLink information as all links are inActive\n")
    links = parse_nvlink_status(text)
    assert [(link["gpu"], link["active"]) for link in links] == [(0, True), (1, False)]
    with pytest.raises(ParseError, match="line 1"):
        parse_nvlink_status("Link 0: 50 GB/s\n")


# --- dcgmi diag -j ---------------------------------------------------------------------------------

def test_dcgm_diag_healthy_and_faulty():
    healthy = parse_dcgm_diag(fixture("dcgmi-diag-r2-j.gb200-healthy.json"))
    assert healthy["passed"] is True and healthy["failures"] == []
    assert {t["name"] for t in healthy["tests"]} >= {"software", "pcie", "memory", "targeted_stress"}
    assert (healthy["dcgm_version"], healthy["driver_version"]) == ("4.4.1", "580.82.07")
    faulty = parse_dcgm_diag(fixture("dcgmi-diag-r2-j.gb200-faulty.json"))
    assert faulty["passed"] is False
    assert faulty["failures"] == [
        "memory on GPU 3: Pending page retirements or row remappings found on GPU 3. "
        "Drain the GPU and reset it or reboot the node to resolve this issue."]


def test_dcgm_diag_legacy_root_runtime_error_and_empty_run():
    legacy = {"DCGM GPU Diagnostic": {"test_categories": [{"category": "Hardware", "tests": [
        {"name": "GPU Memory", "results": [{"gpu_id": "0", "status": "Pass"}, {"gpu_id": "1", "status": "Fail",
                                                                                 "warnings": ["ECC DBE"]}]}]}]}}
    parsed = parse_dcgm_diag(json.dumps(legacy))
    assert parsed["passed"] is False and parsed["failures"] == ["GPU Memory on GPU 1: ECC DBE"]
    errored = parse_dcgm_diag(json.dumps({"DCGM Diagnostic": {"runtime_error": "nv-hostengine not running"}}))
    assert errored["passed"] is False and "nv-hostengine" in errored["failures"][0]
    assert parse_dcgm_diag(json.dumps({"DCGM Diagnostic": {"test_categories": []}}))["passed"] is False
    with pytest.raises(ParseError, match="dcgmi diag -j"):
        parse_dcgm_diag('{"something": "else"}')


# --- ibstat ----------------------------------------------------------------------------------------

def test_ibstat_ports():
    ports = parse_ibstat(fixture("ibstat.gb200-healthy.txt"))
    assert len(ports) == 6
    assert ports[0] == {"ca": "mlx5_0", "ca_type": "MT4129", "firmware": "28.43.1014", "port": 1, "state": "Active",
                        "physical_state": "LinkUp", "rate_gbps": 400, "link_layer": "InfiniBand",
                        "port_guid": "0x7c8c0903009d6a10"}
    assert [p["link_layer"] for p in ports].count("Ethernet") == 2
    faulty = parse_ibstat(fixture("ibstat.gb200-faulty.txt"))
    assert (faulty[1]["state"], faulty[1]["physical_state"], faulty[3]["rate_gbps"]) == ("Down", "Polling", 200)
    with pytest.raises(ParseError, match="ibstat"):
        parse_ibstat("ibstat: command not found\n")


# --- neuron-ls -j ----------------------------------------------------------------------------------

def test_neuron_ls():
    healthy = parse_neuron_ls(fixture("neuron-ls-j.trn3-healthy.json"))
    assert (healthy["devices"], healthy["cores"]) == (4, 32)
    assert healthy["device_list"][0]["connected_to"] == [3, 1]
    assert parse_neuron_ls(fixture("neuron-ls-j.trn3-faulty.json"))["devices"] == 3
    with pytest.raises(ParseError, match="neuron-ls"):
        parse_neuron_ls('{"neuron_device": 0}')


# --- compute-fabric ports (acceptance and the rdma_fabric role's link check) ---------------------

def test_healthy_gb200_tray_with_bluefield3_ethernet_ports_passes():
    ports = parse_ibstat(fixture("ibstat.gb200-bf3-ethernet.txt"))
    dpu = [p for p in ports if p["ca_type"] == "MT41692"]
    # The tray's BlueField-3 ports run Ethernet at 200 Gb/s (one without a cable): they are not compute ports.
    assert [(p["link_layer"], p["rate_gbps"], p["state"]) for p in dpu] == [("Ethernet", 200, "Active"),
                                                                            ("Ethernet", 40, "Down")]
    for link_layer in ("InfiniBand", None):  # the fabric's link layer, or unknown
        passed, reason = check_fabric_ports(ports, link_layer, 400, 4)
        assert passed, reason
        assert "not counted: mlx5_0 port 1 (BlueField-3), mlx5_1 port 1 (BlueField-3)" in reason
    checks = by_name(evaluate(expected("paris-gb200", network_fabric="infiniband-xdr"),
                              {"ibstat": fixture("ibstat.gb200-bf3-ethernet.txt")}))
    assert checks["ib_ports"]["status"] == "pass", checks["ib_ports"]


def test_compute_ports_follow_the_fabrics_link_layer():
    assert [fabric_link_layer(k) for k in ("infiniband-ndr", "ethernet-rocev2", "roce", "efa", "")] == [
        "InfiniBand", "Ethernet", "Ethernet", None, None]
    ports = parse_ibstat(fixture("ibstat.gb200-healthy.txt"))
    roce = [p | {"link_layer": "Ethernet"} if p["ca_type"] == "MT4129" else p for p in ports]
    assert check_fabric_ports(roce, "Ethernet", 400, 4)[0] is True
    passed, reason = check_fabric_ports(roce, "InfiniBand", 400, 4)  # an InfiniBand site with RoCE-mode adapters
    assert not passed and reason.startswith("0 of 4 InfiniBand compute-fabric ports")
    assert check_fabric_ports(ports, "InfiniBand", 0)[0] is True  # rate 0: any rate, at least one port
    assert check_fabric_ports([p for p in ports if p["ca_type"] == "MT41692"], None, 0)[0] is False


# --- acceptance.evaluate ---------------------------------------------------------------------------

def test_healthy_gb200_node_passes_every_check():
    result = evaluate(expected("paris-gb200", driver_branch="580"), gb200("healthy"))
    assert result["result"] == "pass", result
    assert set(by_name(result)) == {"accelerator_count", "accelerator_model", "ecc_enabled", "memory_health",
                                    "driver_version", "fabric_state", "nvlink_domain", "nvlink_links", "imex_service",
                                    "imex_channel", "dcgm_diag", "ib_ports"}
    assert result["counts"] == {"pass": 12, "fail": 0, "skipped": 0}


def test_faulty_gb200_node_fails_with_reasons():
    checks = by_name(evaluate(expected("paris-gb200", driver_branch="580"), gb200("faulty")))
    failed = {name for name, c in checks.items() if c["status"] == "fail"}
    assert failed == {"ecc_enabled", "memory_health", "fabric_state", "nvlink_domain", "nvlink_links", "dcgm_diag",
                      "ib_ports"}
    assert "GPU 2 (00000018:01:00.0): ECC Disabled" in checks["ecc_enabled"]["reason"]
    assert "GPU 1 (00000009:01:00.0): fabric state in_progress" in checks["fabric_state"]["reason"]
    assert "mlx5_1 port 1: Down/Polling" in checks["ib_ports"]["reason"]
    assert "mlx5_3 port 1: Active/LinkUp at 200 Gb/s" in checks["ib_ports"]["reason"]
    assert checks["accelerator_count"]["status"] == "pass"


def test_imex_service_and_channel_are_checked_on_imex_platforms():
    down = gb200("healthy") | {"services": {"nvidia-imex.service": {"state": "stopped"}}, "imex_channel": False}
    checks = by_name(evaluate(expected("paris-gb200"), down))
    assert checks["imex_service"] == {"name": "imex_service", "status": "fail", "reason": "nvidia-imex.service is stopped"}
    assert checks["imex_channel"]["status"] == "fail" and "channel0 is missing" in checks["imex_channel"]["reason"]
    absent = by_name(evaluate(expected("paris-gb200"), gb200("healthy") | {"services": {}}))
    assert absent["imex_service"]["reason"] == "nvidia-imex.service is not installed"


def test_fabric_manager_must_run_at_the_drivers_version():
    hgx = {"nvidia_smi": fixture("nvidia-smi-q-x.hgx-b200-healthy.xml"),
           "services": {"nvidia-fabricmanager.service": {"state": "running"}}}
    driver = parse_nvidia_smi_xml(hgx["nvidia_smi"])["driver_version"]
    good = by_name(evaluate(expected("lab-b200"), hgx | {"packages": {"nvidia-fabricmanager-580": f"{driver}-1"}}))
    assert (good["fabric_manager_service"]["status"], good["fabric_manager_version"]["status"]) == ("pass", "pass")
    older = by_name(evaluate(expected("lab-b200"), hgx | {"packages": {"nvidia-fabricmanager-580": "580.65.06-1"}}))
    assert older["fabric_manager_version"] == {"name": "fabric_manager_version", "status": "fail",
                                               "reason": f"nvidia-fabricmanager-580 580.65.06, driver {driver}"}
    none = by_name(evaluate(expected("lab-b200"), hgx | {"packages": {}}))
    assert none["fabric_manager_version"]["status"] == "fail"
    assert "imex_service" not in good


def test_driver_pin_is_checked_when_given():
    smi = {"nvidia_smi": fixture("nvidia-smi-q-x.gb200-healthy.xml")}
    assert by_name(evaluate(expected("paris-gb200", driver_branch="570"), smi))["driver_version"]["status"] == "fail"
    assert by_name(evaluate(expected("paris-gb200", driver_version="580.82.07"), smi))["driver_version"]["status"] == "pass"
    assert "driver_version" not in by_name(evaluate(expected("paris-gb200"), smi))


def test_missing_or_unreadable_output_is_skipped_never_passed():
    observations = gb200("healthy") | {"dcgm": None, "ibstat": "ibstat: command not found\n"}
    del observations["nvlink"]
    result = evaluate(expected("paris-gb200"), observations)
    checks = by_name(result)
    assert result["result"] == "incomplete"
    assert checks["dcgm_diag"] == {"name": "dcgm_diag", "status": "skipped", "reason": "no `dcgmi diag -j` output collected"}
    assert checks["nvlink_links"]["status"] == "skipped"
    assert checks["ib_ports"]["status"] == "skipped" and "unreadable" in checks["ib_ports"]["reason"]
    assert evaluate(expected("paris-gb200"), {})["counts"]["pass"] == 0


def test_a_tool_not_installed_is_skipped_a_tool_that_failed_fails():
    missing = gb200("healthy") | {"dcgm": None, "tools": {"dcgmi": False}}
    assert by_name(evaluate(expected("paris-gb200"), missing))["dcgm_diag"] == {
        "name": "dcgm_diag", "status": "skipped", "reason": "`dcgmi` is not installed"}
    broken = gb200("healthy") | {"nvidia_smi": {"rc": 9, "stdout": "", "stderr": "NVIDIA-SMI has failed because it "
                                                "couldn't communicate with the NVIDIA driver."}}
    result = evaluate(expected("paris-gb200"), broken)
    assert result["result"] == "fail"
    assert by_name(result)["ecc_enabled"]["reason"] == ("`nvidia-smi -q -x` failed (exit 9): NVIDIA-SMI has failed "
                                                        "because it couldn't communicate with the NVIDIA driver.")
    # dcgmi exits non-zero when a test fails, with its report on stdout: that report is read.
    failing = gb200("healthy") | {"dcgm": {"rc": 226, "stdout": fixture("dcgmi-diag-r2-j.gb200-faulty.json"), "stderr": ""}}
    assert "Pending page retirements" in by_name(evaluate(expected("paris-gb200"), failing))["dcgm_diag"]["reason"]


def test_a_diagnostic_not_run_on_a_node_running_jobs_is_skipped_saying_so_and_the_rest_still_judged():
    busy = gb200("healthy") | {"dcgm": None, "running_jobs": True}
    result = evaluate(expected("paris-gb200"), busy)
    checks = by_name(result)
    assert checks["dcgm_diag"] == {"name": "dcgm_diag", "status": "skipped", "reason": RUNNING_JOBS}
    assert result["result"] == "incomplete" and result["counts"]["skipped"] == 1
    assert checks["ecc_enabled"]["status"] == "pass"  # the checks that only read state still ran
    # dcgmi not installed says so, running jobs or not; a diagnostic that did run is judged as any other.
    assert by_name(evaluate(expected("paris-gb200"), busy | {"tools": {"dcgmi": False}}))["dcgm_diag"]["reason"] == \
        "`dcgmi` is not installed"
    ran = busy | {"dcgm": fixture("dcgmi-diag-r2-j.gb200-faulty.json")}
    assert by_name(evaluate(expected("paris-gb200"), ran))["dcgm_diag"]["status"] == "fail"
    # A node not running jobs that has no diagnostic output is not excused by this reason.
    idle = by_name(evaluate(expected("paris-gb200"), busy | {"running_jobs": False}))["dcgm_diag"]
    assert idle["reason"] == "no `dcgmi diag -j` output collected"


def test_checks_without_the_kernel_they_need_are_skipped_with_the_reason_and_the_rest_still_judged():
    site = expected("paris-gb200", driver_branch="580", scratch_mount="/scratch",
                    shared_mounts=[{"name": "home", "type": "nfs", "source": "10.0.0.2:/home", "mount": "/home/shared"}])
    # A container: its tools run, but no IMEX channel device is looked for and no NFS client can mount.
    container = gb200("healthy") | {"imex_channel": None, "mounts": ["/", "/scratch"], "scratch_probe": "ok",
                                    "checks_without_kernel": ["imex_channel", "shared"]}
    result = evaluate(site, container)
    checks = by_name(result)
    assert result["result"] == "incomplete"
    assert checks["imex_channel"] == {"name": "imex_channel", "status": "skipped", "reason": (
        f"{WITHOUT_KERNEL}: IMEX channels are device nodes of a loaded NVIDIA driver, the IMEX channel device not looked for")}
    assert checks["shared:home"] == {"name": "shared:home", "status": "skipped", "reason": (
        f"{WITHOUT_KERNEL}: a shared filesystem is mounted by the kernel's client, nfs 10.0.0.2:/home at /home/shared "
        "not mounted")}
    assert {n for n, c in checks.items() if c["status"] != "pass"} == {"imex_channel", "shared:home"}
    # The same node, its kernel not declared lacking: the channel is not collected, the share fails.
    machine = by_name(evaluate(site, {k: v for k, v in container.items() if k != "checks_without_kernel"}))
    assert machine["imex_channel"]["reason"] == "the IMEX channel device not collected"
    assert machine["shared:home"]["status"] == "fail"
    # A declared check that is mounted passes; scratch is never excused.
    mounted = evaluate(site, container | {"mounts": ["/", "/scratch", "/home/shared"]})
    assert by_name(mounted)["shared:home"]["status"] == "pass"
    unmounted = evaluate(site, container | {"mounts": ["/"]})
    assert unmounted["result"] == "fail" and by_name(unmounted)["scratch"]["reason"] == "/scratch is not mounted"


def test_storage_checks_on_a_real_node():
    site = {"scratch_mount": "/scratch", "shared_mounts": [{"name": "data", "type": "lustre", "source": "fs@o2ib:/d",
                                                            "mount": "/datasets"}]}
    ok = evaluate(site, {"mounts": ["/", "/scratch", "/datasets"], "scratch_probe": "ok"})
    assert ok["result"] == "pass", ok
    bad = by_name(evaluate(site, {"mounts": ["/", "/scratch"], "scratch_probe": "Read-only file system"}))
    assert bad["scratch"]["reason"] == ("/scratch mounted, but a file could not be written and deleted: "
                                        "Read-only file system")
    assert bad["shared:data"] == {"name": "shared:data", "status": "fail",
                                  "reason": "lustre fs@o2ib:/d at /datasets is not mounted"}


def test_bedrock_endpoint_must_resolve_privately_and_answer_https():
    site = {"bedrock_endpoint": "vpce-1.bedrock-runtime.eu-west-3.vpce.amazonaws.com"}
    private = {"bedrock_dns": {"rc": 0, "stdout": "10.40.4.7      STREAM vpce-1\n10.40.4.7      DGRAM\n", "stderr": ""},
               "bedrock_https": {"status": 403, "msg": "Status code was 403 and not [200]"}}
    assert evaluate(site, private)["result"] == "pass"
    public = by_name(evaluate(site, private | {"bedrock_dns": {"rc": 0, "stdout": "52.94.1.1 STREAM x\n", "stderr": ""}}))
    assert public["bedrock_dns"]["status"] == "fail" and "public addresses 52.94.1.1" in public["bedrock_dns"]["reason"]
    unresolved = by_name(evaluate(site, private | {"bedrock_dns": {"rc": 2, "stdout": "", "stderr": ""}}))
    assert unresolved["bedrock_dns"]["reason"].endswith("does not resolve")
    refused = by_name(evaluate(site, private | {"bedrock_https": {"status": -1, "msg": "Connection refused"}}))
    assert refused["bedrock_https"]["status"] == "fail" and "Connection refused" in refused["bedrock_https"]["reason"]
    assert "bedrock_dns" not in by_name(evaluate({}, private))  # no Bedrock expected, none checked


def test_parsed_observations_are_accepted_too():
    parsed = {"nvidia_smi": parse_nvidia_smi_xml(fixture("nvidia-smi-q-x.gb200-faulty.xml"))}
    assert by_name(evaluate(expected("paris-gb200"), parsed))["ecc_enabled"]["status"] == "fail"


def test_hgx_node_is_not_held_to_a_rack_wide_nvlink_domain():
    result = evaluate(expected("lab-b200"), {"nvidia_smi": fixture("nvidia-smi-q-x.hgx-b200-healthy.xml")})
    checks = by_name(result)
    assert "nvlink_domain" not in checks
    assert checks["accelerator_count"] == {"name": "accelerator_count", "status": "pass", "reason": "8 GPUs, expected 8"}
    assert checks["fabric_state"]["status"] == "pass"


def test_trainium_node_counts_neuron_devices():
    trn = expected("ohio-trn3")
    assert evaluate(trn, {"neuron_ls": fixture("neuron-ls-j.trn3-healthy.json")})["result"] == "pass"
    failed = evaluate(trn, {"neuron_ls": fixture("neuron-ls-j.trn3-faulty.json")})
    assert failed["result"] == "fail"
    assert failed["checks"][0]["reason"] == "3 Neuron devices (24 cores), expected 4"


# --- the observations document and the rack summary --------------------------------------------

def test_observations_cut_ansibles_registered_results_down():
    doc = observations({
        "checks_without_kernel": [],
        "nvidia_smi": {"changed": False, "rc": 0, "stdout": "<x/>", "stderr": "", "stdout_lines": ["<x/>"], "cmd": ["nvidia-smi"]},
        "dcgm": {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"},
        "services": {"ansible_facts": {"services": {"nvidia-imex.service": {"name": "nvidia-imex.service", "state": "running"},
                                                    "ssh.service": {"state": "running"}}}, "changed": False},
        "packages": {"packages": {"nvidia-fabricmanager-580": {"version": "580.82.07-1", "installed": True},
                                  "nvidia-imex-580": {"version": "", "installed": False},
                                  "bash": {"version": "5.2", "installed": True}}, "changed": False},
        "imex_channel": {"changed": False, "stat": {"exists": True}},
        "scratch_probe": {"changed": False, "failed": True, "msg": "Permission denied"},
        "bedrock_https": {"changed": False, "failed": True, "status": -1, "msg": "Connection refused", "url": "https://x/"},
        "mounts": ["/"],
    })
    assert doc["nvidia_smi"] == {"rc": 0, "stdout": "<x/>", "stderr": ""}
    assert doc["dcgm"] is None and doc["ibstat"] is None
    assert doc["services"] == {"nvidia-imex.service": {"state": "running"}}
    assert doc["packages"] == {"nvidia-fabricmanager-580": "580.82.07-1"}
    assert (doc["imex_channel"], doc["scratch_probe"]) == (True, "Permission denied")
    assert doc["bedrock_https"] == {"status": -1, "msg": "Connection refused"}
    assert observations(doc) == doc  # a document already cut stays as it is


def test_rack_summary_is_incomplete_when_a_host_could_not_run_a_check_and_fails_on_a_missing_host():
    site = expected("paris-gb200")
    healthy = evaluate(site, gb200("healthy"))
    untested = evaluate(site, {})
    summary = summarize({"n1": healthy, "n2": untested, "n3": healthy},
                        {"n1": "rack01", "n2": "rack01", "n3": "rack02"})
    assert summary["rack02"]["result"] == "pass"
    rack01 = summary["rack01"]
    assert (rack01["result"], rack01["hosts"]) == ("incomplete", {"n1": "pass", "n2": "incomplete"})
    assert rack01["counts"] == {"pass": 1, "fail": 0, "incomplete": 1, "no result": 0}
    assert rack01["could_not_run"]["n2"] == sorted(c["name"] for c in untested["checks"])
    assert rack01["checks"]["skipped"] == untested["counts"]["skipped"]
    lost = summarize({"n1": healthy, "n2": None}, {"n1": "rack01", "n2": "rack01"})["rack01"]
    assert (lost["result"], lost["hosts"]["n2"]) == ("fail", "no result")


# --- the filter plugin, loaded by Ansible through ansible.cfg -------------------------------------

def test_filters_run_inside_ansible(tmp_path):
    playbook = tmp_path / "filters.yml"
    playbook.write_text(f"""
- hosts: localhost
  gather_facts: false
  vars:
    smi: "{{{{ lookup('ansible.builtin.file', '{TOOLS}/nvidia-smi-q-x.gb200-faulty.xml') }}}}"
    ib: "{{{{ lookup('ansible.builtin.file', '{TOOLS}/ibstat.gb200-healthy.txt') }}}}"
    bf3: "{{{{ lookup('ansible.builtin.file', '{TOOLS}/ibstat.gb200-bf3-ethernet.txt') }}}}"
    observations: {{nvidia_smi: "{{{{ smi }}}}"}}
    expected_hw: {{accelerators: 4, accelerator_name_contains: GB200, fabric: imex, fabric_state: completed,
                  nvlink_domain_gpus: 72, ib_ports: 0, dcgm_diag_level: 0}}
  tasks:
    - ansible.builtin.assert:
        that:
          - (smi | aifactory_nvidia_smi_xml).gpus | map(attribute='fabric_state') | list
            == ['completed', 'in_progress', 'completed', 'completed']
          - (ib | aifactory_ibstat | selectattr('link_layer', 'equalto', 'InfiniBand') | list | length) == 4
          - (observations | aifactory_acceptance_check(expected_hw)).result == 'fail'
          - (bf3 | aifactory_fabric_ports('infiniband-xdr', 400)).status == 'pass'
          - (ib | aifactory_fabric_ports('infiniband-xdr', 800)).status == 'fail'
    - ansible.builtin.set_fact:
        __acceptance_report: "{{{{ observations | aifactory_acceptance_check(expected_hw) }}}}"
        acceptance_rack: rack01
    - ansible.builtin.assert:  # 'lost' is in the play but wrote no verdict (it failed earlier)
        that:
          - "__summary.rack01.hosts == {{'localhost': 'fail'}}"
          - "__summary.all.hosts == {{'lost': 'no result'}}"
      vars:
        __summary: "{{{{ ['localhost', 'lost'] | aifactory_acceptance_summary(hostvars) }}}}"
    - ansible.builtin.debug:
        msg: "{{{{ 'garbage' | aifactory_dcgm_diag }}}}"
""")
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,lost,", str(playbook)],
                            cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    assert "ok=3" in result.stdout and "failed=1" in result.stdout, result.stdout + result.stderr
    assert "dcgmi diag -j: not JSON" in result.stdout + result.stderr
