"""The AWX credential types of a factory's secrets: each injects into a job's environment the variables the
site's `group_vars/all/secrets.yml` looks its secrets up in, the way `aifactory bringup` hands them over
(aifactory.node.bringup: from the environment, never on disk). A credential holds the values in AWX; the
export names credentials and never holds a value. A field is secret (masked, write-only in AWX) when its
variable's name is one bringup treats as a secret (SECRET_NAME)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from aifactory.core.inputs import BadInput, InputFileError, read_text
from aifactory.node.bringup import SECRET_NAME

SECRETS_FILE = Path("group_vars") / "all" / "secrets.yml"
# `lookup('ansible.builtin.env', 'NAME', ...)` in secrets.yml: the variables a site reads its secrets from.
ENV_LOOKUP = re.compile(r"""lookup\(\s*['"](?:ansible\.builtin\.)?env['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]""")
# The stack outputs file the inventory plugin reads (playbooks/inventory_plugins/aifactory.py, option stack_outputs).
STACK_OUTPUTS_ENV = "AIFACTORY_STACK_OUTPUTS"
CUSTOM_KIND = "cloud"  # the kind AWX gives a custom credential type


@dataclass(frozen=True)
class Field:
    id: str
    label: str
    env: str

    @property
    def secret(self) -> bool:
        return bool(SECRET_NAME.search(self.env))


@dataclass(frozen=True)
class CredentialType:
    name: str
    description: str
    fields: tuple[Field, ...]

    def inputs(self) -> dict:
        """The type's `inputs` as AWX takes them; no field is required, so a credential can be made before
        its values are filled in."""
        return {"fields": [{"id": f.id, "label": f.label, "type": "string", **({"secret": True} if f.secret else {})}
                           for f in self.fields]}

    def injectors(self) -> dict:
        """The type's `injectors`: each field into its environment variable (AWX renders the templates)."""
        return {"env": {f.env: "{{ " + f.id + " }}" for f in self.fields}}


CREDENTIAL_TYPES = (
    CredentialType("aifactory BMC", "The BMCs' Redfish account (racks stage, restarts of a rollout)",
                   (Field("bmc_username", "BMC username", "AIFACTORY_BMC_USERNAME"),
                    Field("bmc_password", "BMC password", "AIFACTORY_BMC_PASSWORD"))),
    CredentialType("aifactory munge key", "The factory's munge key (one per factory: openssl rand -base64 96)",
                   (Field("munge_key", "Munge key", "AIFACTORY_MUNGE_KEY"),)),
    CredentialType("aifactory SSM activation", "The SSM hybrid activation code (pulumi stack output ssm_activation_code)",
                   (Field("ssm_activation_code", "SSM activation code", "AIFACTORY_SSM_ACTIVATION_CODE"),)),
    CredentialType("aifactory Slurm accounting database", "The password of slurmdbd's database",
                   (Field("slurmdbd_database_password", "slurmdbd database password", "AIFACTORY_SLURMDBD_DB_PASSWORD"),)),
    CredentialType("aifactory Alertmanager", "The bcrypt hash of the password Prometheus logs in to Alertmanager with "
                                             "(monitoring.enabled: htpasswd -nBC 12 prometheus, the part after the colon)",
                   (Field("alertmanager_password_hash", "Alertmanager password hash",
                          "AIFACTORY_ALERTMANAGER_PASSWORD_HASH"),)),
)
# Not a secret: the AWS stack's outputs (pulumi stack output --json), written to a file for the inventory plugin.
STACK_OUTPUTS_TYPE = "aifactory stack outputs"
STACK_OUTPUTS_FIELD = "stack_outputs"


def stack_outputs_type() -> dict:
    """The arguments of the stack outputs' credential type: its JSON in a file named by STACK_OUTPUTS_ENV (`{}`
    while the credential is empty: the inventory then has no AWS outputs, as without the file)."""
    return {"name": STACK_OUTPUTS_TYPE, "description": "The AWS stack's outputs (pulumi stack output --json), for the "
                                                      "inventory plugin", "kind": CUSTOM_KIND,
            "inputs": {"fields": [{"id": STACK_OUTPUTS_FIELD, "label": "Stack outputs (JSON)", "type": "string",
                                   "multiline": True}]},
            "injectors": {"file": {"template": "{{ " + STACK_OUTPUTS_FIELD + " | default('{}', true) }}"},
                          "env": {STACK_OUTPUTS_ENV: "{{ tower.filename }}"}}}


def site_secret_variables(site_dir: Path) -> list[str]:
    """The environment variables the site's secrets.yml reads, in its order; none without the file."""
    path = site_dir / SECRETS_FILE
    if not path.exists():
        return []
    try:
        text = read_text(path)
    except InputFileError as err:
        raise BadInput(f"{path}: {err}") from None
    return list(dict.fromkeys(ENV_LOOKUP.findall(text)))


def site_credential_types(variables: list[str]) -> tuple[list[CredentialType], list[str]]:
    """(the credential types that inject any of the variables, the variables none injects)."""
    used = [t for t in CREDENTIAL_TYPES if any(f.env in variables for f in t.fields)]
    injected = {f.env for t in used for f in t.fields}
    return used, [v for v in variables if v not in injected]
