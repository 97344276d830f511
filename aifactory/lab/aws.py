"""The AWS stand-in: `moto_server` on 127.0.0.1, and the AWS link the nodes use to reach it.

On a site the nodes reach AWS over the hybrid link under the private endpoint names
(`sts.<region>.amazonaws.com`, `bedrock-runtime...`), with credentials from IAM Roles Anywhere
(AWS's signing helper and the node's certificate) and an SSM agent registered with the hybrid
activation. The lab stands in for each, on the bridge's gateway only (nothing leaves the lab):

- a DNS server (dns.py) answering the plan's `endpoint_dns` names, read from the lab's stack-outputs
  file (`AIFACTORY_STACK_OUTPUTS` in lab.env, which `aifactory plan --stack-outputs` writes), with the
  gateway's address; the nodes' resolv.conf names it;
- an HTTPS listener (tls.py) on the gateway's port 443 in front of moto_server, its certificate from
  the lab's CA, which the nodes trust in their system store;
- per node a client certificate from that CA (the Roles Anywhere identity a site's CA issues);
- an HTTP server for what the role downloads: the stand-ins for AWS's signing helper and the
  amazon-ssm-agent package (stand_in_tools/), with their SHA-256.
Every process is recorded in the lab state; `lab down` stops them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from aifactory.lab import base, dns, procs, tls
from aifactory.lab.state import LabState
from aifactory.mirror.installs import role_value

STAND_IN_TOOLS = Path(__file__).resolve().parent / "stand_in_tools"
SIGNING_HELPER = "aws_signing_helper"
SIGNING_HELPER_VERSION = "0.0.0-aifactory-lab-stand-in"  # the stand-in's release, as its download path names it
SSM_AGENT_DEB = "amazon-ssm-agent.deb"
STACK_OUTPUTS_FILE = "stack-outputs.json"
HTTPS_PORT = 443
NODE_PKI = "etc/aifactory/pki"  # the aws_node_identity role's default certificate and key directory
NODE_CA = "usr/local/share/ca-certificates/aifactory-lab-ca.crt"


def start(state: LabState) -> str:
    """Start moto's server; return its endpoint URL once it answers."""
    # AWS managed policies (AmazonSSMManagedInstanceCore, ...) exist in moto's IAM only when loaded.
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}

    def launch(ports: list[int]) -> tuple[list[str], str]:
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(ports[0])]
        return argv, f"http://127.0.0.1:{ports[0]}/moto-api/"

    port, = procs.start_on_free_ports(state, "AWS (moto_server)", 1, launch, state.dir / "aws" / "moto.log", env=env)
    url = f"http://127.0.0.1:{port}"
    return url


def pki_dir(state: LabState) -> Path:
    return state.dir / "pki"


def stack_outputs_path(state: LabState) -> Path:
    return state.dir / STACK_OUTPUTS_FILE


def server_names(region: str) -> list[str]:
    """What the HTTPS listener's certificate covers: every endpoint name of the region."""
    return [f"*.{region}.amazonaws.com", f"*.sagemaker.{region}.amazonaws.com"]


def start_link(state: LabState, region: str, gateway: str) -> None:
    """Start the AWS link stand-ins on the gateway: DNS, HTTPS in front of moto, the download server."""
    ca = tls.ensure_ca(pki_dir(state))
    cert, key = tls.issue(ca, pki_dir(state), "aws-endpoints", server_names(region), [gateway])
    moto_port = state.endpoints["aws"].rsplit(":", 1)[1]
    log_dir = state.dir / "aws"
    argv = [sys.executable, "-m", "aifactory.lab.tls", "--listen", f"{gateway}:{HTTPS_PORT}", "--cert", str(cert),
            "--key", str(key), "--to", f"127.0.0.1:{moto_port}"]
    procs.start_service(state, "AWS endpoints (HTTPS in front of moto_server)", argv, log_dir / "https.log",
                        f"https://{gateway}:{HTTPS_PORT}/moto-api/")
    state.endpoints["aws_https"] = f"https://{gateway}:{HTTPS_PORT}"
    outputs = stack_outputs_path(state)
    argv = [sys.executable, "-m", "aifactory.lab.dns", "--listen", gateway, "--address", gateway,
            "--names-from", str(outputs), "--misses", str(state.dir / dns.MISSES_FILE)]
    ident = procs.spawn(argv, log_dir / "dns.log")
    state.record("process", role="DNS (private endpoint names)", **ident)
    if not procs.wait_until(lambda: _dns_answers(gateway) or not procs.alive(ident), 30) or not procs.alive(ident):
        raise RuntimeError(f"the DNS stand-in did not answer on {gateway}:53; see {log_dir / 'dns.log'}")
    state.endpoints["dns"] = gateway
    files = state.dir / "awslink-files"
    files.mkdir(parents=True, exist_ok=True)
    helpers = signing_helper_releases(files / "releases")
    build_ssm_agent_deb(files / SSM_AGENT_DEB)
    state.endpoints["aws_downloads"] = procs.serve_directory(state, "AWS link downloads", files, gateway,
                                                             log_dir / "downloads.log",
                                                             str(helpers[0].relative_to(files)))
    state.save()


def signing_helper_releases(root: Path) -> list[Path]:
    """The signing helper stand-in laid out as AWS's releases tree (`root` stands for SIGNING_HELPER_RELEASES), as
    release SIGNING_HELPER_VERSION for both CPU architectures (a Python program runs on either), at the paths the
    aws_node_identity role fetches; the files written."""
    out = []
    for arch in ("amd64", "arm64"):
        path = root / role_value("aws_node_identity", "__aws_node_identity_signing_helper_file", base.RELEASE,
                                 {"aws_node_identity_signing_helper_version": SIGNING_HELPER_VERSION}, arch)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(STAND_IN_TOOLS / SIGNING_HELPER, path)
        out.append(path)
    return out


def _dns_answers(server: str) -> bool:
    try:
        dns.query(server, "aifactory-lab-probe.invalid", timeout=0.5)
        return True
    except OSError:
        return False


def build_ssm_agent_deb(out: Path) -> Path:
    """The amazon-ssm-agent package, stand-in edition: the agent's command and its systemd unit."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "pkg"
        (root / "DEBIAN").mkdir(parents=True)
        (root / "DEBIAN/control").write_text(
            "Package: amazon-ssm-agent\nVersion: 3.3.0.0-aifactory-lab-stand-in\nArchitecture: all\n"
            "Maintainer: aifactory lab <lab@aifactory.invalid>\nDepends: python3\nSection: admin\nPriority: optional\n"
            "Description: aifactory lab stand-in for the Amazon SSM Agent (not AWS's agent)\n"
            " Records the hybrid activation's registration and connects nowhere.\n")
        agent = root / "usr/bin/amazon-ssm-agent"
        agent.parent.mkdir(parents=True)
        shutil.copy2(STAND_IN_TOOLS / "amazon-ssm-agent", agent)
        agent.chmod(0o755)
        unit = root / "lib/systemd/system/amazon-ssm-agent.service"
        unit.parent.mkdir(parents=True)
        unit.write_text("[Unit]\nDescription=amazon-ssm-agent (aifactory lab stand-in, not AWS's agent)\n\n"
                        "[Service]\nExecStart=/usr/bin/amazon-ssm-agent\nRestart=on-failure\n\n"
                        "[Install]\nWantedBy=multi-user.target\n")
        subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(out)], check=True,
                       capture_output=True)
    return out


def seed_node(state: LabState, root: Path, node: str, gateway: str) -> None:
    """What a site provisions before the AWS link stage: the resolver (here the DNS stand-in), the
    site CA in the system store (here the lab CA), the node's certificate and key from that CA."""
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/resolv.conf").write_text(f"# aifactory lab: the DNS stand-in on the lab gateway\nnameserver {gateway}\n")
    ca_cert, _ = tls.ensure_ca(pki_dir(state))
    shutil.copyfile(ca_cert, root / NODE_CA)
    subprocess.run(["chroot", str(root), "update-ca-certificates"], check=True, capture_output=True)
    cert, key = tls.issue(tls.ensure_ca(pki_dir(state)), pki_dir(state) / "nodes", node, client=True)
    pki = root / NODE_PKI
    pki.mkdir(parents=True, exist_ok=True, mode=0o755)
    shutil.copyfile(cert, pki / "node.crt")
    (pki / "node.key").touch(mode=0o600)
    shutil.copyfile(key, pki / "node.key")


def role_vars(state: LabState) -> dict:
    """The aws_node_identity role's downloads, from the lab's download server, with their checksums."""
    files = state.dir / "awslink-files"
    url = state.endpoints["aws_downloads"]
    return {
        "aws_node_identity_signing_helper_url": f"{url}/releases",
        **signing_helper_release(),
        "aws_node_identity_ssm_agent_url": f"{url}/{SSM_AGENT_DEB}",
        "aws_node_identity_ssm_agent_checksum": f"sha256:{_sha256(files / SSM_AGENT_DEB)}",
    }


def signing_helper_release() -> dict:
    """The role variables naming the stand-in's release and its SHA-256 (the same file for both architectures)."""
    sha256 = _sha256(STAND_IN_TOOLS / SIGNING_HELPER)
    return {"aws_node_identity_signing_helper_version": SIGNING_HELPER_VERSION,
            "aws_node_identity_signing_helper_sha256": {"x86_64": sha256, "aarch64": sha256}}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
