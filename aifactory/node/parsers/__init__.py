"""Parsers for the output of node tools, one module per tool, each returning plain data.

`nvidia_smi` (`nvidia-smi -q -x`), `nvlink` (`nvidia-smi nvlink -s`), `dcgm` (`dcgmi diag -j`),
`ibstat` (`ibstat`), `neuron_ls` (`neuron-ls -j`); for performance acceptance `nccl_tests` (nccl-tests'
table), `ib_write_bw` (perftest's report) and `nccom_test` (Neuron collectives). `acceptance.evaluate`
compares what they parsed with a platform's expected-hardware profile, `aifactory.node.performance.judge`
with the catalog's performance thresholds. Output that cannot be read raises `ParseError`.
"""

from __future__ import annotations


class ParseError(ValueError):
    """Tool output that is not in the format the tool writes."""

    def __init__(self, tool: str, message: str):
        self.tool = tool
        super().__init__(f"{tool}: {message}")


def not_available(value: str | None) -> str | None:
    """nvidia-smi and friends print N/A for values a device does not report."""
    if value is None:
        return None
    value = value.strip()
    return None if value in ("", "N/A", "[N/A]", "Not Supported", "[Not Supported]") else value


def yes_no(value: str | None) -> bool | None:
    value = not_available(value)
    return None if value is None else value.lower() in ("yes", "true", "enabled")
