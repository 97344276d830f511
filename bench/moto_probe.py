"""Where the moto layer's plan time goes (a diagnostic child of the plan benchmark).

    python bench/moto_probe.py COPIES

Prints one JSON object:
- setup_s: the first call into each moto service the infra program uses (moto builds a service's
  backend on first use; IAM also loads the AWS managed policies the plan needs);
- per_call_ms: mean time of the engine's create handler (aifactory.plan.moto_backend) for a VPC, a
  security group and a role, over the first and the last 100 of COPIES copies; and, for comparison,
  of the two filtered `describe_*` lookups per VPC that the VPC handler used to make (moto answers
  them by scanning every group and route table in the region, so they grow with the VPC count).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aifactory.plan import in_process_moto  # noqa: E402
from aifactory.plan.moto_backend import Backend, client_factory  # noqa: E402

REGION = "eu-west-3"
FIRST_CALLS = {
    "iam (with managed policies)": lambda c: c("iam", REGION).list_roles(),
    "ec2": lambda c: c("ec2", REGION).describe_vpcs(),
    "sagemaker": lambda c: c("sagemaker", REGION).list_model_package_groups(),
    "kms": lambda c: c("kms", REGION).list_keys(),
    "s3": lambda c: c("s3", REGION).list_buckets(),
}
ASSUME = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    copies = int(sys.argv[1])
    with in_process_moto():
        clients = client_factory(None)
        setup = {name: round(timed(lambda: call(clients)), 3) for name, call in FIRST_CALLS.items()}
        backend, ec2 = Backend(clients, REGION), clients("ec2", REGION)
        times: dict[str, list[float]] = {"vpc": [], "security_group": [], "role": [], "vpc_describes_before": []}
        for k in range(copies):
            vpc_id = []
            times["vpc"].append(timed(lambda: vpc_id.append(backend.create(
                "aws:ec2/vpc:Vpc", f"v{k}", {"cidrBlock": f"10.{k // 256}.{k % 256}.0/24"})[0])))
            times["vpc_describes_before"].append(timed(lambda: (
                ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": vpc_id},
                                                      {"Name": "group-name", "Values": ["default"]}]),
                ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": vpc_id},
                                                   {"Name": "association.main", "Values": ["true"]}]))))
            times["security_group"].append(timed(lambda: backend.create(
                "aws:ec2/securityGroup:SecurityGroup", f"sg{k}", {"vpcId": vpc_id[0], "description": "bench"})))
            times["role"].append(timed(lambda: backend.create("aws:iam/role:Role", f"r{k}", {"assumeRolePolicy": ASSUME})))
    window = min(100, copies)
    per_call = {name: {"first_ms": round(1000 * sum(v[:window]) / window, 2), "last_ms": round(1000 * sum(v[-window:]) / window, 2)}
                for name, v in times.items()}
    print(json.dumps({"copies": copies, "setup_s": setup, "per_call_ms": per_call}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
