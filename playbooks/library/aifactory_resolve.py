#!/usr/bin/python
"""Ansible module: resolve several names on the host at once and say which resolve outside private ranges.

The aws_node_identity role checks that every private endpoint name of the home region resolves, through the
hybrid link, to private addresses. One module run resolves them all (a task per name cost a module run and
an assert per name, on every run). The judgement is here, once (`judge`, a pure function tested as data).
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: aifactory_resolve
short_description: Resolve names to IPv4 addresses on the host; report names unresolved or resolving outside given ranges
description:
  - Resolves each name with the host's resolver (C(getaddrinfo), IPv4, as C(getent ahostsv4) does) and returns its
    addresses, sorted and unique.
  - A name that does not resolve is in C(unresolved); a name with any address outside O(private_networks) is in
    C(outside), with those addresses.
  - Never changes anything (C(changed) is always false); runs the same in check mode.
options:
  names:
    description: A label (for instance the AWS service) to the name to resolve.
    type: dict
    required: true
  private_networks:
    description: The networks every address must fall in (CIDR). Default RFC 1918 and RFC 6598 (carrier-grade NAT).
    type: list
    elements: str
    default: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10]
author: aifactory
"""

EXAMPLES = r"""
- name: Resolve the private endpoint names
  aifactory_resolve:
    names:
      sts: vpce-0123-abcd.sts.eu-central-1.vpce.amazonaws.com
      bedrock-runtime: bedrock-runtime.eu-central-1.amazonaws.com
  register: __example_resolved

- name: Check that each resolves to private addresses
  ansible.builtin.assert:
    that:
      - __example_resolved.unresolved | length == 0
      - __example_resolved.outside | length == 0
"""

RETURN = r"""
addresses:
  description: Per label, the IPv4 addresses its name resolved to (empty when it did not resolve).
  type: dict
  returned: always
  sample: {"sts": ["10.20.0.14", "10.20.1.9"]}
unresolved:
  description: The labels whose name did not resolve, in the order given.
  type: list
  elements: str
  returned: always
outside:
  description: Per label, its addresses outside O(private_networks) (only labels that have some).
  type: dict
  returned: always
  sample: {"s3": ["52.219.170.1"]}
"""

import ipaddress
import socket

from ansible.module_utils.basic import AnsibleModule

PRIVATE_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")


def judge(addresses: dict[str, list[str]], private_networks: list[str]) -> dict:
    """The module's result from what each label's name resolved to."""
    networks = [ipaddress.ip_network(n, strict=False) for n in private_networks]
    outside = {label: [a for a in found if not any(ipaddress.ip_address(a) in n for n in networks)]
               for label, found in addresses.items()}
    return {"addresses": addresses, "unresolved": [label for label, found in addresses.items() if not found],
            "outside": {label: found for label, found in outside.items() if found}}


def resolve(name: str) -> list[str]:
    """The IPv4 addresses the host's resolver gives for `name`, sorted and unique; [] when it gives none."""
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({info[4][0] for info in infos}, key=ipaddress.ip_address)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "names": {"type": "dict", "required": True},
            "private_networks": {"type": "list", "elements": "str", "default": list(PRIVATE_NETWORKS)},
        },
        supports_check_mode=True,
    )
    try:
        for network in module.params["private_networks"]:
            ipaddress.ip_network(network, strict=False)
    except ValueError as err:
        module.fail_json(msg=f"private_networks: {err}")
    addresses = {str(label): resolve(str(name)) for label, name in module.params["names"].items()}
    module.exit_json(changed=False, **judge(addresses, module.params["private_networks"]))


if __name__ == "__main__":
    main()
