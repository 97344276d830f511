"""`aifactory verify SPEC`: check the deployed AWS side with boto3 (real AWS, or moto with --aws-endpoint).

Against real AWS the credentials come from the environment as usual; with --aws-endpoint (a
moto_server, e.g. after `aifactory plan --aws-endpoint`) fake credentials are used.
Exit 0 when every check passes, 1 when one fails (non-compliant), 4 when AWS could not be asked (no
credentials, unreachable, refused): no verdict.
"""

from __future__ import annotations

import sys

import botocore.exceptions

from aifactory.commands.aws import EXIT_NOT_CHECKED, add_aws_endpoint, aws_account_problem, aws_session
from aifactory.core.output import emit_json, table
from aifactory.spec import load_spec
from aifactory.spec.validators import shown
from aifactory.aws.verify import verify


def register(sub) -> None:
    p = sub.add_parser("verify", help="check the deployed AWS side (no internet path, endpoints, TGW, buckets, keys)")
    p.add_argument("spec", metavar="SPEC", help="factory.yaml or the site directory holding it")
    add_aws_endpoint(p)
    p.add_argument("--region", help="AWS region (default: the spec's sovereignty.region)")
    p.add_argument("--aws-account", metavar="ID", help="with --aws-endpoint: the moto account to check (a plan's `aws_account`)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=run_verify)


def run_verify(args) -> int:
    problem = aws_account_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    factory = load_spec(args.spec)
    region = args.region or factory.sovereignty.region
    if region not in factory.sovereignty.allowed_regions:
        print(f"error: --region {shown(region)} is not one of {factory.name}'s allowed regions "
              f"(sovereignty.allowed_regions: {', '.join(factory.sovereignty.allowed_regions)})", file=sys.stderr)
        return 2
    try:
        checks = verify(factory, aws_session(args, region))
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
        print(f"error: cannot verify {factory.name} in {region}, no verdict: {err}", file=sys.stderr)
        return EXIT_NOT_CHECKED
    ok = all(c.ok for c in checks)
    if args.format == "json":
        emit_json({"factory": factory.name, "region": region, "ok": ok,
                   "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks]})
    else:
        print(table(["check", "result", "detail"], [(c.name, "ok" if c.ok else "FAIL", c.detail) for c in checks]))
        print(f"\n{factory.name}: {sum(c.ok for c in checks)}/{len(checks)} checks passed")
    return 0 if ok else 1
