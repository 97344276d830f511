"""`aifactory acceptance certificate SITE` and `aifactory acceptance verify FILE --site SITE`: the signed record
of what was accepted (aifactory.reports.certificate), and its check against the site's own public key.

certificate: exit 0 when an entry was appended (or no host's acceptance changed), 1 when the existing
certificate does not verify or KMS refused to sign. verify: exit 0 when every entry verifies, 1 when one
does not. Both: 2 for bad input (a spec without acceptance.certificate, an unusable key or file).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import botocore.exceptions

from aifactory.commands.aws import add_aws_endpoint, aws_session
from aifactory.commands.paths import input_dir, output_file, record_input
from aifactory.core import userstate
from aifactory.core.inputs import MAX_RECORD_BYTES, BadInput, InputFileError, MissingFileError, read_text
from aifactory.day2.replace import ReplaceError, load_records, record_path
from aifactory.reports import certificate, signing
from aifactory.spec import Factory, load_spec
from aifactory.spec.validators import shown


def register(sub) -> None:
    p = sub.add_parser("acceptance", help="the signed acceptance certificate of a site: write it, verify it")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = actions.add_parser("certificate", help="sign what the last acceptance found into the site's certificate "
                                               "(a new entry for the hosts whose acceptance changed)")
    c.add_argument("spec", metavar="SITE", help="factory.yaml or the site directory holding it")
    c.add_argument("--out", metavar="FILE", type=output_file,
                   help="the certificate to write or append to (default: ~/.local/state/aifactory/sites/<factory>/"
                        "acceptance-certificate.json)")
    c.add_argument("--acceptance", metavar="DIR", type=input_dir,
                   help="acceptance results of the last bring-up (default: ~/.local/state/aifactory/sites/<factory>/acceptance/)")
    add_aws_endpoint(c)
    c.set_defaults(func=run_certificate)
    v = actions.add_parser("verify", help="check a certificate against the public key the site's spec names")
    v.add_argument("file", metavar="FILE", type=record_input, help="the certificate")
    v.add_argument("--site", metavar="SITE", required=True, help="factory.yaml or the site directory holding it")
    v.set_defaults(func=run_verify)


def default_certificate(f: Factory) -> Path:
    return userstate.site_home(f.name) / "acceptance-certificate.json"


def _signer(f: Factory, args):
    """The site's signer, checked against the public key its spec names (so that what it signs verifies)."""
    if f.acceptance.certificate is not None and f.acceptance.certificate.signing == "kms":
        kms = aws_session(args, f.sovereignty.region)("kms")
        signer = signing.KmsKey(kms, signing.kms_alias(f.name), f.acceptance.certificate.kms_key_spec)
    else:
        signer = signing.LocalKey(f)
    named = signing.public_key(f)
    if signing.fingerprint(signer.public_key) != signing.fingerprint(named):
        raise BadInput(f"{f.name}: the signing key ({signing.fingerprint(signer.public_key)}) is not the one "
                       f"{signing.PUBLIC_KEY_FIELD} names ({signing.fingerprint(named)}): a certificate it signed "
                       "would not verify; name the signing key's public key")
    return signer


class _NotVerified(Exception):
    """The certificate to append to does not verify: its problems."""


def _existing(path: Path, f: Factory, key) -> dict | None:
    """The certificate already at `path`, verified (None when there is none): BadInput when it is no
    certificate at all, _NotVerified with its problems when it does not verify."""
    try:
        text = read_text(path, MAX_RECORD_BYTES)
    except MissingFileError:
        return None
    except InputFileError as err:
        raise BadInput(f"--out {shown(str(path), 300)}: {err}") from None
    try:
        verdict = certificate.verify(text, f, key)
    except certificate.CertificateError as err:
        raise BadInput(f"--out {shown(str(path), 300)}: {err}; give another --out") from None
    if not verdict.ok:
        raise _NotVerified(verdict.problems)
    return certificate.parse(text)


def _write(path: Path, text: str) -> None:
    """Whole or not at all (a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def run_certificate(args) -> int:
    f = load_spec(args.spec)
    out = Path(args.out) if args.out else default_certificate(f)
    results = Path(args.acceptance) if args.acceptance else userstate.acceptance_dir(f.name)
    if not any(results.glob("*.json")):
        raise BadInput(f"{shown(str(results), 300)}: no acceptance results of {f.name}: run `aifactory bringup` "
                       "(its acceptance stage) first, or give --acceptance DIR")
    try:
        signer = _signer(f, args)
        document = _existing(out, f, signing.public_key(f))
        replacements = load_records(record_path(f.name), f)
        records = certificate.host_records(f, results, replacements)
        tiers = certificate.tier_verdicts(results)
    except (certificate.CertificateError, ReplaceError) as err:
        raise BadInput(str(err)) from None
    except _NotVerified as problems:
        print(f"error: {out}: the certificate there does not verify, nothing appended: "
              + "; ".join(problems.args[0]) + " (move it away to start a new one)", file=sys.stderr)
        return 1
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
        print(f"error: KMS key {signing.kms_alias(f.name)} cannot be used: {err}", file=sys.stderr)
        return 1
    hosts = certificate.changed_hosts(document, records)
    if not hosts:
        print(f"{out}: no host's acceptance changed since entry {len(document['entries'])}: nothing appended")
        return 0
    try:
        entry = certificate.new_entry(f, document, hosts, tiers, signer)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
        print(f"error: KMS refused to sign with {signing.kms_alias(f.name)}: {err}", file=sys.stderr)
        return 1
    _write(out, certificate.render(certificate.appended(f, document, entry)))
    body = entry["body"]
    accepted = sum(r["accepted"] for r in hosts.values())
    stand_ins = f"; measured by lab stand-ins on {len(body['stand_ins'])} host(s)" if body["stand_ins"] else ""
    print(f"{out}: entry {body['index']} of {f.name}'s acceptance certificate: {len(hosts)} host(s), {accepted} "
          f"accepted{stand_ins}; signed {entry['signature']['algorithm']} by {entry['signature']['key']}")
    return 0


def run_verify(args) -> int:
    f = load_spec(args.site)
    key = signing.public_key(f)
    try:
        text = read_text(args.file, MAX_RECORD_BYTES)
        verdict = certificate.verify(text, f, key)
    except (InputFileError, certificate.CertificateError) as err:
        raise BadInput(f"{shown(str(args.file), 300)}: {err}") from None
    if not verdict.ok:
        print(f"{args.file}: does NOT verify against {f.name}'s public key:", file=sys.stderr)
        for problem in verdict.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"{args.file}: verifies: {verdict.entries} entr{'y' if verdict.entries == 1 else 'ies'} of {f.name}'s "
          f"acceptance certificate, signed by {signing.fingerprint(key)}")
    return 0
