"""Declares a few resources, says so on stderr, then waits: the interrupted-plan test presses Ctrl-C here,
so the interrupt always lands while the program runs (with the SDK's registrations in flight), whatever
the machine's load."""

import sys
import time

import pulumi_aws as aws

vpc = aws.ec2.Vpc("hub", cidr_block="10.20.0.0/24")
aws.ec2.SecurityGroup("nodes", vpc_id=vpc.id, description="interrupted-plan test")
print("program: declared, waiting for Ctrl-C", file=sys.stderr, flush=True)
# Short sleeps: the kernel may hand the SIGINT to any of the SDK's threads, and Python raises
# KeyboardInterrupt only when the main thread next runs, which one long sleep would put off.
for _ in range(6000):
    time.sleep(0.1)
