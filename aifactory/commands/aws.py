"""What the commands that talk to AWS share: the `--aws-endpoint` option and the session it implies."""

from __future__ import annotations

from collections.abc import Callable

import boto3

from aifactory.aws.moto_standin.backend import FAKE_CREDENTIALS, use_moto_account
from aifactory.aws.plan import EXIT_NOT_CHECKED  # noqa: F401  (the commands' one name for it)


def add_aws_endpoint(parser) -> None:
    parser.add_argument("--aws-endpoint", metavar="URL", help="a moto_server URL (fake credentials) instead of real AWS")


def aws_session(args, region: str) -> Callable[[str], object]:
    """A boto3 client per service name in `region`: real AWS with the environment's credentials, or the
    moto_server at `args.aws_endpoint` with fake ones (in moto's account `args.aws_account` when given)."""
    endpoint = args.aws_endpoint
    session = boto3.session.Session(**FAKE_CREDENTIALS) if endpoint else boto3.session.Session()
    account = getattr(args, "aws_account", None)
    if endpoint and account:
        use_moto_account(session, account)
    return lambda service: session.client(service, region_name=region, endpoint_url=endpoint)


def aws_account_problem(args) -> str | None:
    """Why `--aws-account` cannot be used as given, or None: it picks a moto account, so it needs `--aws-endpoint`."""
    if getattr(args, "aws_account", None) and not args.aws_endpoint:
        return ("--aws-account selects an account of the moto_server named by --aws-endpoint, and no --aws-endpoint "
                "was given (against real AWS the credentials decide the account): add --aws-endpoint URL or drop --aws-account")
    return None
