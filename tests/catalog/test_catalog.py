"""The catalogs: the platforms the toolkit knows, every figure with a source."""

from __future__ import annotations

from typing import get_args

from aifactory import catalog
from aifactory.spec.model import Compute


def test_the_four_platforms_with_their_published_shape():
    p = catalog.platforms()
    assert set(p) == {"nvidia-gb200-nvl72", "nvidia-gb300-nvl72", "nvidia-hgx-b200", "aws-trn3-ultraserver"}
    gb200 = p["nvidia-gb200-nvl72"]
    assert (gb200.nodes_per_rack.value, gb200.accelerators_per_node.value, gb200.switch_trays_per_rack.value) == (18, 4, 9)
    trn3 = p["aws-trn3-ultraserver"]
    assert (trn3.nodes_per_rack.value, trn3.accelerators_per_node.value) == (36, 4)
    assert trn3.software_stack == "neuron" and gb200.software_stack == "nvidia"
    assert p["nvidia-hgx-b200"].expected.fabric_manager is True and gb200.expected.fabric == "imex"


def test_every_figure_names_its_source():
    for platform in catalog.platforms().values():
        figures = [platform.nodes_per_rack, platform.switch_trays_per_rack, platform.accelerators_per_node,
                   platform.cpus_per_node, platform.cooling, *platform.nics]
        figures += [f for f in (platform.rack_power_kw, platform.node_power_kw, platform.max_nodes_per_rack) if f]
        assert all(f.source.strip() for f in figures), platform.name
        assert platform.rack_power(platform.nodes_per_rack.value) > 0


def test_bedrock_catalog_is_dated_and_profiles_name_known_models():
    cat = catalog.bedrock()
    assert cat.as_of and cat.source
    for profile_id, profile in cat.inference_profiles.items():
        assert profile.model in cat.models, profile_id
        assert profile_id.endswith(profile.model)


def test_residency_zones_do_not_overlap():
    zones = catalog.residency_zones()
    regions = [r for rs in zones.values() for r in rs]
    assert len(regions) == len(set(regions))
    assert "eu-west-2" not in zones["EU"]  # London is UK, not EU


def test_cpu_architecture_names_its_source_and_the_vendor_repository_directories():
    p = catalog.platforms()
    for platform in p.values():
        assert platform.cpu_architecture.source.strip(), platform.name
    grace = p["nvidia-gb200-nvl72"].cpu_architecture
    assert (grace.value, grace.debian, grace.cuda_repo, grace.doca_repo) == ("aarch64", "arm64", "sbsa", "arm64-sbsa")
    assert p["nvidia-gb300-nvl72"].cpu_architecture.value == "aarch64"
    xeon = p["nvidia-hgx-b200"].cpu_architecture
    assert (xeon.value, xeon.debian, xeon.cuda_repo, xeon.doca_repo) == ("x86_64", "amd64", "x86_64", "x86_64")
    assert p["aws-trn3-ultraserver"].cpu_architecture.estimate is True


def test_a_rack_whose_node_count_varies_has_a_bound_for_its_address_block():
    for platform in catalog.platforms().values():
        if platform.nodes_per_rack.fixed:
            assert platform.max_nodes_per_rack is None and platform.node_slots_per_rack == platform.nodes_per_rack.value
        else:
            assert platform.node_slots_per_rack == platform.max_nodes_per_rack.value >= platform.nodes_per_rack.value
    assert catalog.platforms()["nvidia-hgx-b200"].node_slots_per_rack == 16


def test_supported_os_names_are_node_os_values_with_a_source():
    node_os = set(get_args(Compute.model_fields["node_os"].annotation))
    assert {"debian-12", "debian-13"} <= node_os
    for platform in catalog.platforms().values():
        if platform.supported_os:
            assert set(platform.supported_os.value) <= node_os and platform.supported_os.source.strip(), platform.name
    assert "debian-13" in catalog.platforms()["nvidia-hgx-b200"].supported_os.value
