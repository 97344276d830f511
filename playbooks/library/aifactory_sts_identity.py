#!/usr/bin/python
"""Ansible module: the identity an AWS profile's credentials give, from STS alone (GetCallerIdentity).

The aws_node_identity role checks each node's Roles Anywhere profile through the private STS endpoint.
amazon.aws.aws_caller_info, which it used, then also asks IAM's global endpoint for the account alias
(iam:ListAccountAliases). A node that reaches AWS only through the hybrid link's interface endpoints cannot reach
that endpoint: botocore tried it again and again (5.5 s per node in the lab, on every run, the run that changes
nothing included), and each try is a connection to a public endpoint that the site's egress firewall records.
This module calls STS and nothing else.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: aifactory_sts_identity
short_description: Ask STS who a profile's credentials are (GetCallerIdentity), and nothing else
description:
  - Calls STS GetCallerIdentity with the credentials of O(profile) (its credential_process included) in
    O(region), at the STS endpoint the profile resolves to (with C(sts_regional_endpoints = regional), the
    regional name, which a private interface endpoint answers).
  - No other AWS API is called (amazon.aws.aws_caller_info also calls IAM's global endpoint for the account alias).
  - Never changes anything (C(changed) is always false); runs the same in check mode.
  - The AWS config file is the one the environment names (C(AWS_CONFIG_FILE)), as for any boto3 client.
options:
  profile:
    description: The profile of the AWS config file whose credentials are checked.
    type: str
    required: true
  region:
    description: The region whose STS endpoint is asked.
    type: str
    required: true
  max_attempts:
    description: Attempts at the call (botocore's standard retry mode) before the module fails.
    type: int
    default: 3
requirements: [boto3]
author: aifactory
"""

EXAMPLES = r"""
- name: Check the node's credentials through the private STS endpoint
  aifactory_sts_identity:
    profile: aifactory-node
    region: eu-central-1
  environment:
    AWS_CONFIG_FILE: /etc/aifactory/aws/config
  register: __example_caller
"""

RETURN = r"""
arn:
  description: The ARN the credentials are (for a role session, the assumed role's session ARN).
  type: str
  returned: success
account:
  description: The AWS account of those credentials.
  type: str
  returned: success
user_id:
  description: The unique identifier STS gives the caller.
  type: str
  returned: success
endpoint:
  description: The STS endpoint URL that answered.
  type: str
  returned: success
"""

from ansible.module_utils.basic import AnsibleModule

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # reported by main(), with what to install
    boto3 = None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "profile": {"type": "str", "required": True},
            "region": {"type": "str", "required": True},
            "max_attempts": {"type": "int", "default": 3},
        },
        supports_check_mode=True,
    )
    profile, region = module.params["profile"], module.params["region"]
    if boto3 is None:
        module.fail_json(msg="boto3 is not installed on this host (Debian: python3-boto3)")
    if module.params["max_attempts"] < 1:
        module.fail_json(msg=f"max_attempts: must be at least 1, not {module.params['max_attempts']}")
    try:
        sts = boto3.Session(profile_name=profile, region_name=region).client(
            "sts", config=Config(retries={"mode": "standard", "max_attempts": module.params["max_attempts"]}))
        identity = sts.get_caller_identity()
    except (BotoCoreError, ClientError) as err:
        module.fail_json(msg=f"STS GetCallerIdentity with profile {profile} in {region} failed: {err}")
    module.exit_json(changed=False, arn=identity["Arn"], account=identity["Account"], user_id=identity["UserId"],
                     endpoint=sts.meta.endpoint_url)


if __name__ == "__main__":
    main()
