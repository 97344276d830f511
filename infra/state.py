"""PulumiState: where the stack keeps its state and how it encrypts its secrets, declared for the controls (SOV-15).

Pulumi's defaults (the Pulumi Cloud backend, a passphrase secrets provider) take the state out of the
customer's control. A sovereign factory keeps its state in an S3 bucket and its secrets under a KMS key,
both in the home region (`aifactory bootstrap SITE` creates them). The program reads what the stack
uses and records it as this component's properties, so the policy pack can refuse anything else:

- backend: `PULUMI_BACKEND_URL` when set (what `pulumi login` uses before anything else), else the
  project's `backend.url` in Pulumi.yaml, else the stack's `aifactory:stateBackend` config;
- secrets provider: the stack file's `secretsprovider` (Pulumi.<stack>.yaml).

When that stack file is not there, the component says which file it looked for (`missingStackFile`),
so SOV-15 names it rather than judging Pulumi's defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pulumi
import yaml

STATE_TYPE = "aifactory:infra:PulumiState"


def declared_state(project_root: Path, stack: str) -> tuple[str, str]:
    """(backend URL, secrets provider) the stack uses; "" where nothing is set (Pulumi's defaults)."""

    def read(path: Path) -> dict:
        return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}

    project, stack_file = read(project_root / "Pulumi.yaml"), read(project_root / f"Pulumi.{stack}.yaml")
    backend = (os.environ.get("PULUMI_BACKEND_URL") or (project.get("backend") or {}).get("url")
               or (stack_file.get("config") or {}).get("aifactory:stateBackend") or "")
    return str(backend), str(stack_file.get("secretsprovider") or "")


def stack_state(home_region: str, project_root: Path, stack: str) -> PulumiStateArgs:
    """What the stack `stack` of the project at `project_root` declares (`declared_state`), and the stack
    file looked for when it is missing."""
    stack_file = project_root / f"Pulumi.{stack}.yaml"
    return PulumiStateArgs(home_region, *declared_state(project_root, stack),
                           missing_stack_file="" if stack_file.is_file() else str(stack_file))


@dataclass(frozen=True)
class PulumiStateArgs:
    """The home region, and the backend URL and secrets provider the stack uses (`declared_state`);
    `missing_stack_file`: the Pulumi.<stack>.yaml looked for and not found ("" when found, or when the
    values are given by hand)."""

    home_region: str
    backend_url: str
    secrets_provider: str
    missing_stack_file: str = ""


class PulumiState(pulumi.ComponentResource):
    """No cloud resource: the state backend and secrets provider, as properties the controls read."""

    def __init__(self, name: str, args: PulumiStateArgs, opts: pulumi.ResourceOptions | None = None):
        props = {"backendUrl": args.backend_url, "secretsProvider": args.secrets_provider,
                 "homeRegion": args.home_region, "missingStackFile": args.missing_stack_file}
        super().__init__(STATE_TYPE, f"{name}-pulumi-state", props, opts)
        self.register_outputs(props)
