"""`aifactory bootstrap SPEC`: the Pulumi state bucket and secrets key in the home region (before `pulumi login`).

Against real AWS the credentials come from the environment as usual; with --aws-endpoint (a
moto_server) fake credentials are used, so the bootstrap can be rehearsed offline. Safe to re-run.
"""

from __future__ import annotations

import argparse
import sys

import botocore.exceptions

from aifactory.aws.bootstrap import BootstrapError, bootstrap
from aifactory.commands.aws import add_aws_endpoint, aws_session
from aifactory.catalog import aws_api
from aifactory.core.output import emit_json
from aifactory.spec import load_spec
from aifactory.spec.validators import shown


def register(sub) -> None:
    p = sub.add_parser("bootstrap", help="create the Pulumi state bucket and secrets key in the home region")
    p.add_argument("spec", metavar="SPEC", help="factory.yaml or the site directory holding it")
    p.add_argument("--bucket", type=bucket_name, help="state bucket name (default: <factory>-pulumi-state)")
    add_aws_endpoint(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=run_bootstrap)


def bucket_name(value: str) -> str:
    """--bucket: a name S3 accepts for a general purpose bucket (refused before anything is asked of AWS)."""
    problem = aws_api.bucket_name_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(f"{shown(value)}: {problem}")
    return value


def run_bootstrap(args) -> int:
    factory = load_spec(args.spec)
    region = factory.sovereignty.region
    try:
        result = bootstrap(factory, aws_session(args, region), args.bucket)
    except (BootstrapError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
        print(f"error: cannot bootstrap {factory.name} in {region}: {err}", file=sys.stderr)
        return 1
    if args.format == "json":
        emit_json({"factory": factory.name, "region": region, "bucket": result.bucket, "key_arn": result.key_arn,
                   "created": result.created, "backend_url": result.backend_url,
                   "secrets_provider": result.secrets_provider})
        return 0
    print("\n".join(f"created {what}" for what in result.created) or "nothing to create: bucket and key exist")
    print(f"\nPulumi.{factory.name}.yaml:\n  config:\n    aifactory:stateBackend: {result.backend_url}\n"
          f"  secretsprovider: {result.secrets_provider}\n\nthen:\n  pulumi login '{result.backend_url}'\n"
          f"  pulumi stack init {factory.name} --secrets-provider '{result.secrets_provider}'")
    return 0
