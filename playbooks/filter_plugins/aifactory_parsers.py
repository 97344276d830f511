"""Jinja filters that read node tool output on the controller, wrapping `aifactory.parsers`.

    {{ smi.stdout | aifactory_nvidia_smi_xml }}        nvidia-smi -q -x
    {{ nvlink.stdout | aifactory_nvlink_status }}      nvidia-smi nvlink -s
    {{ diag.stdout | aifactory_dcgm_diag }}            dcgmi diag -r N -j
    {{ ib.stdout | aifactory_ibstat }}                 ibstat
    {{ neuron.stdout | aifactory_neuron_ls }}          neuron-ls -j
    {{ observations | aifactory_acceptance_check(aifactory_expected_hardware) }}

`observations` maps nvidia_smi / nvlink / dcgm / ibstat / neuron_ls to raw output or parsed data;
a tool that was not run is left out and its checks come back skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ansible.errors import AnsibleFilterError

try:
    import aifactory  # noqa: F401  (installed into the Python that runs Ansible)
except ImportError:  # running from a checkout: the repository root is two levels up
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aifactory.parsers import ParseError
from aifactory.parsers.acceptance import evaluate
from aifactory.parsers.dcgm import parse_dcgm_diag
from aifactory.parsers.ibstat import parse_ibstat
from aifactory.parsers.neuron_ls import parse_neuron_ls
from aifactory.parsers.nvidia_smi import parse_nvidia_smi_xml
from aifactory.parsers.nvlink import parse_nvlink_status


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


class FilterModule:
    def filters(self):
        return {
            "aifactory_nvidia_smi_xml": _filter(parse_nvidia_smi_xml),
            "aifactory_nvlink_status": _filter(parse_nvlink_status),
            "aifactory_dcgm_diag": _filter(parse_dcgm_diag),
            "aifactory_ibstat": _filter(parse_ibstat),
            "aifactory_neuron_ls": _filter(parse_neuron_ls),
            "aifactory_acceptance_check": acceptance_check,
        }
