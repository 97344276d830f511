"""The site's mirror key as role variables: each source the mirror serves names its OpenPGP keyring in
Signed-By (copied to the nodes from beside the public key); sources at their vendor keep the vendor's key."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import jinja2
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from aifactory.core.inputs import BadInput
from aifactory.core import openpgp
from aifactory.node.inventory import build_inventory
from aifactory.node.role_vars import mirror_keyring_path, role_vars
from aifactory.spec import load_spec
from tests.conftest import REPO, site_dir

TEMPLATES = {"os_baseline": "mirror.sources.j2", "nvidia_gpu": "nvidia.sources.j2", "rdma_fabric": "doca.sources.j2",
             "neuron": "neuron.sources.j2"}


def keyed_site(tmp_path: Path, site: str, keyring: bool = True, **software) -> tuple[Path, ed25519.Ed25519PrivateKey]:
    """A copy of `site` naming a mirror key (its keyring beside it when `keyring`), `software` fields changed."""
    key = ed25519.Ed25519PrivateKey.generate()
    target = tmp_path / site
    shutil.copytree(site_dir(site), target)
    (target / "mirror-key.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    if keyring:
        (target / "mirror-key.gpg").write_bytes(openpgp.keyring(key, site))
    data = yaml.safe_load((target / "factory.yaml").read_text())
    data["software"]["mirror_public_key_file"] = "mirror-key.pub"
    data["software"].update(software)
    (target / "factory.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return target, key


def signed_by(role: str, variables: dict) -> str:
    """The Signed-By line of the role's source, rendered with the role's defaults and `variables`."""
    root = REPO / "playbooks/roles" / role
    defaults = yaml.safe_load((root / "defaults/main.yml").read_text())
    lines = (root / "templates" / TEMPLATES[role]).read_text().splitlines()
    line = next(t for t in lines if t.startswith("Signed-By:"))
    vendor = {"__os_baseline_apt_keyring": "/usr/share/keyrings/debian-archive-keyring.gpg"}
    return jinja2.Template(line, undefined=jinja2.StrictUndefined).render({**vendor, **defaults, **variables})


def test_every_source_the_mirror_serves_names_the_mirror_keyring(tmp_path):
    site, key = keyed_site(tmp_path, "lab-b200")
    nodes = build_inventory(load_spec(site)).groups["nodes"].vars
    on_node = mirror_keyring_path("lab-b200")
    for role in ("os_baseline", "nvidia_gpu", "rdma_fabric"):  # apt and nvidia mirrors
        assert nodes[f"{role}_mirror_keyring"] == on_node
        assert Path(nodes[f"{role}_mirror_keyring_src"]) == (site / "mirror-key.gpg").absolute()
        assert signed_by(role, nodes) == f"Signed-By: {on_node}"
    assert openpgp.keyring_of(Path(nodes["os_baseline_mirror_keyring_src"]).read_bytes(), key.public_key(), "lab-b200")
    assert not any(k.startswith("neuron_") for k in nodes)  # no Neuron on an HGX site


def test_a_source_still_at_its_vendor_keeps_the_vendors_key(tmp_path):
    site, _key = keyed_site(tmp_path, "ohio-trn3", air_gapped=False,  # the apt mirror only: Neuron from AWS
                            mirrors={"apt": "http://mirror.cmh2.factory.internal/ubuntu"})
    variables = role_vars(load_spec(site), {})
    assert variables["os_baseline_mirror_keyring"] == mirror_keyring_path("ohio-trn3")
    assert "neuron_mirror_keyring" not in variables
    assert signed_by("neuron", variables) == "Signed-By: /usr/share/keyrings/aws-neuron-archive-keyring.asc"


@pytest.mark.parametrize("site", ["paris-gb200", "ohio-trn3"])
def test_without_a_mirror_key_every_source_keeps_its_vendors_key(site):
    variables = role_vars(load_spec(site_dir(site)), {})
    assert not [k for k in variables if "_mirror_keyring" in k]
    for role in TEMPLATES:
        rendered = signed_by(role, variables)
        assert "aifactory-" not in rendered and re.fullmatch(r"Signed-By: /usr/share/keyrings/[\w.-]+", rendered)


def test_a_role_set_by_hand_names_the_keyring_it_is_given():
    assert signed_by("neuron", {"neuron_mirror_keyring": "/etc/apt/keyrings/site.asc"}) == \
        "Signed-By: /etc/apt/keyrings/site.asc"
    assert signed_by("rdma_fabric", {}) == "Signed-By: /usr/share/keyrings/doca-archive-keyring.asc"


@pytest.mark.parametrize("problem", ["missing", "another key's", "another site's"])
def test_a_keyring_that_is_not_the_mirror_keys_is_bad_input_naming_the_field(tmp_path, problem):
    site, _key = keyed_site(tmp_path, "lab-b200", keyring=problem != "missing")
    if problem == "another key's":
        (site / "mirror-key.gpg").write_bytes(openpgp.keyring(ed25519.Ed25519PrivateKey.generate(), "lab-b200"))
    elif problem == "another site's":
        (site / "mirror-key.gpg").write_bytes(openpgp.keyring(_key, "paris-gb200"))
    with pytest.raises(BadInput, match=r"software.mirror_public_key_file mirror-key.pub: .*aifactory mirror keyring"):
        role_vars(load_spec(site), {})


def test_a_keyring_that_is_a_fifo_is_bad_input_not_a_hang(tmp_path):
    site, _key = keyed_site(tmp_path, "lab-b200", keyring=False)
    os.mkfifo(site / "mirror-key.gpg")
    with pytest.raises(BadInput, match=r"software.mirror_public_key_file mirror-key.pub: its OpenPGP keyring .* "
                                       r"cannot be read \(not a regular file"):
        role_vars(load_spec(site), {})
