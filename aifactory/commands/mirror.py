"""`aifactory mirror bom SITE`: the bill of materials of the site's offline mirror; `aifactory mirror verify
SITE BUNDLE`: a mirror bundle's signed manifest and every file's hash, before anything is served.

Every package the roles install on the site's nodes (for its OS release and CPU architecture) with its
dependency closure, and the files they download, resolved from the upstream Packages indexes: fetched
from the upstream servers, or the copies a staging host fetched (`--index URL=FILE`, then every index
comes from such files). Exit 0 with a complete BOM; 1 when a package is in no index (each is named, the
BOM printed lacks it) or an index cannot be fetched; 2 on a bad spec or option, or an unusable --index.
verify: exit 0 when the bundle verifies; 1 when it is refused (each reason named); 2 on a bad spec, a spec
without software.mirror_public_key_file or an unusable key or BUNDLE directory.
"""

from __future__ import annotations

import sys

from aifactory.commands.paths import index_copy, input_dir
from aifactory.core import output
from aifactory.mirror import bom as bom_
from aifactory.mirror import indexes, manifest, sbom
from aifactory.mirror.debian import MirrorIndexError
from aifactory.mirror.installs import site_installs
from aifactory.reports.signing import ed25519_public_key
from aifactory.spec import load_spec

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
    b.set_defaults(func=run_bom)
    v = mirror_sub.add_parser("verify", help="check a mirror bundle before serving it: its manifest's signature "
                                             "against the site's mirror key, then every file's SHA-256")
    v.add_argument("spec", metavar="SITE", help="factory.yaml or the site directory holding it")
    v.add_argument("bundle", metavar="BUNDLE", type=input_dir, help="the bundle's root (manifest.json, manifest.json.sig)")
    v.set_defaults(func=run_verify)


def run_bom(args) -> int:
    f = load_spec(args.spec)
    installs = site_installs(f)
    try:
        found = indexes.from_files(args.index, installs) if args.index else indexes.from_network(installs)
    except MirrorIndexError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    result = bom_.build(f.name, installs, found)
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


def run_verify(args) -> int:
    f = load_spec(args.spec)
    if not f.software.mirror_public_key_file:
        print(f"error: {f.name}: the spec names no {manifest.KEY_FIELD} (the Ed25519 public key of the site's "
              "mirror key): a bundle is verified against the site's key only", file=sys.stderr)
        return 2
    key = ed25519_public_key(f, f.software.mirror_public_key_file, manifest.KEY_FIELD)
    problems = manifest.verify(args.bundle, key)
    for line in problems:
        print(f"refused: {line}", file=sys.stderr)
    if problems:
        print(f"error: {args.bundle}: the bundle does not verify ({len(problems)} problem(s)); serve none of it",
              file=sys.stderr)
        return 1
    print(f"{args.bundle}: verified, the manifest signed by the site's mirror key and every file's SHA-256 as listed")
    return 0
