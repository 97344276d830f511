"""Who and where the program deploys: the AWS account and partition, as one typed value."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class Account:
    """The account the provider is signed in to, its partition (aws, aws-us-gov, ...) and the deploying
    principal (the caller's ARN)."""

    id: str
    partition: str
    caller_arn: str = ""


def current_account(provider: aws.Provider) -> pulumi.Output[Account]:
    identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider))
    return pulumi.Output.all(identity.account_id, identity.arn).apply(
        lambda values: Account(id=values[0], partition=values[1].split(":")[1], caller_arn=values[1])
    )
