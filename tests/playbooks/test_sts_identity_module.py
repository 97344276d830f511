"""aifactory_sts_identity (playbooks/library): the aws_node_identity role's check of a node's AWS profile asks STS
who its credentials are, and calls no other API (amazon.aws.aws_caller_info also called IAM's global endpoint,
which a node on the private link cannot reach). The module runs on this machine against a recording stand-in of
the STS endpoint on 127.0.0.1 (every AWS endpoint of the run pointed at it): it records each call's Action."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import yaml

MODULE = Path(__file__).resolve().parents[2] / "playbooks/library/aifactory_sts_identity.py"
ROLE = MODULE.parents[1] / "roles/aws_node_identity"
ARN = "arn:aws:sts::111122223333:assumed-role/site-node/node01"
ANSWER = f"""<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult><Arn>{ARN}</Arn><UserId>AROAEXAMPLE:node01</UserId><Account>111122223333</Account>
  </GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>"""


class Recorder(BaseHTTPRequestHandler):
    """Answers GetCallerIdentity; any other Action gets STS's InvalidAction. Every Action is recorded."""
    actions: list[str] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        action = parse_qs(body).get("Action", ["?"])[0]
        self.actions.append(action)
        ok = action == "GetCallerIdentity"
        error = "<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>"
        payload = (ANSWER if ok else error).encode()
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    Recorder.actions = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def run_module(tmp_path: Path, endpoint: str, args: dict) -> dict:
    config = tmp_path / "config"
    config.write_text("[profile site-node]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = example\n")
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run([sys.executable, str(MODULE), str(args_file)], capture_output=True, text=True, timeout=120,
                          env={**env, "AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                               "AWS_ENDPOINT_URL": endpoint, "AWS_EC2_METADATA_DISABLED": "true"})
    return json.loads(done.stdout)


def test_the_profile_s_identity_comes_from_sts_and_no_other_api_is_called(tmp_path, endpoint):
    result = run_module(tmp_path, endpoint, {"profile": "site-node", "region": "eu-central-1"})
    assert result["changed"] is False and "failed" not in result, result
    assert (result["arn"], result["account"], result["endpoint"]) == (ARN, "111122223333", endpoint)
    assert Recorder.actions == ["GetCallerIdentity"]


def test_an_unknown_profile_or_an_unreachable_endpoint_fails_naming_the_profile(tmp_path, endpoint):
    missing = run_module(tmp_path, endpoint, {"profile": "nobody", "region": "eu-central-1"})
    assert missing["failed"] is True and "profile nobody in eu-central-1 failed" in missing["msg"], missing
    closed = run_module(tmp_path, "http://127.0.0.1:9", {"profile": "site-node", "region": "eu-central-1",
                                                         "max_attempts": 1})
    assert closed["failed"] is True and "Could not connect to the endpoint URL" in closed["msg"], closed
    assert Recorder.actions == []


def test_the_role_checks_the_identity_with_this_module():
    tasks = yaml.safe_load((ROLE / "tasks/roles_anywhere.yml").read_text())
    check = next(t for t in tasks if "aifactory_sts_identity" in t)
    assert check["name"] == "Check the profile's credentials through the private STS endpoint"
    assert check["aifactory_sts_identity"] == {"profile": "{{ aws_node_identity_profile }}",
                                              "region": "{{ aws_node_identity_region }}"}
    assert check["environment"] == {"AWS_CONFIG_FILE": "{{ aws_node_identity_config }}"}
