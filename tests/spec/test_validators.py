"""Every validation rule: a spec that breaks exactly that rule, and the field path reported.

Each case mutates one example site; the assertion is on the complete set of reported paths, so a
rule that stops firing, or one that fires where it should not, turns the test red.
"""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aifactory import catalog
from aifactory.spec import Factory, SpecError, load_spec
from tests.conftest import both, put


def drop(path: str):
    def mutate(data):
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        del node[last]

    return mutate


CASES = [
    # names
    ("name not DNS-safe", "paris-gb200", put("name", "Paris_GB200"), {"name"}),
    ("domain not DNS-safe", "paris-gb200", put("network.domain", "par1..internal"), {"network.domain"}),
    ("model group not DNS-safe", "paris-gb200", put("aws_services.sagemaker.model_groups.0", "Fraud Detection"),
     {"aws_services.sagemaker.model_groups.0"}),
    # CIDRs valid
    ("prefix out of range", "paris-gb200", put("network.bmc_cidr", "10.40.0.0/33"), {"network.bmc_cidr"}),
    ("host bits set", "paris-gb200", put("network.host_cidr", "10.40.8.1/21"), {"network.host_cidr"}),
    # ranges consistent
    ("bmc outside onprem", "paris-gb200", put("network.bmc_cidr", "10.41.0.0/22"), {"network.bmc_cidr"}),
    ("storage outside onprem", "lab-b200", put("network.storage_cidr", "10.78.2.0/24"), {"network.storage_cidr"}),
    ("host overlaps bmc", "paris-gb200", put("network.host_cidr", "10.40.0.0/21"), {"network.host_cidr"}),
    ("storage overlaps host", "lab-b200", put("network.storage_cidr", "10.77.1.0/24"), {"network.storage_cidr"}),
    ("vpc overlaps onprem", "paris-gb200", put("hybrid_link.vpc_cidr", "10.40.200.0/22"), {"hybrid_link.vpc_cidr"}),
    ("host range too small", "paris-gb200", put("network.host_cidr", "10.40.8.0/26"), {"network.host_cidr"}),
    ("bmc range too small for trays", "paris-gb200", both(put("compute.racks", 1), put("network.bmc_cidr", "10.40.0.0/27")),
     {"network.bmc_cidr"}),
    ("more racks than the bmc range holds", "paris-gb200",
     both(put("compute.racks", 38), put("facility.power_budget_kw", 6000)), {"network.bmc_cidr"}),
    ("vpc too large", "paris-gb200", put("hybrid_link.vpc_cidr", "10.0.0.0/15"), {"hybrid_link.vpc_cidr"}),
    ("vpc too small for AZ subnets", "lab-b200", put("hybrid_link.vpc_cidr", "10.177.0.0/28"), {"hybrid_link.vpc_cidr"}),
    # ASNs
    ("public aws asn", "paris-gb200", put("hybrid_link.aws_asn", 7224), {"hybrid_link.aws_asn"}),
    ("public onprem asn", "ohio-trn3", put("hybrid_link.onprem_asn", 4199999999), {"hybrid_link.onprem_asn"}),
    ("same asn both sides", "lab-b200", put("hybrid_link.onprem_asn", 64530), {"hybrid_link.onprem_asn"}),
    # link
    ("no link at all", "lab-b200", put("hybrid_link.vpn", []), {"hybrid_link"}),
    ("vpn peer rfc1918", "lab-b200", put("hybrid_link.vpn.0.peer_ip", "10.9.9.9"), {"hybrid_link.vpn.0.peer_ip"}),
    ("vpn peer cgnat", "ohio-trn3", put("hybrid_link.vpn.1.peer_ip", "100.64.0.1"), {"hybrid_link.vpn.1.peer_ip"}),
    ("vpn peer loopback", "lab-b200", put("hybrid_link.vpn.0.peer_ip", "127.0.0.1"), {"hybrid_link.vpn.0.peer_ip"}),
    ("vpn peer link-local", "lab-b200", put("hybrid_link.vpn.0.peer_ip", "169.254.10.1"), {"hybrid_link.vpn.0.peer_ip"}),
    ("vpn peer multicast", "lab-b200", put("hybrid_link.vpn.0.peer_ip", "239.1.1.1"), {"hybrid_link.vpn.0.peer_ip"}),
    ("vpn peer not an address", "lab-b200", put("hybrid_link.vpn.0.peer_ip", "peer.example"), {"hybrid_link.vpn.0.peer_ip"}),
    ("dx connection twice", "paris-gb200", put("hybrid_link.direct_connect.1.connection_id", "dxcon-ffa1b2c3"),
     {"hybrid_link.direct_connect.1.connection_id"}),
    # regions and Bedrock
    ("region not allowed", "paris-gb200", put("sovereignty.region", "eu-west-1"), {"sovereignty.region"}),
    ("allowed region outside residency", "paris-gb200", put("sovereignty.allowed_regions", ["eu-west-3", "eu-west-2"]),
     {"sovereignty.allowed_regions.1"}),
    ("unknown residency", "lab-b200", put("sovereignty.residency", "Mars"), {"sovereignty.residency"}),
    ("model not offered in region", "paris-gb200",
     put("aws_services.bedrock.models", ["mistral.mistral-large-2402-v1:0", "meta.llama3-70b-instruct-v1:0"]),
     {"aws_services.bedrock.models.1"}),
    ("unknown model", "lab-b200", put("aws_services.bedrock.models", ["acme.model-v9"]), {"aws_services.bedrock.models.0"}),
    ("profile routes outside allowed", "ohio-trn3", put("sovereignty.allowed_regions", ["us-east-2"]),
     {"aws_services.bedrock.models.0"}),
    ("global profile never sovereign", "ohio-trn3",
     put("aws_services.bedrock.models", ["global.anthropic.claude-sonnet-4-5-20250929-v1:0"]),
     {"aws_services.bedrock.models.0"}),
    ("xks without its proxy", "paris-gb200", put("sovereignty.keys", "external-key-store"),
     {"sovereignty.external_key_store"}),
    # facility and platform
    ("power over budget", "paris-gb200", put("facility.power_budget_kw", 500), {"facility.power_budget_kw"}),
    ("liquid platform on air", "paris-gb200", put("facility.cooling", "air"), {"facility.cooling"}),
    ("nodes per rack on a fixed rack", "paris-gb200", put("compute.nodes_per_rack", 16), {"compute.nodes_per_rack"}),
    ("nodes per rack past the address block", "lab-b200",
     both(put("compute.nodes_per_rack", 17), put("facility.power_budget_kw", 1000)), {"compute.nodes_per_rack"}),
    ("trainium on infiniband", "ohio-trn3", put("network.fabric", "infiniband-ndr"), {"network.fabric"}),
    ("unknown platform", "lab-b200", put("compute.platform", "nvidia-dgx-h100"), {"compute.platform"}),
    ("neuron on nvidia", "paris-gb200", put("software.neuron", {"release": "2.32"}), {"software.neuron"}),
    ("nvidia on trainium", "ohio-trn3", put("software.nvidia", {"driver_branch": "580"}), {"software.nvidia"}),
    ("nvidia stack missing", "lab-b200", drop("software.nvidia"), {"software.nvidia"}),
    ("air-gapped without apt mirror", "paris-gb200", drop("software.mirrors.apt"), {"software.mirrors.apt"}),
    ("air-gapped without the stack's mirror", "ohio-trn3", drop("software.mirrors.neuron"), {"software.mirrors.neuron"}),
    ("driver version off its branch", "lab-b200", put("software.nvidia.driver_version", "570.86.15"),
     {"software.nvidia.driver_version"}),
    ("driver branch not pinned", "lab-b200", put("software.nvidia.driver_branch", "latest"), {"software.nvidia.driver_branch"}),
    ("neuron release not pinned", "ohio-trn3", put("software.neuron.release", "2"), {"software.neuron.release"}),
    ("debian on trainium", "ohio-trn3", put("compute.node_os", "debian-13"), {"compute.node_os"}),
    ("node os no stack supports", "lab-b200", put("compute.node_os", "debian-11"), {"compute.node_os"}),
    # storage and identity
    ("relative mount point", "paris-gb200", put("storage.scratch.mount", "scratch"), {"storage.scratch.mount"}),
    ("duplicate mount point", "paris-gb200", put("storage.shared.1.mount", "/datasets/"), {"storage.shared.1.mount"}),
    ("mount on a system dir", "ohio-trn3", put("storage.shared.0.mount", "/usr"), {"storage.shared.0.mount"}),
    ("trust anchor missing", "lab-b200", put("identity.trust_anchor.certificate_file", "pki/none.pem"),
     {"identity.trust_anchor.certificate_file"}),
    # shape
    ("unknown field", "lab-b200", put("compute.gpus", 8), {"compute.gpus"}),
    ("wrong type", "paris-gb200", put("compute.racks", "four"), {"compute.racks"}),
    ("bad enum", "paris-gb200", put("aws_services.bedrock.guardrail.pii", "mask"), {"aws_services.bedrock.guardrail.pii"}),
    ("missing section", "lab-b200", drop("network"), {"network"}),
    ("bad operator arn", "paris-gb200", put("identity.operator_principals", ["FactoryOperators"]),
     {"identity.operator_principals.0"}),
]


def problems_of(site_path):
    with pytest.raises(SpecError) as caught:
        load_spec(site_path)
    return caught.value.problems


@pytest.mark.parametrize("site,mutate,paths", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_reports_exactly_its_field(write_site, site, mutate, paths):
    problems = problems_of(write_site(site, mutate))
    assert {p.path for p in problems} == paths, [str(p) for p in problems]
    for p in problems:
        assert str(p).startswith(f"{p.path}: ")


def test_every_problem_reported_at_once(write_site):
    def break_many(data):
        data["hybrid_link"]["aws_asn"] = 100
        data["facility"]["cooling"] = "air"
        data["storage"]["scratch"]["mount"] = "relative"
        data["hybrid_link"]["vpn"][0]["peer_ip"] = "192.168.1.1"

    paths = {p.path for p in problems_of(write_site("paris-gb200", break_many))}
    assert paths == {"hybrid_link.aws_asn", "facility.cooling", "storage.scratch.mount", "hybrid_link.vpn.0.peer_ip"}


def test_message_names_the_given_value(write_site):
    problems = problems_of(write_site("lab-b200", put("hybrid_link.vpn.0.peer_ip", "10.9.9.9")))
    assert str(problems[0]) .endswith("(given: '10.9.9.9')")
    assert "RFC 1918" in problems[0].message


def _certificate(path, *, ca: bool):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key


def test_trust_anchor_must_be_a_ca(write_site):
    site = write_site("lab-b200")
    _certificate(site / "pki" / "factory-root-ca.pem", ca=False)
    problems = problems_of(site)
    assert [p.path for p in problems] == ["identity.trust_anchor.certificate_file"]
    assert "not a CA certificate" in problems[0].message


def test_trust_anchor_refuses_a_private_key(write_site):
    site = write_site("lab-b200")
    key = _certificate(site / "pki" / "factory-root-ca.pem", ca=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with open(site / "pki" / "factory-root-ca.pem", "ab") as f:
        f.write(pem)
    problems = problems_of(site)
    assert "private key" in problems[0].message


def test_trust_anchor_not_pem(write_site):
    site = write_site("lab-b200")
    (site / "pki" / "factory-root-ca.pem").write_text("hello")
    assert "not a PEM X.509 certificate" in problems_of(site)[0].message


def test_a_generated_ca_is_accepted(write_site):
    site = write_site("lab-b200")
    _certificate(site / "pki" / "factory-root-ca.pem", ca=True)
    assert load_spec(site).name == "lab-b200"


def test_no_mirrors_is_a_warning_not_an_error(write_site):
    warnings = []
    load_spec(write_site("lab-b200", lambda data: data["software"].update(mirrors={})), warnings=warnings)
    assert [w.path for w in warnings] == ["software.mirrors"]
    assert all(w.level == "warning" for w in warnings)


def test_driver_version_on_its_branch_is_accepted(write_site):
    assert load_spec(write_site("lab-b200", put("software.nvidia.driver_version", "580.95.05"))).software.nvidia


def test_driver_drift_message_says_what_to_change(write_site):
    [problem] = problems_of(write_site("paris-gb200", put("software.nvidia.driver_version", "570.86.15")))
    assert str(problem) == ("software.nvidia.driver_version: is not on software.nvidia.driver_branch 580: pin a 580.x "
                            "version, or change the branch (given: '570.86.15')")
    assert problem.validator == "driver_version_on_branch"


def test_hgx_racks_take_up_to_the_address_blocks_nodes(write_site):
    site = write_site("lab-b200", both(put("compute.nodes_per_rack", 16), put("facility.power_budget_kw", 1000)))
    assert load_spec(site).node_count == 16


def test_racks_past_every_range_are_refused_before_any_node_is_built(write_site, monkeypatch):
    def never(self):
        pytest.fail("a node list was built")

    monkeypatch.setattr(Factory, "nodes", property(never))
    monkeypatch.setattr(Factory, "switch_trays", property(never))
    problems = problems_of(write_site("paris-gb200", put("compute.racks", 10**30)))
    assert {p.path for p in problems} == {"network.bmc_cidr", "network.host_cidr", "network.storage_cidr",
                                          "facility.power_budget_kw", "compute.racks"}
    bmc = next(p for p in problems if p.path == "network.bmc_cidr")
    assert bmc.message.startswith("holds at most 37 racks of NVIDIA GB200 NVL72 (27 addresses per rack")
    assert "more than any IPv4 range holds" in bmc.message


def test_range_message_names_the_prefix_that_would_hold_the_racks(write_site):
    [problem] = problems_of(write_site("paris-gb200", both(put("compute.racks", 38), put("facility.power_budget_kw", 6000))))
    assert "38 racks need a /21 or wider" in problem.message  # 10 + 38 x 27 + 2 = 1038 addresses


def test_ranges_smaller_than_the_power_budget_allows_is_a_warning(write_site):
    warnings = []
    load_spec(write_site("paris-gb200", put("facility.power_budget_kw", 6000)), warnings=warnings)
    warnings = [w for w in warnings if w.validator != "containers_mirror_reserved"]  # paris sets the reserved field
    assert [(w.path, w.level) for w in warnings] == [("network.bmc_cidr", "warning")]
    assert "facility.power_budget_kw allows 44" in warnings[0].message


def _with_platform(monkeypatch, name, **changes):
    """The catalog with one platform changed (as a broken catalog edit would)."""
    platforms = dict(catalog.platforms())
    platform = platforms[name]
    expected = changes.pop("expected", {})
    platforms[name] = platform.model_copy(update={**changes, "expected": platform.expected.model_copy(update=expected)})
    monkeypatch.setattr(catalog, "platforms", lambda: platforms)


@pytest.mark.parametrize("site,platform,changes,message", [
    ("paris-gb200", "nvidia-gb200-nvl72",
     {"switch_trays_per_rack": catalog.Figure(value=0, source="test")}, "IMEX spans a rack through its NVLink switch trays"),
    ("paris-gb200", "nvidia-gb200-nvl72", {"expected": {"nvlink_domain_gpus": 36}},
     "an IMEX domain is the rack: 18 nodes x 4 GPUs = 72, the profile expects 36"),
    ("lab-b200", "nvidia-hgx-b200", {"expected": {"nvlink_domain_gpus": 16}},
     "Fabric Manager's NVLink domain is one node (8 GPUs), the profile expects 16"),
    ("ohio-trn3", "aws-trn3-ultraserver", {"expected": {"fabric": "fabric-manager"}},
     "expected fabric fabric-manager needs the nvidia stack, the platform runs neuron"),
    ("lab-b200", "nvidia-hgx-b200", {"expected": {"accelerators": 4}},
     "expected 4 accelerators per node, the platform has 8"),
])
def test_platform_profile_agrees_with_stack_and_rack(write_site, monkeypatch, site, platform, changes, message):
    _with_platform(monkeypatch, platform, **changes)
    problems = problems_of(write_site(site))
    assert {p.path for p in problems} == {"compute.platform"}, [str(p) for p in problems]
    assert any(message in p.message for p in problems), [str(p) for p in problems]
