"""A rule on the VPC's default security group, whose id `pulumi preview` shows as known after apply."""

import pulumi_aws as aws

vpc = aws.ec2.Vpc("hub", cidr_block="10.20.0.0/24")
aws.vpc.SecurityGroupIngressRule("default-https", security_group_id=vpc.default_security_group_id,
                                 ip_protocol="tcp", from_port=443, to_port=443, cidr_ipv4="10.0.0.0/8")
