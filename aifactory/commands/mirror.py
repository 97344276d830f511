"""`aifactory mirror bom SITE`: the bill of materials of the site's offline mirror; `aifactory mirror build
SITE --out DIR`: that bill fetched, verified and signed into a bundle; `aifactory mirror verify SITE BUNDLE`: a
bundle's signed manifest, every file's hash and its APT indexes, before anything is served; `aifactory mirror
keyring SITE --signing-key FILE`: the mirror key's OpenPGP keyring, which the nodes' APT sources name;
`aifactory mirror join SITE PARTS_DIR --out DIR`: a bundle split by `build --split-size` restored and verified;
`aifactory mirror apply SITE DELTA --onto SERVED [--out DIR]`: a delta applied onto the served bundle, written
as a new complete bundle (SERVED.next) and verified.

Every package the roles install on the site's nodes (for its OS release and CPU architecture) with its
dependency closure, and the files they download, resolved from the upstream Packages indexes: fetched
from the upstream servers, or the copies a staging host fetched (`--index URL=FILE`, then every index
comes from such files). Exit 0 with a complete BOM; 1 when a package is in no index (each is named, the
BOM printed lacks it) or an index cannot be fetched; 2 on a bad spec or option, or an unusable --index.
verify: exit 0 when the bundle verifies; 1 when it is refused (each reason named); 2 on a bad spec, a spec
without software.mirror_public_key_file or an unusable key or BUNDLE directory.
build: exit 0 with a signed bundle that verifies; 1 when a file or index fails verification against its
upstream index or Release (refused, never written), an upstream's Release is not signed by the
--upstream-keyring given for it, or a package is in no index (nothing is signed then); 2 on bad input: a
spec without the mirror key, a --signing-key that is not its private half, an upstream that cannot be read,
a --previous bundle that does not verify, an --out holding something else, an --upstream-keyring that is
not a keyring or gpgv missing, a bad --split-size.
join: exit 0 with the bundle restored and verified; 1 when a part is missing, extra or altered, the parts list
is not signed by the site's key or an entry is unsafe (nothing restored), or the restored bundle does not
verify; 2 on a bad spec, PARTS_DIR or --out.
apply: exit 0 with the new bundle written and verified; 1 when the delta or the served bundle does not verify,
the delta was not built on the served bundle or the served bundle lacks a carried file or holds it with another
SHA-256 (nothing written), or the new bundle does not verify; 2 on a bad spec, DELTA, --onto or --out (existing
and not empty).
keyring: exit 0 with the keyring written; 2 on a spec without the mirror key or a --signing-key that is not
its private half.
"""

from __future__ import annotations

import argparse
import sys
import urllib.parse
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from aifactory.commands.paths import index_copy, input_dir, input_file, output_dir, output_file, package_file
from aifactory.core import openpgp, output
from aifactory.core.inputs import BadInput, InputFileError, read_text
from aifactory.mirror import apt_repo, gpgv, indexes, manifest, sbom, site_built, transfer
from aifactory.mirror import apply as apply_
from aifactory.mirror import bom as bom_
from aifactory.mirror import build as build_
from aifactory.mirror.debian import MirrorIndexError
from aifactory.mirror.installs import site_installs
from aifactory.mirror.upstream import WEB, Unreadable, Upstream, under
from aifactory.node.mirror_keyring import keyring_file
from aifactory.spec.key_files import KEY_FILE_MAX_BYTES, ed25519_private_key, ed25519_public_key
from aifactory.spec import Factory, load_spec
from aifactory.spec.validators import shown

FORMATS = ("table", "json", "cyclonedx")


def register(sub) -> None:
    p = sub.add_parser("mirror", help="the offline mirror: its bill of materials, a bundle verified before it is served")
    mirror_sub = p.add_subparsers(dest="mirror_command", required=True, metavar="SUBCOMMAND")
    b = mirror_sub.add_parser("bom", help="every package and file the site's nodes install, resolved from the "
                                          "upstream indexes: a table, JSON or a CycloneDX SBOM")
    b.add_argument("spec", metavar="SITE", help="factory.yaml or the site directory holding it")
    b.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    b.add_argument("--index", action="append", type=index_copy, metavar="URL=FILE", default=[],
                   help="a copy of an upstream Packages index (plain, .gz or .xz by FILE's name) and the URL it was "
                        "fetched from; repeat for each. Given any, the network is not used and every repository "
                        "the site installs from needs one")
    _from_option(b)
    _site_package_option(b)
    b.set_defaults(func=run_bom)
    v = mirror_sub.add_parser("verify", help="check a mirror bundle before serving it: its manifest's signature "
                                             "against the site's mirror key, then every file's SHA-256")
    v.add_argument("spec", metavar="SITE", help="factory.yaml or the site directory holding it")
    v.add_argument("bundle", metavar="BUNDLE", type=input_dir, help="the bundle's root (manifest.json, manifest.json.sig)")
    v.set_defaults(func=run_verify)
    m = mirror_sub.add_parser("build", help="on a connected staging host: fetch the bill of materials, verify every "
                                            "file against its upstream index, lay it out as the nodes' APT "
                                            "repositories and sign the bundle with the site's mirror key")
    m.add_argument("spec", metavar="SITE", help="factory.yaml or the site directory holding it")
    m.add_argument("--out", required=True, type=output_dir, metavar="DIR",
                   help="the bundle's directory: new, empty, or an interrupted build of this site (resumed)")
    m.add_argument("--signing-key", required=True, type=input_file, metavar="FILE",
                   help="the site's mirror key: the Ed25519 private key (PEM) whose public half is "
                        "software.mirror_public_key_file")
    _from_option(m)
    _site_package_option(m)
    m.add_argument("--previous", type=input_dir, metavar="DIR",
                   help="an earlier bundle of this site (verified first): the new one is a delta holding only files "
                        "whose path or SHA-256 changed, its manifest naming the previous one's")
    m.add_argument("--upstream-keyring", dest="keyrings", action="append", type=upstream_keyring, default=[],
                   metavar="UPSTREAM=FILE",
                   help="the OpenPGP keyring (binary or armored) the Release of the upstream under URL prefix UPSTREAM "
                        "must be signed with (checked with gpgv; the build is refused otherwise); repeat for each. "
                        "The manifest records each upstream's key, or that its signature was not checked")
    m.add_argument("--split-size", type=split_size, metavar="SIZE",
                   help="after the build, also write the bundle as numbered parts of at most SIZE (such as 4G, 700M, "
                        "512K; binary units) with a signed parts list, into DIR.parts beside it, for transfer media")
    m.set_defaults(func=run_build)
    j = mirror_sub.add_parser("join", help="on the air-gapped side: check the parts of a split bundle against their "
                                           "signed parts list, restore the bundle and verify it")
    j.add_argument("spec", metavar="SITE", help="factory.yaml or the site directory holding it")
    j.add_argument("parts", metavar="PARTS_DIR", type=input_dir,
                   help="the directory holding the parts and the parts list (DIR.parts of `mirror build --split-size`)")
    j.add_argument("--out", required=True, type=output_dir, metavar="DIR", help="where the bundle is restored: new or empty")
    j.set_defaults(func=run_join)
    a = mirror_sub.add_parser("apply", help="on the air-gapped side: apply a delta bundle onto the bundle being "
                                            "served, written as a new complete bundle that verifies, for an atomic "
                                            "swap")
    a.add_argument("spec", metavar="SITE", help="factory.yaml or the site directory holding it")
    a.add_argument("delta", metavar="DELTA", type=input_dir, help="the delta (`mirror build --previous`), verified first")
    a.add_argument("--onto", required=True, type=input_dir, metavar="SERVED",
                   help="the bundle being served, which the delta was built on (verified first, never changed)")
    a.add_argument("--out", type=output_dir, metavar="DIR",
                   help="where the new bundle is written: new or empty (default: SERVED.next beside SERVED)")
    a.set_defaults(func=run_apply)
    k = mirror_sub.add_parser("keyring", help="write the OpenPGP keyring of the site's mirror key, which the nodes' "
                                              "APT sources name in Signed-By (made once per key, committed beside "
                                              "the public key)")
    k.add_argument("spec", metavar="SITE", help="factory.yaml or the site directory holding it")
    k.add_argument("--signing-key", required=True, type=input_file, metavar="FILE",
                   help="the mirror key's private half (its self-certification needs it); nothing of it is written")
    k.add_argument("--out", type=output_file, metavar="FILE",
                   help="where to write it (default: beside software.mirror_public_key_file, named after it with .gpg, "
                        "where the inventory reads it)")
    k.set_defaults(func=run_keyring)


def _from_option(parser) -> None:
    parser.add_argument("--from", dest="sources", action="append", type=upstream_source, default=[],
                        metavar="UPSTREAM=URL_OR_DIR",
                        help="read what is published under the upstream URL prefix UPSTREAM (such as "
                             "http://deb.debian.org/debian) from another http(s) URL or a local directory holding the "
                             "same paths; repeat for each. Default: every repository from its upstream server")


def _site_package_option(parser) -> None:
    parser.add_argument("--site-package", dest="site_packages", action="append", type=package_file, default=[],
                        metavar="FILE.deb",
                        help="the site's own build of a package no vendor publishes (nccl-tests, from the tag the "
                             "catalog pins): listed with its SHA-256 and put into the bundle's repository the "
                             "catalog names; repeat for each. Not given: listed at the pinned tag, left out")


def _site_built(f: Factory, given: list[Path], arch: str) -> tuple[tuple[site_built.SiteBuilt, site_built.Given | None], ...]:
    """Each package the site builds itself, with its --site-package build (None: not given)."""
    builds = site_built.match(f, [site_built.read(path) for path in given], arch)
    return tuple((wanted, builds.get(wanted.name)) for wanted in site_built.wanted(f))


def _check_upstreams(installs, sources: list[tuple[str, str]], keyrings: list[tuple[str, Path]] = ()) -> None:
    """BadInput naming a --from or --upstream-keyring prefix under which none of the site's upstreams is."""
    repositories = [r.url for r in installs.repositories]
    named = [("--from", p, [*repositories, *(d.url for d in installs.downloads)]) for p, _s in sources]
    named += [("--upstream-keyring", p, repositories) for p, _f in keyrings]
    for option, prefix, upstreams in named:
        if not any(under(u, prefix) for u in upstreams):
            raise BadInput(f"{option} {shown(prefix, 300)}: no repository of this site is there"
                           + (", nor a download" if option == "--from" else "") + "; its upstreams: "
                           + ", ".join(upstreams))


def upstream_source(text: str) -> tuple[str, str]:
    """`UPSTREAM=URL_OR_DIR`: an upstream http(s) URL prefix and the http(s) URL (no credentials) or the
    existing directory standing for it."""
    prefix, sep, source = text.partition("=")
    if not sep or not prefix.startswith(WEB) or not source:
        raise argparse.ArgumentTypeError(f"{shown(text, 300)}: expected UPSTREAM=URL_OR_DIR (an http(s) URL prefix, "
                                         "then the URL or directory standing for it)")
    if source.startswith(WEB):
        parts = urllib.parse.urlsplit(source)
        if parts.username or parts.password:
            raise argparse.ArgumentTypeError(f"{shown(prefix, 300)}=...: the URL holds credentials; give one without")
        return prefix, source
    return prefix, str(input_dir(source).absolute())


def split_size(text: str) -> int:
    """--split-size: a positive size (4G, 700M, 512K, bytes)."""
    try:
        return transfer.parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def upstream_keyring(text: str) -> tuple[str, Path]:
    """`UPSTREAM=FILE`: an upstream http(s) URL prefix and the keyring file its Release is signed with."""
    prefix, sep, file = text.partition("=")
    if not sep or not prefix.startswith(WEB) or not file:
        raise argparse.ArgumentTypeError(f"{shown(text, 300)}: expected UPSTREAM=FILE (an http(s) URL prefix, then "
                                         "the keyring its Release is signed with)")
    return prefix, input_file(file)


def run_bom(args) -> int:
    f = load_spec(args.spec)
    installs = site_installs(f)
    if args.index and args.sources:
        raise BadInput("--index and --from: give the index copies, or where to read the upstreams, not both")
    _check_upstreams(installs, args.sources)
    try:
        found = (indexes.from_files(args.index, installs) if args.index
                 else indexes.from_network(installs, Upstream(tuple(args.sources)).get) if args.sources
                 else indexes.from_network(installs))
    except MirrorIndexError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    result = bom_.build(f.name, installs, found, _site_built(f, args.site_packages, installs.arch))
    if args.format == "cyclonedx":
        print(sbom.cyclonedx_json(result))
    elif args.format == "json":
        print(bom_.as_json(result))
    else:
        print(output.table(bom_.TABLE_HEADERS, bom_.table_rows(result)))
        if result.per_kernel:
            print("built for the node's running kernel, resolved on the node: " + ", ".join(result.per_kernel))
    for line in result.missing:
        print(f"error: {line}", file=sys.stderr)
    if result.missing:
        print(f"error: the bill of materials lacks {len(result.missing)} package(s) (above); give the index of "
              "the repository that has them with --index, or fix the role's package list", file=sys.stderr)
        return 1
    return 0


def _mirror_key(f: Factory):
    """The site's mirror public key; BadInput when the spec names none."""
    if not f.software.mirror_public_key_file:
        raise BadInput(f"{f.name}: the spec names no {manifest.KEY_FIELD} (the Ed25519 public key of the site's "
                       "mirror key): a bundle is signed and verified with the site's key only")
    return ed25519_public_key(f, f.software.mirror_public_key_file, manifest.KEY_FIELD)


def _problems(bundle: Path, key, complete: bool = False) -> list[str]:
    """Why a bundle must not be served: its signed manifest, then its APT indexes as APT checks them;
    `complete`: a delta's carried files must be held too."""
    return manifest.verify(bundle, key, complete) or apt_repo.check(bundle, manifest.carried(manifest.read(bundle)))


def _refused(bundle: Path, key, verdict: str, complete: bool = False, named: str = "") -> bool:
    """Print why `bundle` must not be served (a `refused:` line per problem, then `error: ...{verdict}`); whether
    there was a problem."""
    problems = _problems(bundle, key, complete)
    for line in problems:
        print(f"refused: {named}{line}", file=sys.stderr)
    if problems:
        print(f"error: {named or f'{bundle}: '}{verdict}", file=sys.stderr)
    return bool(problems)


def run_verify(args) -> int:
    f = load_spec(args.spec)
    key = _mirror_key(f)
    if _refused(args.bundle, key, "the bundle does not verify; serve none of it"):
        return 1
    previous = manifest.read(args.bundle).get("previous")
    missing = [p for p in manifest.carried(manifest.read(args.bundle)) if not (args.bundle / p).is_file()]
    delta = (f"; a delta: serve it with the bundle whose manifest has SHA-256 {previous.get('manifest_sha256')}"
             if isinstance(previous, dict) and missing else "")
    print(f"{args.bundle}: verified, the manifest signed by the site's mirror key, every file's SHA-256 as listed "
          f"and every APT index and package as its Release and Packages list{delta}")
    return 0


def _signing_key(path: Path, public):
    """The --signing-key, which must be the private half of the site's mirror key."""
    try:
        text = read_text(path, KEY_FILE_MAX_BYTES)
    except InputFileError as err:
        raise BadInput(f"--signing-key {shown(str(path), 300)}: {err}") from None
    key = ed25519_private_key(text, f"--signing-key {shown(str(path), 300)}", "the mirror key")
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    if key.public_key().public_bytes(*raw) != public.public_bytes(*raw):
        raise BadInput(f"--signing-key {shown(str(path), 300)}: not the private half of {manifest.KEY_FIELD}; "
                       "nodes would refuse the bundle")
    return key


def _keyrings(given: list[tuple[str, Path]]) -> tuple[tuple[str, bytes], ...]:
    """The --upstream-keyring files read, dearmored; BadInput when one is not a keyring or gpgv is missing."""
    if given and not gpgv.available():
        raise BadInput("--upstream-keyring: gpgv is not installed on this host (apt install gpgv); it checks the "
                       "upstreams' signatures")
    out = []
    for prefix, path in given:
        try:
            data = gpgv.binary_keyring(path.read_bytes())  # input_file bounded its size
        except (OSError, ValueError, UnicodeDecodeError) as err:
            raise BadInput(f"--upstream-keyring {shown(prefix, 300)}={shown(str(path), 300)}: not an OpenPGP "
                           f"keyring ({err})") from None
        if not data or data[0] & 0x80 == 0:
            raise BadInput(f"--upstream-keyring {shown(prefix, 300)}={shown(str(path), 300)}: not an OpenPGP keyring")
        out.append((prefix, data))
    return tuple(out)


def run_keyring(args) -> int:
    f = load_spec(args.spec)
    key = _signing_key(args.signing_key, _mirror_key(f))
    out = args.out or keyring_file(f)
    try:
        out.write_bytes(openpgp.keyring(key, f.name))
    except OSError as err:
        raise BadInput(f"--out {shown(str(out), 300)}: cannot be written ({err.strerror})") from None
    print(f"{out}: the OpenPGP keyring of {f.name}'s mirror key, fingerprint "
          f"{openpgp.fingerprint(key.public_key())}, user ID \"{openpgp.user_id(f.name)}\"")
    return 0


def run_build(args) -> int:
    f = load_spec(args.spec)
    public = _mirror_key(f)
    key = _signing_key(args.signing_key, public)
    installs = site_installs(f)
    _check_upstreams(installs, args.sources, args.keyrings)
    keyrings = _keyrings(args.keyrings)
    built = _site_built(f, args.site_packages, installs.arch)
    previous, previous_sha256 = None, ""
    if args.previous is not None:
        if args.previous.resolve() == args.out.resolve():
            raise BadInput("--previous and --out are one directory: the delta is a new bundle beside the previous one")
        problems = _problems(args.previous, public)
        if problems:
            raise BadInput(f"--previous {shown(str(args.previous), 300)}: does not verify ({problems[0]}"
                           + (f", and {len(problems) - 1} more" if len(problems) > 1 else "") + ")")
        previous, previous_sha256 = manifest.read(args.previous), manifest.sha256(args.previous)
        if previous.get("site") != f.name:
            raise BadInput(f"--previous {shown(str(args.previous), 300)}: a bundle of {shown(previous.get('site'))}, "
                           f"not of {f.name}")
    try:
        outcome = build_.build(f, args.out, Upstream(tuple(args.sources)), key, previous, previous_sha256,
                               progress=lambda line: print(line, file=sys.stderr), keyrings=keyrings,
                               site_built=built)
    except Unreadable as err:
        print(f"error: an upstream cannot be read: {err}", file=sys.stderr)
        return 2
    except MirrorIndexError as err:
        print(f"refused: {err}", file=sys.stderr)
        why = ("an upstream's Release is not signed by the keyring given for it"
               if isinstance(err, gpgv.SignatureRefused) else "an upstream index does not match its Release")
        print(f"error: {why}; nothing was signed", file=sys.stderr)
        return 1
    for line in outcome.refused:
        print(f"refused: {line}", file=sys.stderr)
    for line in outcome.missing:
        print(f"error: {line}", file=sys.stderr)
    if outcome.refused or outcome.missing:
        print(f"error: {len(outcome.refused)} file(s) refused, {len(outcome.missing)} package(s) in no index; the "
              f"bundle is not signed (a rerun fetches only what {args.out} lacks)", file=sys.stderr)
        return 1
    if _refused(args.out, public, "the bundle built does not verify; it is not signed for serving"):
        return 1
    print(output.table(DOWNLOAD_HEADERS, [(d["name"], d["version"], d["path"], d["sha256"][:12], d["pinning"])
                                          for d in outcome.downloads]))
    print(f"{args.out}: signed and verified, {len(outcome.fetched) + len(outcome.kept)} file(s)"
          + (f", {len(outcome.carried)} carried from --previous" if previous is not None else ""))
    if args.split_size is not None:
        return _split(args.out, args.split_size, f.name, key)
    return 0


DOWNLOAD_HEADERS = ("download", "version", "path in the bundle", "sha256", "pinning")


def _split(bundle: Path, size: int, site: str, key) -> int:
    """The built bundle written as parts beside it (BUNDLE.parts)."""
    directory = bundle.absolute().parent / f"{bundle.absolute().name}.parts"
    try:
        names = transfer.split(bundle.absolute(), directory, size, site, key)
    except (OSError, ValueError) as err:
        raise BadInput(f"--split-size: the parts cannot be written ({err})") from None
    print(f"{directory}: {len(names) - 2} part(s) of at most {size} bytes and the signed parts list "
          f"{names[-2]}; on the air-gapped side: aifactory mirror join SITE PARTS_DIR --out DIR")
    return 0


def run_join(args) -> int:
    f = load_spec(args.spec)
    key = _mirror_key(f)
    try:
        document = transfer.join(args.parts, args.out, key)
    except transfer.JoinRefused as err:
        print(f"refused: {err}", file=sys.stderr)
        print(f"error: {args.parts}: the parts were not joined; nothing was restored", file=sys.stderr)
        return 1
    if _refused(args.out, key, "the restored bundle does not verify; serve none of it"):
        return 1
    print(f"{args.out}: {len(document['parts'])} part(s) joined; the bundle {document['bundle']} verified "
          "(its manifest signed by the site's mirror key, every file's SHA-256 as listed)")
    return 0


def run_apply(args) -> int:
    f = load_spec(args.spec)
    key = _mirror_key(f)
    served = args.onto
    out = args.out if args.out is not None else served.absolute().parent / f"{served.absolute().name}.next"
    option = "--out" if args.out is not None else f"--out (default {out})"
    if out.resolve() in (served.resolve(), args.delta.resolve()):
        raise BadInput(f"{option}: is DELTA or --onto; the new bundle is written beside them, neither is changed")
    if out.is_dir() and any(out.iterdir()):
        raise BadInput(f"{option} {shown(str(out), 300)}: exists and is not empty; give a new or empty directory")
    if out.exists() and not out.is_dir():
        raise BadInput(f"{option} {shown(str(out), 300)}: not a directory")
    for name, bundle, complete in (("DELTA", args.delta, False), ("--onto", served, True)):
        if _refused(bundle, key, "the bundle does not verify; nothing was written", complete, f"{name} {bundle}: "):
            return 1
    try:
        apply_.apply(args.delta, served, out)
    except apply_.ApplyRefused as err:
        print(f"refused: {err}", file=sys.stderr)
        print(f"error: {args.delta} cannot be applied onto {served}; nothing was written", file=sys.stderr)
        return 1
    if _refused(out, key, "the new bundle does not verify; serve none of it", complete=True):
        return 1
    print(f"{out}: the delta applied onto {served} and verified (its manifest signed by the site's mirror key, "
          f"every file's SHA-256 as listed, every carried file held); {served} is unchanged")
    print(f"swap it in atomically: mv --exchange {out} {served} (coreutils 9.5 or later; {out} then holds the "
          "previous bundle), or point the mirrors' symlink at it: ln -sfn NEW LINK.tmp && mv -T LINK.tmp LINK")
    return 0
