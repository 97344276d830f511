"""Parsers of the performance tools' output (nccl-tests, ib_write_bw, nccom-test), on fixtures from their
published output (tests/fixtures/tools/PERFORMANCE_SOURCES.md names each one's source)."""

from __future__ import annotations

import pytest

from aifactory.node.parsers import ParseError
from aifactory.node.parsers.ib_write_bw import parse_ib_write_bw
from aifactory.node.parsers.nccl_tests import parse_nccl_tests, transport_class
from aifactory.node.parsers.nccom_test import parse_nccom_test
from tests.conftest import REPO

TOOLS = REPO / "tests" / "fixtures" / "tools"
# CoreWeave's full GB200 NVL72 rack run (coreweave/nccl-tests PR 43).
RACK = "nccl-tests-all-reduce.gb200-nvl72-rack.txt"
# NVIDIA/nccl issue 1453's channel lines, aws/aws-k8s-tester PR 503's rank-prefixed table.
CHANNELS = "nccl-tests-all-reduce.h100-ib-channels.txt"
# linux-rdma/perftest issue 273.
POST_LIST = "ib_write_bw.post-list-gbits.txt"
# perftest issue 241's CUDA preamble and PR 214's settings, a 400G NDR result row.
GPUDIRECT = "ib_write_bw.ndr-gpudirect.txt"
# AWS Neuron NCCOM-TEST user guide.
NCCOM = "nccom-test-allr.txt"
# nccl-tests issue 107's header of an older release (no root column, `error` in place of `#wrong`), and a row
# written in that format.
OLD_HEADER = ("#       size         count      type   redop     time   algbw   busbw  error"
              "     time   algbw   busbw  error\n"
              "  1310720000     327680000     float     sum    1434.1  913.97  913.97  2e-07"
              "    1432.8  914.80  914.80  2e-07\n")


def fixture(name: str) -> str:
    return (TOOLS / name).read_text()


def test_nccl_tests_reads_every_row_both_halves_and_the_summary():
    parsed = parse_nccl_tests(fixture(RACK))
    assert [r["size"] for r in parsed["rows"]] == [2**29, 2**30, 2**31, 2**32, 2**33]
    largest = parsed["rows"][-1]
    assert (largest["out_of_place"]["busbw"], largest["in_place"]["busbw"]) == (834.57, 846.82)
    assert largest["out_of_place"]["wrong"] == 0 and largest["redop"] == "sum"
    assert (parsed["out_of_bounds"], parsed["avg_busbw"], parsed["transports"]) == (0, 745.53, {})


def test_nccl_tests_counts_the_transports_nccl_printed_and_strips_the_mpi_rank_prefix():
    parsed = parse_nccl_tests(fixture(CHANNELS))
    assert parsed["transports"] == {"net-ib-gdr": 5}
    assert [r["size"] for r in parsed["rows"]] == [8, 16]
    assert parsed["avg_busbw"] == 92.3405


@pytest.mark.parametrize("via, kind", [
    ("P2P/MNNVL", "mnnvl"), ("P2P/MNNVL/read", "mnnvl"), ("P2P/CUMEM/read", "p2p"), ("P2P/IPC", "p2p"),
    ("NET/IB/0/GDRDMA", "net-ib-gdr"), ("NET/IBext_v8/7/GDRDMA", "net-ib-gdr"), ("NET/IB/0", "net-ib"),
    ("NET/Socket/0", "net-socket"), ("NET/AWS Libfabric/0/GDRDMA", "net-ofi"), ("SHM/direct/direct", "shm"),
])
def test_transport_classes(via, kind):
    assert transport_class(via) == kind


def test_an_nccl_mnnvl_channel_line_in_the_format_nccl_prints():
    # NCCL src/transport/p2p.cc: INFO "Channel %02d : %d[%d] -> %d[%d] via P2P/MNNVL%s"
    line = "node-a:1:2 [0] NCCL INFO Channel 00/0 : 3[3] -> 4[0] via P2P/MNNVL/read\n"
    assert parse_nccl_tests(line + fixture(RACK))["transports"] == {"mnnvl": 1}


def test_wrong_values_and_out_of_bounds_are_read():
    text = fixture(RACK).replace("# Out of bounds values : 0 OK", "# Out of bounds values : 248 FAILED")
    text = text.replace("20006  429.37  846.82      0", "20006  429.37  846.82      3")
    parsed = parse_nccl_tests(text)
    assert parsed["out_of_bounds"] == 248 and parsed["rows"][-1]["in_place"]["wrong"] == 3


def test_an_older_release_without_root_and_with_an_error_column():
    row = parse_nccl_tests(OLD_HEADER)["rows"][0]
    assert (row["out_of_place"]["busbw"], row["out_of_place"]["wrong"], row["redop"]) == (913.97, None, "sum")


@pytest.mark.parametrize("text, message", [
    ("", "no result table"),
    ("NCCL WARN Cuda failure 'out of memory'\n", "no result table"),
    (fixture(RACK).split("   536870912")[0], "no rows"),
    (fixture(RACK).replace("   -1   1806.7", "   -1"), "fields, the table header has 13"),
    (fixture(RACK).replace("1806.7", "fast"), "not a result row"),
])
def test_nccl_tests_output_it_cannot_read_raises_a_parse_error(text, message):
    with pytest.raises(ParseError, match=message):
        parse_nccl_tests(text)


def test_ib_write_bw_reads_the_settings_and_the_table():
    parsed = parse_ib_write_bw(fixture(POST_LIST))
    assert (parsed["test"], parsed["device"], parsed["link_type"], parsed["unit"]) == \
        ("RDMA_Write Post List BW Test", "ib0", "Ethernet", "Gb/sec")
    assert parsed["rows"] == [{"bytes": 8, "iterations": 224958464, "bw_peak": 0.0, "bw_average": 0.48,
                               "msg_rate_mpps": 7.498617}]
    assert parsed["gpu_memory"] is False


def test_ib_write_bw_says_when_its_buffers_were_in_gpu_memory():
    parsed = parse_ib_write_bw(fixture(GPUDIRECT))
    assert parsed["gpu_memory"] is True and parsed["link_type"] == "IB"
    assert parsed["rows"][0]["bytes"] == 8388608 and parsed["rows"][0]["bw_average"] == 390.87


@pytest.mark.parametrize("text, message", [
    ("", "not ib_write_bw's report"),
    (fixture(POST_LIST).split(" #bytes")[0], "no result table"),
    (fixture(POST_LIST).split(" 8          224958464")[0], "no rows"),
    (fixture(POST_LIST).replace("7.498617", ""), "expected 5 fields"),
    (fixture(POST_LIST).replace("0.48", "n/a"), "not a result row"),
])
def test_ib_write_bw_output_it_cannot_read_raises_a_parse_error(text, message):
    with pytest.raises(ParseError, match=message):
        parse_ib_write_bw(text)


def test_nccom_test_reads_its_table_by_column_name():
    parsed = parse_nccom_test(fixture(NCCOM))
    assert parsed == {"rows": [{"size": 33554432, "type": "uint8", "time_us": 768.0, "algbw": 40.69,
                                "busbw": 40.69}], "avg_busbw": 40.6901}
    wider = fixture(NCCOM).replace("busbw(GB/s)", "busbw(GB/s)    extra").replace("40.69\n", "40.69    7\n")
    assert parse_nccom_test(wider)["rows"][0]["busbw"] == 40.69


@pytest.mark.parametrize("text, message", [
    ("", "no result table"),
    (fixture(NCCOM).replace("busbw(GB/s)", "bw"), "lacks busbw"),
    (fixture(NCCOM).split("    33554432")[0], "no rows"),
    (fixture(NCCOM).replace("40.69          40.69", "40.69"), "fields, the table header has 6"),
])
def test_nccom_test_output_it_cannot_read_raises_a_parse_error(text, message):
    with pytest.raises(ParseError, match=message):
        parse_nccom_test(text)
