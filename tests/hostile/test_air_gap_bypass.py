"""Air-gap and sovereignty bypasses (issue 27, class 5).

A mirror host is judged as the resolver reads it (inet_aton's numeric IPv4 forms, IPv4-mapped IPv6); the site's
domain must be its own (two labels at least, not a public suffix); SOV-15 refuses a state backend or secrets
provider URL that overrides AWS's endpoint or turns TLS off.
"""

from __future__ import annotations

import pytest

from aifactory.aws.plan.controls import state_problems
from aifactory.spec.validators.software import resolver_address
from tests.conftest import REPO, put
from tests.hostile.conftest import assert_refused, run_inprocess

GOOGLE_DNS = 134744072  # 8.8.8.8 as one number
NUMERIC_FORMS = {"decimal": str(GOOGLE_DNS), "hex": hex(GOOGLE_DNS), "hex, zero-padded": "0x08080808",
                 "octal": "0" + oct(GOOGLE_DNS)[2:]}


@pytest.mark.parametrize("host", NUMERIC_FORMS.values(), ids=NUMERIC_FORMS.keys())
def test_numeric_public_address_in_a_mirror_is_refused(site, capsys, host):
    spec = site("paris-gb200", put("software.mirrors.apt", f"http://{host}/ubuntu"))
    code, _, err = run_inprocess(capsys, "validate", spec)
    assert_refused(code, err, "software.mirrors.apt", "public host on an air-gapped site")


@pytest.mark.parametrize("host, address", [("134744072", "8.8.8.8"), ("0x8080808", "8.8.8.8"), ("010.8.8.8", "8.8.8.8"),
                                           ("8.8.2056", "8.8.8.8"), ("8.8.8.8.", "8.8.8.8"), ("167772161", "10.0.0.1"),
                                           ("::ffff:10.1.2.3", "10.1.2.3"), ("mirror.par1.factory.internal", None),
                                           ("08.8.8.8", None)])
def test_hosts_are_read_as_the_resolver_reads_them(host, address):
    found = resolver_address(host)
    assert (None if found is None else str(found)) == address


@pytest.mark.parametrize("domain", ["com", "internal", "co.uk", "amazonaws.com", "s3.amazonaws.com"])
def test_domain_that_is_not_the_sites_own_is_refused(site, capsys, domain):
    """`network.domain: com` would make every .com host count as a private mirror."""
    spec = site("paris-gb200", lambda d: (d["network"].update(domain=domain),
                                          d["software"]["mirrors"].update(apt="http://archive.ubuntu.com/ubuntu")))
    code, _, err = run_inprocess(capsys, "validate", spec)
    assert_refused(code, err, "network.domain", "(such as par1.factory.internal)")


HOME = "eu-west-3"
KEY = "awskms://alias/paris-gb200-pulumi-state?region=eu-west-3"
BACKENDS = {
    "another endpoint": "s3://paris-gb200-pulumi-state?region=eu-west-3&endpoint=http://203.0.113.5:9000"
                        "&s3ForcePathStyle=true",
    "TLS off": "s3://paris-gb200-pulumi-state?region=eu-west-3&disableSSL=true",
    "TLS off, SDK v2": "s3://paris-gb200-pulumi-state?region=eu-west-3&awssdk=v2&disable_https=true",
    "two regions": "s3://paris-gb200-pulumi-state?region=eu-west-3&region=us-east-1",
}


@pytest.mark.parametrize("backend", BACKENDS.values(), ids=BACKENDS.keys())
def test_backend_url_sending_state_elsewhere_fails_sov15(monkeypatch, backend):
    """Through PULUMI_BACKEND_URL, as the program declares it (infra.state) and SOV-15 judges it."""
    from infra.state import declared_state

    monkeypatch.setenv("PULUMI_BACKEND_URL", backend)
    url, _ = declared_state(REPO, "paris-gb200")
    assert url == backend
    (problem,) = state_problems(url, KEY, HOME)
    assert "keep only ?region=eu-west-3" in problem


def test_secrets_provider_at_another_endpoint_fails_sov15():
    (problem,) = state_problems("s3://paris-gb200-pulumi-state?region=eu-west-3&awssdk=v2",
                                KEY + "&endpoint=https://kms.example.net", HOME)
    assert "overrides AWS's endpoint" in problem


def test_backend_url_of_bootstrap_passes_sov15():
    assert state_problems("s3://paris-gb200-pulumi-state?region=eu-west-3&awssdk=v2&disableSSL=false", KEY, HOME) == []
