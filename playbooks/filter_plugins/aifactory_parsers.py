"""Jinja filters that read node tool output on the controller, wrapping `aifactory.node.parsers`.

    {{ smi.stdout | aifactory_nvidia_smi_xml }}                   nvidia-smi -q -x
    {{ nvlink.stdout | aifactory_nvlink_status }}                 nvidia-smi nvlink -s
    {{ diag.stdout | aifactory_dcgm_diag }}                       dcgmi diag -r N -j
    {{ ib.stdout | aifactory_ibstat }}                            ibstat
    {{ neuron.stdout | aifactory_neuron_ls }}                     neuron-ls -j
    {{ ib.stdout | aifactory_fabric_ports(kind, min_rate_gbps) }} compute-fabric ports: {status, reason}
    {{ collected | aifactory_acceptance_observations }}           the node's observations document
    {{ observations | aifactory_acceptance_check(expected) }}     the verdict (aifactory.node.parsers.acceptance)
    {{ results_by_host | aifactory_acceptance_summary(racks) }}   the summary of each rack

The acceptance role collects and calls these; every comparison lives in `aifactory.node.parsers` (the
installed aifactory: the Python that runs Ansible is the one aifactory is installed in).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from aifactory.node.parsers import ParseError
from aifactory.node.parsers.acceptance import evaluate, observations, summarize
from aifactory.node.parsers.dcgm import parse_dcgm_diag
from aifactory.node.parsers.ibstat import check_fabric_ports, fabric_link_layer, parse_ibstat
from aifactory.node.parsers.neuron_ls import parse_neuron_ls
from aifactory.node.parsers.nvidia_smi import parse_nvidia_smi_xml
from aifactory.node.parsers.nvlink import parse_nvlink_status


def _filter(parse):
    def run(text):
        if not isinstance(text, str):
            raise AnsibleFilterError(f"{parse.__name__}: expected the tool's output as a string, got {type(text).__name__}")
        try:
            return parse(text)
        except ParseError as err:
            raise AnsibleFilterError(str(err)) from None
    run.__name__ = parse.__name__
    return run


def acceptance_check(observations, expected):
    """Per-check pass/fail/skipped of one node against the expected-hardware profile."""
    if not isinstance(expected, dict):
        raise AnsibleFilterError("aifactory_acceptance_check: the expected-hardware profile must be a dict")
    if observations is not None and not isinstance(observations, dict):
        raise AnsibleFilterError("aifactory_acceptance_check: observations must be a dict keyed by tool")
    return evaluate(dict(expected), dict(observations or {}))


def acceptance_observations(collected):
    """The observations document of one node from the raw results the role collected."""
    if not isinstance(collected, dict):
        raise AnsibleFilterError("aifactory_acceptance_observations: expected a dict of collected results")
    return observations(dict(collected))


def acceptance_summary(hosts, hostvars):
    """{rack: summary} of the play's hosts: each host's verdict (`__acceptance_report`, absent when
    the host failed before acceptance) under its `acceptance_rack`."""
    if isinstance(hosts, str) or not hasattr(hostvars, "get"):
        raise AnsibleFilterError("aifactory_acceptance_summary: expected a list of hosts and hostvars")
    results, racks = {}, {}
    for host in hosts:
        own = hostvars.get(host) or {}
        report = own.get("__acceptance_report")
        results[str(host)] = dict(report) if report else None
        racks[str(host)] = str(own.get("acceptance_rack", "all"))
    return summarize(results, racks)


def fabric_ports(text, kind, min_rate_gbps=0, count=None):
    """ibstat output -> {status: pass|fail, reason} for the compute-fabric ports (DPU ports not counted)."""
    ports = _filter(parse_ibstat)(text)
    passed, reason = check_fabric_ports(ports, fabric_link_layer(kind), int(min_rate_gbps or 0),
                                        int(count) if count else None)
    return {"status": "pass" if passed else "fail", "reason": reason}


class FilterModule:
    def filters(self):
        return {
            "aifactory_nvidia_smi_xml": _filter(parse_nvidia_smi_xml),
            "aifactory_nvlink_status": _filter(parse_nvlink_status),
            "aifactory_dcgm_diag": _filter(parse_dcgm_diag),
            "aifactory_ibstat": _filter(parse_ibstat),
            "aifactory_neuron_ls": _filter(parse_neuron_ls),
            "aifactory_fabric_ports": fabric_ports,
            "aifactory_acceptance_observations": acceptance_observations,
            "aifactory_acceptance_check": acceptance_check,
            "aifactory_acceptance_summary": acceptance_summary,
        }
