"""`aifactory acceptance certificate` and `acceptance verify`: a signed record of what acceptance found, checked
against the public key the site's spec names only; every edit, another key, a dropped entry fails it."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from aifactory.cli import main
from aifactory.node.parsers.acceptance import STAND_IN_TOOL_MARK, evaluate
from aifactory.reports import certificate, signing
from aifactory.spec import load_spec
from tests.conftest import REPO
from tests.spec.conftest import write_site  # noqa: F401  (fixture: a mutated copy of an example site)

TOOLS = REPO / "tests" / "fixtures" / "tools"
SITE = "lab-b200"  # one rack of three HGX B200 nodes
EXPECTED = {"accelerators": 8, "accelerator_name_contains": "B200", "driver_version": "580.82.07"}


def pem_private(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def pem_public(key) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def observations(node: str, serial_prefix: str = "16530250034", stand_in: bool = False) -> dict:
    xml = (TOOLS / "nvidia-smi-q-x.hgx-b200-healthy.xml").read_text().replace("<serial>16530250034",
                                                                              f"<serial>{serial_prefix}")
    version = f"nvidia-smi 580.82.07{' (' + STAND_IN_TOOL_MARK + ')' if stand_in else ''}"
    return {"nvidia_smi": {"rc": 0, "stdout": xml, "stderr": ""},
            "ibstat": {"rc": 0, "stdout": (TOOLS / "ibstat.gb200-healthy.txt").read_text(), "stderr": ""},
            "packages": {"nvidia-fabricmanager-580": "580.82.07-1"}, "tools": {"nvidia_smi": True},
            "tool_versions": {"nvidia_smi": version}}


def write_results(results: Path, node: str, obs: dict) -> None:
    (results / "observations").mkdir(parents=True, exist_ok=True)
    (results / "observations" / f"{node}.json").write_text(json.dumps(obs))
    verdict = {"host": node, "rack": "rack01", "platform": "nvidia-hgx-b200", **evaluate(EXPECTED, obs)}
    (results / f"{node}.json").write_text(json.dumps(verdict))


@pytest.fixture
def site(write_site, tmp_path):
    """lab-b200 signing with a local Ed25519 key, its acceptance results, and where the certificate goes."""
    key = ed25519.Ed25519PrivateKey.generate()
    keys = tmp_path / "customer-keys"
    keys.mkdir()
    (keys / "acceptance.key").write_bytes(pem_private(key))

    def local_key(data):
        data["acceptance"] = {"certificate": {"signing": "local-key", "public_key_file": "pki/acceptance.pem",
                                              "private_key_file": str(keys / "acceptance.key")}}
    path = write_site(SITE, local_key)
    (path / "pki" / "acceptance.pem").write_bytes(pem_public(key.public_key()))
    results = tmp_path / "acceptance"
    for node in load_spec(path).nodes:
        write_results(results, node.name, observations(node.name))
    return {"dir": path, "key": key, "results": results, "out": tmp_path / "certificate.json",
            "nodes": [n.name for n in load_spec(path).nodes]}


def certify(site, capsys) -> tuple[int, str, str]:
    code = main(["acceptance", "certificate", str(site["dir"]), "--out", str(site["out"]),
                 "--acceptance", str(site["results"])])
    out, err = capsys.readouterr()
    return code, out, err


def verify(site, capsys, path: Path | None = None) -> tuple[int, str, str]:
    try:
        code = main(["acceptance", "verify", str(path or site["out"]), "--site", str(site["dir"])])
    except SystemExit as refused:  # argparse refuses an unusable FILE
        code = refused.code
    out, err = capsys.readouterr()
    return code, out, err


def test_the_certificate_holds_the_inventory_checks_and_provenance_and_verifies(site, capsys):
    code, out, _ = certify(site, capsys)
    assert code == 0 and "entry 1" in out and "3 host(s), 3 accepted" in out
    document = json.loads(site["out"].read_text())
    (entry,) = document["entries"]
    body = entry["body"]
    assert body["spec_sha256"] == hashlib.sha256((site["dir"] / "factory.yaml").read_bytes()).hexdigest()
    assert body["catalog"]["aifactory"] and len(body["catalog"]["sha256"]) == 64
    host = body["hosts"][site["nodes"][0]]
    assert host["result"] == "pass" and host["accepted"]
    assert host["inventory"]["driver"] == "580.82.07"
    assert [g["serial"] for g in host["inventory"]["gpus"]][:2] == ["1653025003400", "1653025003401"]
    assert {a["type"]: a["firmware"] for a in host["inventory"]["adapters"]} == {  # ConnectX-7, BlueField-3
        "MT4129": "28.43.1014", "MT41692": "32.43.1014"}
    assert host["inventory"]["fabric_packages"] == {"nvidia-fabricmanager-580": "580.82.07-1"}
    assert {c["name"]: c["status"] for c in host["checks"]}["accelerator_count"] == "pass"
    assert body["stand_ins"] == [] and body["previous"] is None
    assert verify(site, capsys)[0] == 0


def test_every_one_byte_edit_fails(site, capsys):
    certify(site, capsys)
    text = site["out"].read_text()
    f = load_spec(site["dir"])
    key = signing.public_key(f)
    assert certificate.verify(text, f, key).ok
    for position in range(0, len(text), max(1, len(text) // 400)):
        edited = text[:position] + ("1" if text[position] != "1" else "2") + text[position + 1:]
        try:
            assert not certificate.verify(edited, f, key).ok, position
        except certificate.CertificateError:
            pass  # an edit that leaves no certificate at all: exit 2, still no pass
    figure = text.replace("1653025003401", "1653025003409", 1)  # one GPU's serial, the file still well-formed
    site["out"].write_text(figure)
    code, _, err = verify(site, capsys)
    assert code == 1 and "does NOT verify" in err and "signature does not verify" in err


def test_a_space_added_where_json_ignores_it_still_fails(site, capsys):
    certify(site, capsys)
    site["out"].write_text(site["out"].read_text().replace('": ', '":  ', 1))
    code, _, err = verify(site, capsys)
    assert code == 1 and "edited" in err


def resigned(document: dict, key) -> dict:
    """The document with every entry re-signed by `key`, the chain redone, and `key`'s public key carried in it."""
    public = pem_public(key.public_key()).decode()
    entries = []
    for entry in document["entries"]:
        body = {**entry["body"], "previous": f"sha256:{certificate.sha256(entries[-1])}" if entries else None}
        value = base64.b64encode(key.sign(signing.statement(certificate.sha256(body)))).decode()
        entries.append({"body": body, "signature": {"algorithm": "ed25519", "key": signing.fingerprint(key.public_key()),
                                                    "value": value, "public_key": public}})
    return {**document, "entries": entries, "public_key": public}


def test_a_certificate_resigned_with_another_key_fails_and_a_key_it_carries_is_ignored(site, capsys, tmp_path):
    certify(site, capsys)
    other = ed25519.Ed25519PrivateKey.generate()
    forged = tmp_path / "forged.json"
    forged.write_text(certificate.render(resigned(json.loads(site["out"].read_text()), other)))
    code, _, err = verify(site, capsys, forged)
    assert code == 1 and "signature does not verify" in err
    # The same forgery verifies for a site whose spec names the other key: the check is the spec's key alone.
    (site["dir"] / "pki" / "acceptance.pem").write_bytes(pem_public(other.public_key()))
    assert verify(site, capsys, forged)[0] == 0


def test_a_replaced_tray_gets_a_new_entry_chained_to_the_first(site, capsys):
    certify(site, capsys)
    replaced = site["nodes"][1]
    write_results(site["results"], replaced, observations(replaced, serial_prefix="99990000000"))
    code, out, _ = certify(site, capsys)
    assert code == 0 and "entry 2" in out and "1 host(s)" in out
    document = json.loads(site["out"].read_text())
    first, second = document["entries"]
    assert list(second["body"]["hosts"]) == [replaced] and second["body"]["supersedes"] == {replaced: 1}
    assert second["body"]["previous"] == f"sha256:{certificate.sha256(first)}"
    assert second["body"]["hosts"][replaced]["inventory"]["gpus"][0]["serial"] == "9999000000000"
    assert verify(site, capsys)[0] == 0
    code, out, _ = certify(site, capsys)
    assert code == 0 and "nothing appended" in out and len(json.loads(site["out"].read_text())["entries"]) == 2
    # Dropping the first entry breaks the chain.
    site["out"].write_text(certificate.render({**document, "entries": [second]}))
    code, _, err = verify(site, capsys)
    assert code == 1 and "says it is entry 2" in err and "does not follow" in err


def test_an_edited_certificate_is_not_appended_to(site, capsys):
    certify(site, capsys)
    site["out"].write_text(site["out"].read_text().replace('"pass"', '"fail"', 1))
    write_results(site["results"], site["nodes"][0], observations(site["nodes"][0], serial_prefix="99990000000"))
    code, _, err = certify(site, capsys)
    assert code == 1 and "does not verify, nothing appended" in err


def test_stand_in_tools_are_named_in_the_certificate(site, capsys):
    write_results(site["results"], site["nodes"][2], observations(site["nodes"][2], stand_in=True))
    code, out, _ = certify(site, capsys)
    assert code == 0 and "measured by lab stand-ins on 1 host(s)" in out
    body = json.loads(site["out"].read_text())["entries"][0]["body"]
    assert body["stand_ins"] == [site["nodes"][2]]
    assert body["hosts"][site["nodes"][2]]["inventory"]["stand_in_tools"] == ["nvidia_smi"]


def test_performance_tiers_are_certified_with_figure_and_threshold(site, capsys):
    tiers = site["results"] / certificate.PERFORMANCE_DIR
    tiers.mkdir()
    check = {"name": "tray_all_reduce", "tier": "tray", "status": "pass", "figure": 702.5, "threshold": 600.0,
             "unit": "GB/s", "source": "AWS GPU health checks", "reason": "702.5 GB/s >= 600 GB/s"}
    (tiers / "tray-1.json").write_text(json.dumps({"tier": "tray", "hosts": site["nodes"][:1], "result": "pass",
                                                   "checks": [check]}))
    certify(site, capsys)
    (tier,) = json.loads(site["out"].read_text())["entries"][0]["body"]["performance"]
    assert tier["tier"] == "tray" and tier["checks"] == [check]


def test_no_private_key_material_in_output_or_certificate(site, capsys):
    code, out, err = certify(site, capsys)
    assert code == 0
    raw = site["key"].private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
    pem_body = "".join(pem_private(site["key"]).decode().splitlines()[1:-1])
    for text in (out, err, site["out"].read_text()):
        assert "PRIVATE KEY" not in text and pem_body not in text
        assert base64.b64encode(raw).decode() not in text and raw.hex() not in text


@pytest.mark.parametrize("case, expect", [
    ("no certificate section", "acceptance.certificate"),
    ("public key is a private key", "holds a private key"),
    ("signing key is not the named one", "is not the one acceptance.certificate.public_key_file names"),
    ("no private key file", "acceptance.certificate.private_key_file"),
    ("no acceptance results", "no acceptance results"),
    ("a result that is not a verdict", "not an acceptance verdict (not an object with a `result`)"),
])
def test_bad_input_to_certificate_exits_2_naming_the_field(site, capsys, case, expect):
    spec = site["dir"] / "factory.yaml"
    public = site["dir"] / "pki" / "acceptance.pem"
    if case == "no certificate section":
        spec.write_text(spec.read_text().split("\nacceptance:")[0] + "\n")
    elif case == "public key is a private key":
        public.write_bytes(pem_private(site["key"]))
    elif case == "signing key is not the named one":
        public.write_bytes(pem_public(ed25519.Ed25519PrivateKey.generate().public_key()))
    elif case == "no private key file":
        Path(load_spec(site["dir"]).acceptance.certificate.private_key_file).unlink()
    elif case == "a result that is not a verdict":
        next(p for p in sorted(site["results"].glob("*.json")) if not p.stem.startswith("summary")).write_text("[1]")
    else:
        for result in site["results"].glob("*.json"):
            result.unlink()
    code, _, err = certify(site, capsys)
    assert code == 2 and expect in err and "Traceback" not in err
    assert not site["out"].exists()


def test_bad_files_to_verify_exit_2(site, capsys, tmp_path):
    not_json, other_json = tmp_path / "a.json", tmp_path / "b.json"
    not_json.write_text("not json {")
    other_json.write_text('{"entries": []}')
    for path, expect in ((tmp_path / "missing.json", "no such file"), (not_json, "not valid JSON"),
                         (other_json, "not an acceptance certificate"), (tmp_path, "not a regular file")):
        code, _, err = verify(site, capsys, path)
        assert code == 2 and expect in err and "Traceback" not in err


@pytest.mark.parametrize("certificate_config, keys, field", [
    ({"signing": "kms", "public_key_file": "pki/a.pem"}, "external-key-store", "acceptance.certificate.signing"),
    ({"signing": "local-key", "public_key_file": "pki/a.pem"}, "customer-managed",
     "acceptance.certificate.private_key_file"),
])
def test_the_spec_refuses_a_signing_key_the_site_cannot_hold(write_site, capsys, certificate_config, keys, field):
    def mutate(data):
        data["acceptance"] = {"certificate": certificate_config}
        data["sovereignty"]["keys"] = keys
        if keys == "external-key-store":
            data["sovereignty"]["external_key_store"] = {"proxy_uri_endpoint": "https://xks.lab.factory.internal"}
    code = main(["validate", str(write_site(SITE, mutate))])
    assert code == 2 and field in capsys.readouterr().err
