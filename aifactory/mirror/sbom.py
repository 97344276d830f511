"""A bill of materials as a CycloneDX 1.6 SBOM (JSON), through cyclonedx-python-lib."""

from __future__ import annotations

from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, Property, XsUri
from cyclonedx.model.bom import Bom as CycloneBom
from cyclonedx.model.component import Component as CycloneComponent
from cyclonedx.model.component import ComponentType
from cyclonedx.model.license import DisjunctiveLicense
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL

from aifactory.mirror.bom import DEPENDENCY, SITE_BUILT, Bom, Component

SCHEMA = SchemaVersion.V1_6
# os: the distribution itself; a package the site builds itself is the site's own.
PURL_NAMESPACE = {"cuda": "nvidia", "doca": "nvidia", "neuron": "aws", SITE_BUILT: "site"}


def _purl(c: Component, distribution: str) -> PackageURL:
    if c.repository == "download":
        return PackageURL("generic", name=c.name, version=c.version, qualifiers={"download_url": c.url})
    return PackageURL("deb", PURL_NAMESPACE.get(c.repository, distribution), c.name, c.version or None,
                      {"arch": c.architecture})


def _component(c: Component, distribution: str) -> CycloneComponent:
    return CycloneComponent(
        name=c.name, version=c.version or None,
        type=ComponentType.FILE if c.repository == "download" else ComponentType.LIBRARY,
        bom_ref=f"{c.repository}:{c.name}@{c.version}", purl=_purl(c, distribution),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=c.sha256)] if c.sha256 else [],
        licenses=[DisjunctiveLicense(name=c.license)] if c.license else [],
        external_references=[ExternalReference(type=ExternalReferenceType.VCS if c.repository == SITE_BUILT
                                               else ExternalReferenceType.DISTRIBUTION, url=XsUri(c.url))]
        if c.url else [],
        properties=[Property(name="aifactory:repository", value=c.repository),
                    Property(name="aifactory:wanted-by", value=c.wanted_by)])


def cyclonedx_json(bom: Bom) -> str:
    """The SBOM: the site as the metadata's component, every artefact a component, the indexes and
    what the indexes lacked as properties."""
    distribution = bom.node_os.split("-")[0]
    out = CycloneBom()
    out.metadata.component = CycloneComponent(
        name=bom.site, type=ComponentType.PLATFORM, bom_ref=f"site:{bom.site}",
        description=f"packages and downloads of the aifactory site {bom.site} ({bom.node_os}, {bom.architecture})")
    out.metadata.properties.update(
        [Property(name="aifactory:index", value=f"{i['url']} sha256:{i['sha256']}") for i in bom.indexes]
        + [Property(name="aifactory:per-kernel", value=name) for name in bom.per_kernel]
        + [Property(name="aifactory:missing", value=line) for line in bom.missing])
    made = {c.name: _component(c, distribution) for c in bom.components}
    out.components.update(made.values())
    wanted = [made[c.name] for c in bom.components if not c.wanted_by.startswith(DEPENDENCY)]
    out.register_dependency(out.metadata.component, wanted)
    for c in bom.components:
        parent = made.get(c.wanted_by.removeprefix(DEPENDENCY))
        if c.wanted_by.startswith(DEPENDENCY) and parent is not None:
            out.register_dependency(parent, [made[c.name]])
    return make_outputter(out, OutputFormat.JSON, SCHEMA).output_as_string(indent=2)
