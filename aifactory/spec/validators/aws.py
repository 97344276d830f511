"""The AWS side: regions the catalog knows and residency allows, Bedrock models offered there, the key store."""

from __future__ import annotations

from collections.abc import Iterator

from aifactory import catalog
from aifactory.spec.model import Factory
from aifactory.spec.validators.registry import Problem, validator
from aifactory.spec.validators.text import parsed_url


@validator()
def region_allowed(f: Factory) -> Iterator[Problem]:
    """The home region (sovereignty.region) is one of sovereignty.allowed_regions, the regions the factory may use.

    Fix: Add sovereignty.region to sovereignty.allowed_regions, or choose a home region among them."""
    s = f.sovereignty
    if s.region not in s.allowed_regions:
        yield Problem("sovereignty.region", "must be one of sovereignty.allowed_regions", s.region)


@validator()
def regions_known(f: Factory) -> Iterator[Problem]:
    """Every region named is one the catalog knows (aifactory/catalog/regions.yaml).

    Fix: Correct the region name (such as eu-west-3), or add the region to aifactory/catalog/regions.yaml with its
    availability zones."""
    known = catalog.availability_zones()
    s = f.sovereignty
    for path, region in [("sovereignty.region", s.region),
                         *((f"sovereignty.allowed_regions.{i}", r) for i, r in enumerate(s.allowed_regions))]:
        if region not in known:
            yield Problem(path, f"unknown AWS region; the catalog knows {', '.join(sorted(known))}", region)


@validator()
def availability_zones_offered(f: Factory) -> Iterator[Problem]:
    """The hub asks for no more availability zones (hybrid_link.availability_zones) than the home region offers.

    Fix: Lower hybrid_link.availability_zones to the number the region offers (aifactory/catalog/regions.yaml)."""
    offered = catalog.availability_zones().get(f.sovereignty.region)
    if offered is not None and f.hybrid_link.availability_zones > offered:
        yield Problem("hybrid_link.availability_zones", f"{f.sovereignty.region} offers {offered} availability "
                      "zones (aifactory/catalog/regions.yaml)", f.hybrid_link.availability_zones)


@validator()
def residency(f: Factory) -> Iterator[Problem]:
    """The residency zone (sovereignty.residency) is one the catalog knows, and every allowed region lies inside it.

    Fix: Set sovereignty.residency to a zone of aifactory/catalog/regions.yaml, and remove the allowed regions
    outside it."""
    s = f.sovereignty
    zones = catalog.residency_zones()
    if s.residency not in zones:
        yield Problem("sovereignty.residency", f"unknown residency zone; one of {', '.join(zones)}", s.residency)
        return
    known = catalog.availability_zones()
    for i, region in enumerate(s.allowed_regions):
        if region in known and region not in zones[s.residency]:
            yield Problem(f"sovereignty.allowed_regions.{i}", f"is not in residency zone {s.residency} "
                          f"({', '.join(zones[s.residency])})", region)


@validator()
def bedrock_models_offered(f: Factory) -> Iterator[Problem]:
    """Every Bedrock model or inference profile in aws_services.bedrock.models is in the model catalog and can be
    called from the home region.

    Fix: Choose a model offered in the home region, or an inference profile whose source regions include it
    (aifactory/catalog/bedrock.yaml)."""
    cat = catalog.bedrock()
    region = f.sovereignty.region
    for i, model_id in enumerate(f.aws_services.bedrock.models):
        path = f"aws_services.bedrock.models.{i}"
        if model_id.startswith(catalog.GEOGRAPHIC_PREFIXES):
            profile = cat.inference_profiles.get(model_id)
            if profile is None:
                yield Problem(path, f"unknown inference profile in the model catalog (as of {cat.as_of})", model_id)
            elif region not in profile.source_regions:
                yield Problem(path, f"inference profile cannot be called from {region} "
                              f"(source regions: {', '.join(profile.source_regions)})", model_id)
        else:
            model = cat.models.get(model_id)
            if model is None:
                yield Problem(path, f"unknown model id in the model catalog (as of {cat.as_of})", model_id)
            elif region not in model.regions:
                offered = ", ".join(model.regions) or "inference profiles only"
                yield Problem(path, f"not offered in {region} (offered in: {offered})", model_id)


@validator()
def bedrock_routing_allowed(f: Factory) -> Iterator[Problem]:
    """A cross-region inference profile routes requests only to regions in sovereignty.allowed_regions.

    Fix: Use an in-region model or a profile whose destination regions are all allowed, or allow those regions if
    residency permits."""
    allowed = set(f.sovereignty.allowed_regions)
    profiles = catalog.bedrock().inference_profiles
    for i, (model_id, regions) in enumerate(f.bedrock_routing_regions.items()):
        if model_id not in profiles:
            continue  # an in-region model is served in sovereignty.region, checked by region_allowed
        outside = sorted(r for r in regions if r not in allowed)
        if outside:
            yield Problem(f"aws_services.bedrock.models.{i}", "inference profile routes to regions outside "
                          f"sovereignty.allowed_regions: {', '.join(outside)}", model_id)


@validator()
def external_key_store_configured(f: Factory) -> Iterator[Problem]:
    """With sovereignty.keys external-key-store, the external key store is described completely: an https proxy
    endpoint, the proxy path AWS KMS calls, and a VPC endpoint service when it is reached through one.

    Fix: Fill in sovereignty.external_key_store: proxy_uri_endpoint as https://<host>, and
    vpc_endpoint_service_name with connectivity vpc-endpoint-service."""
    s = f.sovereignty
    if s.keys == "external-key-store" and s.external_key_store is None:
        yield Problem("sovereignty.external_key_store", "required when sovereignty.keys is external-key-store", None)
    xks = s.external_key_store
    if xks and xks.connectivity == "vpc-endpoint-service" and not xks.vpc_endpoint_service_name:
        yield Problem("sovereignty.external_key_store.vpc_endpoint_service_name",
                      "required with connectivity vpc-endpoint-service", None)
    if xks:
        url = parsed_url(xks.proxy_uri_endpoint)
        if url is None or url.scheme != "https" or not url.hostname or url.path not in ("", "/") or url.query \
                or url.fragment or url.username is not None or url.password is not None:
            yield Problem("sovereignty.external_key_store.proxy_uri_endpoint", "must be https://<host> only "
                          "(AWS KMS reaches an external key store proxy over TLS; the path goes in proxy_uri_path)",
                          xks.proxy_uri_endpoint)
        # The path, and the endpoint's and service name's exact patterns: KMS's own model (aws_refusals.py).
