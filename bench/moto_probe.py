"""Where the moto layer's plan time goes (a diagnostic child of the plan benchmark).

    python bench/moto_probe.py COPIES

Prints one JSON object:
- setup_s: the first call into each moto service, as a plan's moto worker makes them while the
  program loads (`Backend.warm_up` in `WARM_UP` order, botocore's model loader shared as in the
  worker; moto builds a service's backend on first use; IAM also loads the AWS managed policies);
- per_call_ms: mean time of the engine's create handler (aifactory.aws.moto_standin.backend) for a VPC, a
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

from aifactory.aws.moto_standin.backend import WARM_UP, Backend, client_factory, in_process_moto  # noqa: E402
from aifactory.aws.moto_standin.worker import share_botocore_loader  # noqa: E402

REGION = "eu-west-3"
ASSUME = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    copies = int(sys.argv[1])
    share_botocore_loader()
    with in_process_moto():
        clients = client_factory(None)
        backend = Backend(clients, REGION)
        setup = {service: round(timed(lambda: backend.warm_up(service)), 3) for service in WARM_UP}
        ec2 = clients("ec2", REGION)
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
