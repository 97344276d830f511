"""The node software: the platform's stack, driver branch and OS; mirrors an air-gapped site can reach."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterator

from aifactory.spec.model import Factory
from aifactory.spec.validators.registry import Kind, Problem, validator
from aifactory.spec.validators.text import HOST_NAME, parsed_url

# Top-level domains that never resolve on the internet (RFC 6761, RFC 6762, RFC 8375, ICANN's .internal)
# plus the private ones sites commonly use.
PRIVATE_TLDS = ("internal", "local", "localhost", "lan", "home.arpa", "corp", "intranet", "private", "localdomain")
URL_MIRRORS = ("apt", "nvidia", "neuron")
# A host the resolver reads as an IPv4 address: one to four parts, each decimal, octal (leading 0) or hex (0x),
# as inet_aton(3) reads them (`134744072`, `0x8080808`, `010.8.8.8`, `8.8.2056`), an optional final dot.
NUMERIC_HOST = re.compile(r"(0[xX][0-9a-fA-F]*|[0-9]+)(\.(0[xX][0-9a-fA-F]*|[0-9]+)){0,3}\.?")
# Public suffixes a site's domain may not be (nor lie under, for the cloud ones): every host under them would
# count as the site's own. A few of the Public Suffix List's (publicsuffix.org/list/public_suffix_list.dat):
# its ICANN section's common second-level suffixes, and from its private section domains whose names belong
# to a cloud provider's customers.
PUBLIC_SUFFIXES = ("co.uk", "org.uk", "ac.uk", "gov.uk", "com.au", "net.au", "org.au", "co.jp", "ne.jp", "or.jp",
                   "co.nz", "com.br", "com.cn", "com.mx", "co.in", "co.za", "com.sg", "co.kr", "gouv.fr", "eu.com")
CLOUD_SUFFIXES = ("amazonaws.com", "amazonaws.com.cn", "on.aws", "cloudfront.net", "elasticbeanstalk.com",
                  "github.io", "herokuapp.com", "appspot.com", "azurewebsites.net", "cloudapp.net", "web.app")


@validator()
def software_stack_fits_platform(f: Factory) -> Iterator[Problem]:
    """The software section names the platform's stack only: software.nvidia for NVIDIA platforms, software.neuron
    for Trainium.

    Fix: Keep the stack section the platform runs (software.nvidia or software.neuron) and remove the other."""
    stack = f.platform.software_stack
    if stack == "nvidia":
        if f.software.neuron is not None:
            yield Problem("software.neuron", f"the Neuron stack is only for Trainium, not {f.platform.title}", "neuron")
        if f.software.nvidia is None:
            yield Problem("software.nvidia", f"required for {f.platform.title} (driver_branch at least)", None)
    else:
        if f.software.nvidia is not None:
            yield Problem("software.nvidia", f"the NVIDIA stack does not run on {f.platform.title}", "nvidia")
        if f.software.neuron is None:
            yield Problem("software.neuron", f"required for {f.platform.title} (release at least)", None)


@validator()
def driver_branch_supports_platform(f: Factory) -> Iterator[Problem]:
    """The NVIDIA driver branch (software.nvidia.driver_branch) is at least the one the platform needs.

    Fix: Raise software.nvidia.driver_branch to the platform's minimum branch or later."""
    nvidia, minimum = f.software.nvidia, f.platform.min_driver_branch
    if nvidia and minimum and int(nvidia.driver_branch) < minimum.value:
        yield Problem("software.nvidia.driver_branch", f"{f.platform.title} needs driver branch {int(minimum.value)} "
                      f"or later ({minimum.source})", nvidia.driver_branch)


@validator()
def node_os_supported(f: Factory) -> Iterator[Problem]:
    """The node OS (compute.node_os) is one the platform supports.

    Fix: Set compute.node_os to one of the operating systems the problem lists for the platform."""
    supported = f.platform.supported_os
    if supported and f.compute.node_os not in supported.value:
        yield Problem("compute.node_os", f"{f.platform.title} nodes run {', '.join(supported.value)} "
                      f"({supported.source})", f.compute.node_os)


@validator()
def driver_version_on_branch(f: Factory) -> Iterator[Problem]:
    """A pinned NVIDIA driver version (software.nvidia.driver_version) belongs to software.nvidia.driver_branch.

    Fix: Pin a version of the branch (<branch>.x.y), change the branch to match the version, or leave driver_version
    out."""
    nvidia = f.software.nvidia
    if nvidia and nvidia.driver_version and nvidia.driver_version.split(".")[0] != nvidia.driver_branch:
        yield Problem("software.nvidia.driver_version", f"is not on software.nvidia.driver_branch {nvidia.driver_branch}: "
                      f"pin a {nvidia.driver_branch}.x version, or change the branch", nvidia.driver_version)


@validator()
def mirrors_when_air_gapped(f: Factory) -> Iterator[Problem]:
    """An air-gapped site names the mirrors its nodes install from: APT, and the NVIDIA or Neuron repository of its
    stack.

    Fix: Set software.mirrors.apt and software.mirrors.nvidia (or neuron) to on-prem mirror URLs, or set
    software.air_gapped: false."""
    if not f.air_gapped:
        return
    mirrors = f.software.mirrors
    if not mirrors.apt:
        yield Problem("software.mirrors.apt", "required on an air-gapped site", None)
    stack_mirror = "nvidia" if f.platform.software_stack == "nvidia" else "neuron"
    if not getattr(mirrors, stack_mirror):
        yield Problem(f"software.mirrors.{stack_mirror}", "required on an air-gapped site", None)


@validator(level="warning")
def internet_package_sources(f: Factory) -> Iterator[Problem]:
    """A site that is not air-gapped fetches packages from public repositories over the internet (a warning).

    Fix: Set software.mirrors to on-prem mirrors and software.air_gapped: true to keep nodes off the internet."""
    if not f.air_gapped:
        yield Problem("software.mirrors", "no mirrors: nodes will fetch packages from public repositories; "
                      "set mirrors for an air-gapped site", Kind("{}"))


def resolver_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a resolver reads in a host, or None for a name: IP literals, the numeric IPv4 forms
    inet_aton(3) accepts (NUMERIC_HOST), and an IPv4-mapped IPv6 address as its IPv4 address."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not NUMERIC_HOST.fullmatch(host):
            return None
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host.removesuffix(".")))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def host_is_public(host: str, domain: str) -> bool:
    """Whether a mirror's host would be reached outside the site. An address (in any form the resolver
    reads, `resolver_address`) is public unless it is private, loopback or link-local; a name is private
    when it is the site's domain or under it, has one label only, or ends in a private top-level domain
    (PRIVATE_TLDS); any other name is public."""
    address = resolver_address(host)
    if address is None:
        name = host.lower().rstrip(".")
        if name == domain or name.endswith("." + domain) or "." not in name:
            return False
        return not any(name == tld or name.endswith("." + tld) for tld in PRIVATE_TLDS)
    return not (address.is_private or address.is_loopback or address.is_link_local)


@validator()
def site_domain_is_own(f: Factory) -> Iterator[Problem]:
    """Hosts under network.domain count as the site's own (mirrors of an air-gapped site): the domain has
    at least two labels and is not a public suffix (PUBLIC_SUFFIXES) nor under a cloud provider's.

    Fix: Set network.domain to a domain of the site's own with at least two labels, such as par1.factory.internal."""
    domain = f.network.domain.lower().rstrip(".")
    if "." not in domain:
        yield Problem("network.domain", "must have at least two labels (such as par1.factory.internal): every "
                      "host under a one-label domain would count as the site's own", f.network.domain)
    elif domain in PUBLIC_SUFFIXES or any(domain == s or domain.endswith("." + s) for s in CLOUD_SUFFIXES):
        yield Problem("network.domain", "is a public suffix, whose names belong to others: use a domain of the "
                      "site's own (such as par1.factory.internal)", f.network.domain)


@validator()
def mirror_urls(f: Factory) -> Iterator[Problem]:
    """Mirrors are http(s) URLs with a host and no credentials; an air-gapped site's are on-prem hosts.

    Fix: Write each mirror as a plain http(s) URL with a host, without user:password@ (give access by network); on
    an air-gapped site use a host under network.domain or a private address."""
    mirrors = f.software.mirrors
    for field in URL_MIRRORS:
        value = getattr(mirrors, field)
        if value is None:
            continue
        path = f"software.mirrors.{field}"
        url = parsed_url(value)
        if url is None or url.scheme not in ("http", "https") or not url.hostname:
            yield Problem(path, "must be an http:// or https:// URL with a host", value)
        elif url.username is not None or url.password is not None:
            # echoed with its user info masked, as every given is (registry.mask_credentials)
            yield Problem(path, "must not hold credentials (user:password@): they would be written to every "
                          "node's APT sources; give the mirror access by network instead", value)
        elif url.query or url.fragment:
            yield Problem(path, "must be a plain URL: no query or fragment", value)
        elif f.air_gapped and host_is_public(url.hostname, f.network.domain):
            yield Problem(path, f"is a public host on an air-gapped site: use a mirror under {f.network.domain}, "
                          "a private address or an internal name, or set software.air_gapped: false", value)
    registry = mirrors.containers
    if registry is not None:
        host = registry.split("/", 1)[0].rsplit(":", 1)[0]
        if "://" in registry or not HOST_NAME.fullmatch(host):
            yield Problem("software.mirrors.containers", "must be a registry host[:port][/path] without a scheme",
                          registry)
        elif f.air_gapped and host_is_public(host, f.network.domain):
            yield Problem("software.mirrors.containers", "is a public host on an air-gapped site", registry)


@validator(level="warning")
def containers_mirror_reserved(f: Factory) -> Iterator[Problem]:
    """software.mirrors.containers is reserved: no role pulls containers from it yet (a warning).

    Fix: Leave software.mirrors.containers out until a role uses it."""
    if f.software.mirrors.containers is not None:
        yield Problem("software.mirrors.containers", "is reserved: no role pulls containers from it yet",
                      f.software.mirrors.containers)
