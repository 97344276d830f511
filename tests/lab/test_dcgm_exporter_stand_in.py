"""The lab's dcgm-exporter stand-in: DCGM's exporter's /metrics page from a node's hardware profile, with the real
exporter's options as the dcgm_exporter role passes them (the counters file the inventory writes, the listen address,
TLS for the factory CA's clients, the HPC job mapping), run here as the node's unit would run it."""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from aifactory.lab import hardware, procs, tls
from aifactory.monitoring import metrics
from aifactory.spec import load_spec
from tests.conftest import site_dir

STAND_IN = Path(hardware.__file__).parent / "stand_in_tools" / "stand_in.py"


@pytest.fixture
def exporter(tmp_path):
    """Start the stand-in as `dcgm-exporter` on a faulty lab-b200 node's profile; yield (base URL, client context,
    job mapping directory)."""
    f = load_spec(site_dir("lab-b200"))
    node = f.nodes[0]
    hw = hardware.with_faults(hardware.node_profile(f.platform, f.name, node.name, node.rack),
                              ["ecc-uncorrectable", "nvlink-down"])
    (tmp_path / "hardware.json").write_text(json.dumps(hw))
    (tmp_path / "counters.csv").write_text("# field, type, help\n" + "".join(
        f"{c['field']}, {c['type']}, {c['help']}\n" for c in metrics.dcgm_counters()))
    ca = tls.ensure_ca(tmp_path / "pki")
    cert, key = tls.issue(ca, tmp_path / "pki", "node", addresses=["127.0.0.1"])
    client_cert, client_key = tls.issue(ca, tmp_path / "pki", "prometheus", client=True)
    (tmp_path / "web.yml").write_text(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
                                      f"  client_ca_file: {ca[0]}\n  client_auth_type: RequireAndVerifyClientCert\n")
    mapping = tmp_path / "job-mapping"
    mapping.mkdir()
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "dcgm-exporter").symlink_to(STAND_IN)
    port = procs.free_port()
    argv = [sys.executable, str(tmp_path / "bin" / "dcgm-exporter"), "-f", str(tmp_path / "counters.csv"),
            "--address", f"127.0.0.1:{port}", "--xid-count-window-size", "300000", "--remote-hostengine-info",
            "localhost:5555", "--hpc-job-mapping-dir", str(mapping), "--web-config-file", str(tmp_path / "web.yml")]
    process = subprocess.Popen(argv, env={**os.environ, "AIFACTORY_LAB_HARDWARE": str(tmp_path / "hardware.json")},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    client = ssl.create_default_context(cafile=str(ca[0]))
    client.load_cert_chain(str(client_cert), str(client_key))
    url = f"https://127.0.0.1:{port}/metrics"
    try:
        assert "aifactory lab stand-in" in process.stdout.readline()  # it says what it is, once listening
        yield url, client, mapping, hw
    finally:
        process.terminate()
        process.wait(timeout=10)


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    out = {}
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)\{(.*)\} (\S+)", line)
        if match:
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
            out[(match.group(1), labels)] = float(match.group(3))
    return out


def value(found: dict, name: str, **labels) -> list[float]:
    return [v for (n, ls), v in found.items() if n == name and set(labels.items()) <= set(ls)]


def test_every_counter_is_served_per_gpu_with_the_profile_s_faults(exporter):
    url, client, _mapping, hw = exporter
    page = urllib.request.urlopen(url, context=client, timeout=10).read().decode()
    found = samples(page)
    gpus = len(hw["gpus"])
    for counter in metrics.dcgm_counters():
        if counter["field"] != metrics.XID_ERRORS_COUNT.name:  # no XID in this profile: no series, as the exporter
            assert f"# TYPE {counter['field']} {counter['type']}" in page, counter["field"]
    assert len(value(found, metrics.GPU_TEMP.name)) == gpus
    assert value(found, metrics.ECC_DBE_VOL_TOTAL.name, gpu="0") == [2] and value(found, metrics.ECC_DBE_VOL_TOTAL.name, gpu="1") == [0]
    assert value(found, metrics.ROW_REMAP_PENDING.name, gpu="0") == [1]
    assert value(found, metrics.NVLINK_LINK_STATUS.name, gpu="0", link="0") == [metrics.NVLINK_LINK_DOWN]
    assert set(value(found, metrics.NVLINK_LINK_STATUS.name, gpu="1")) == {3}  # up
    # The labels the alert rules select on, and the node's name as the exporter's Hostname.
    (name, labels), _ = next(iter(found.items()))
    assert set(metrics.DCGM_GPU_LABELS) <= {k for k, _v in labels} and ("Hostname", hw["node"]) in labels


def test_a_gpu_s_series_carry_the_jobs_the_mapping_names_for_it(exporter):
    url, client, mapping, _hw = exporter
    (mapping / "1").write_text("4242\n4243\n")
    found = samples(urllib.request.urlopen(url, context=client, timeout=10).read().decode())
    assert sorted(dict(ls)["hpc_job"] for (n, ls), _v in found.items() if n == metrics.GPU_TEMP.name and ("gpu", "1") in ls) == [
        "4242", "4243"]
    assert all("hpc_job" not in dict(ls) for (n, ls), _v in found.items() if n == metrics.GPU_TEMP.name and ("gpu", "0") in ls)


def test_a_client_without_the_factory_ca_s_certificate_is_refused(exporter):
    url, _client, _mapping, _hw = exporter
    anonymous = ssl.create_default_context()
    anonymous.check_hostname, anonymous.verify_mode = False, ssl.CERT_NONE
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        urllib.request.urlopen(url, context=anonymous, timeout=10).read()
