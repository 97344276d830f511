"""A synthetic Pulumi program for the plan benchmark: K copies of a VPC, a security group and an IAM role.

The project's infra/ declares the same AWS resources whatever the number of racks, so this program
is what tests plan cost against resource count. K comes from $AIFACTORY_BENCH_COPIES (default 10).
"""

import json
import os

import pulumi_aws as aws

COPIES = int(os.environ.get("AIFACTORY_BENCH_COPIES", "10"))
ASSUME_EC2 = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})

for k in range(COPIES):
    vpc = aws.ec2.Vpc(f"bench-vpc-{k}", cidr_block=f"10.{k // 256}.{k % 256}.0/24", tags={"bench": str(k)})
    aws.ec2.SecurityGroup(f"bench-sg-{k}", vpc_id=vpc.id, description="bench",
                          ingress=[{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8"]}])
    aws.iam.Role(f"bench-role-{k}", assume_role_policy=ASSUME_EC2)
