"""The lab's mirror bundle: `aifactory mirror build` run on the lab's stand-in upstreams, checked by `aifactory
mirror verify` at every `lab up`, and served to the nodes as a site's mirrors serve a bundle.

The upstreams a staging host would fetch from are stood in for (`--from`): the Debian archive by the machine's
configured Debian mirror, read through the lab cache's copy (archive_cache; its Release checked against
debian-archive-keyring as the archive's own), NVIDIA's and AWS's servers by the lab's vendor repository stand-ins
(checked against the lab vendor key that signs them), the SSM agent and signing helper stand-ins; the stand-in
nccl-tests package is given as the site's own build (`--site-package`). The bundle is signed by
a mirror key made for it, as a site's is: its private half exists only while `mirror build` runs, in a folder only
root reads inside the half-built tree, removed once the bundle is signed, whatever happened (a killed build's goes
with its tree when the next lab up or prepare starts); its public half and the site's spec naming it (a copy of the
inventory, `software.mirror_public_key_file` added) stay beside the bundle so that `mirror verify` checks it
before each serving, with the site's bill of materials as `aifactory mirror bom --format cyclonedx` writes it from
the same upstreams.

A lab of a site whose nodes' architecture is not this machine's (a GB200 site on an x86_64 machine) gets no
bundle: the bundle would hold that architecture's packages, which the lab's containers cannot run. Such a lab
serves the stand-in repositories and the partial Debian mirror directly, and `lab up` says so.

Built once per (site's installs, stand-in upstreams, builder) under the lab cache.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from aifactory.core import openpgp
from aifactory.lab import archive_cache, aws, base, procs, vendor_repos
from aifactory.lab.state import LabState
from aifactory import mirror as mirror_package
from aifactory.mirror import manifest, site_built
from aifactory.mirror.build import keyring_path
from aifactory.mirror.installs import OS_ARCHIVES, SiteInstalls, site_installs
from aifactory.mirror.upstream import under
from aifactory.node.role_vars import (MELLANOX_REPO, NEURON_REPO, NVIDIA_DOWNLOADS, SIGNING_HELPER_RELEASES,
                                     SSM_AGENT_ON_MIRROR, role_vars)
from aifactory.spec import Factory, load_spec
from aifactory.spec.model import SigningHelper

BOM = "bom.cdx.json"  # beside the bundle: the site's bill of materials (`mirror bom --format cyclonedx`)
PUBLIC_KEY = "mirror-key.pub"  # in the site copy, beside factory.yaml; its keyring beside it (mirror-key.gpg)
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
SOURCES = Path(mirror_package.__file__).parent  # the builder's code: a change rebuilds the bundle


class BundleError(RuntimeError):
    """`mirror build` or `mirror verify` refused the lab's bundle; the message has their words and the log."""


def applies(f: Factory) -> bool:
    """Whether a lab of `f` installs from a bundle: its nodes' architecture is this machine's."""
    return f.platform.cpu_architecture.debian == vendor_repos.architecture()


def _used(pairs: tuple[tuple[str, object], ...], urls: list[str]) -> tuple:
    """The pairs whose upstream prefix some of `urls` is under (`mirror build` refuses the others) and whose
    source is not the upstream itself."""
    return tuple((prefix, source) for prefix, source in pairs
                 if source != prefix and any(under(u, prefix) for u in urls))


def upstreams(f: Factory, installs: SiteInstalls, vendor_root: Path, aws_root: Path,
              archive: str) -> tuple[tuple[str, str], ...]:
    """`--from` pairs: each upstream URL prefix the site's repositories and downloads (`installs`) are under, and
    the stand-in that serves the same paths (`archive`: where the Debian archive is read; `aws_root`: the SSM
    agent's bucket and the signing helper's releases, in folders of their names)."""
    region = f.sovereignty.region
    debian = OS_ARCHIVES["Debian", installs.arch]
    return _used(((debian, archive), (NVIDIA_DOWNLOADS, str(vendor_root / "nvidia")),
                  (MELLANOX_REPO, str(vendor_root / "nvidia")), (NEURON_REPO, str(vendor_root / "neuron")),
                  (f"https://s3.{region}.amazonaws.com/amazon-ssm-{region}", str(aws_root / "ssm")),
                  (SIGNING_HELPER_RELEASES, str(aws_root / "releases"))),
                 [*(r.url for r in installs.repositories), *(d.url for d in installs.downloads)])


def site_packages(f: Factory, vendor_root: Path, arch: str) -> list[Path]:
    """`--site-package` files: the stand-in of each package the site builds itself (nccl-tests), as the stand-in
    CUDA pool holds it (its version names it a stand-in)."""
    return [vendor_repos.cuda_package(vendor_root, wanted.name, arch) for wanted in site_built.wanted(f)]


def with_stand_in_helper(f: Factory) -> Factory:
    """The site with the lab's signing helper stand-in as its release (identity.signing_helper), so that the
    bundle's pinned SHA-256 is the stand-in's: `mirror build` refuses any other file."""
    release = aws.signing_helper_release()
    helper = SigningHelper(version=release["aws_node_identity_signing_helper_version"],
                           sha256=release["aws_node_identity_signing_helper_sha256"][f.platform.cpu_architecture.value])
    return f.model_copy(update={"identity": f.identity.model_copy(update={"signing_helper": helper})})


def keyrings(installs: SiteInstalls, vendor_root: Path) -> tuple[tuple[str, Path], ...]:
    """`--upstream-keyring` pairs: Debian's archive key, and the lab's vendor key for the stand-ins."""
    vendor_key = vendor_root.parent / vendor_repos.KEY_FILE
    return _used(((OS_ARCHIVES["Debian", installs.arch], DEBIAN_KEYRING), (NVIDIA_DOWNLOADS, vendor_key),
                  (MELLANOX_REPO, vendor_key), (NEURON_REPO, vendor_key)), [r.url for r in installs.repositories])


def cache_key(installs: SiteInstalls, vendor_root: Path) -> str:
    """Changes with what the site's nodes install, the stand-in upstreams and the builder."""
    digest = hashlib.sha256(repr(installs).encode())
    digest.update(f"{vendor_root}\n{base.configured_mirror()}\n".encode())
    for source in (Path(__file__), Path(aws.__file__), aws.STAND_IN_TOOLS / "amazon-ssm-agent",
                   aws.STAND_IN_TOOLS / aws.SIGNING_HELPER,
                   *sorted(SOURCES.glob("*.py"))):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


def _aifactory(*args: str, log: Path, refused: str = "") -> subprocess.CompletedProcess:
    """Run an aifactory command as a user would, its output appended to `log`; BundleError when it fails, its
    last errors quoted (after `refused`, or `aifactory <command> exited N`)."""
    result = subprocess.run([sys.executable, "-m", "aifactory.cli", *args], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL)
    with log.open("a") as out:
        out.write(f"$ aifactory {' '.join(args)}\n{result.stdout}{result.stderr}(exit {result.returncode})\n")
    if result.returncode != 0:
        raise BundleError(f"{refused or f'aifactory {args[0]} {args[1]} exited {result.returncode}'}: "
                          f"{_last_error(result.stderr)} (see {log})")
    return result


def _site_copy(f: Factory, key: ed25519.Ed25519PrivateKey, dest: Path) -> Path:
    """The site's inventory copied to `dest`, its spec naming the bundle's mirror key (public half and keyring)."""
    shutil.copytree(f.site_dir, dest, ignore=shutil.ignore_patterns(".*"))
    spec_file = dest / "factory.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec.setdefault("software", {})["mirror_public_key_file"] = PUBLIC_KEY
    spec["identity"]["signing_helper"] = f.identity.signing_helper.model_dump()
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (dest / PUBLIC_KEY).write_bytes(public)
    (dest / PUBLIC_KEY).with_suffix(".gpg").write_bytes(openpgp.keyring(key, f.name))
    return dest


def _build(f: Factory, installs: SiteInstalls, building: Path, vendor_root: Path, log: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    _site_copy(f, key, building / "site")
    aws_root = building / "upstream-aws"
    agent = aws_root / "ssm" / "latest" / f"debian_{installs.arch}" / aws.SSM_AGENT_DEB
    agent.parent.mkdir(parents=True)
    aws.build_ssm_agent_deb(agent)
    aws.signing_helper_releases(aws_root / "releases")
    own = [a for path in site_packages(f, vendor_root, installs.arch) for a in ("--site-package", str(path))]
    secret = building / ".mirror-key"  # root-only; removed below, or with the half-built tree by the next build
    secret.mkdir(mode=0o700)
    try:
        with archive_cache.serving(base.configured_mirror()) as archive:
            sources = [a for prefix, source in upstreams(f, installs, vendor_root, aws_root, archive)
                       for a in ("--from", f"{prefix}={source}")]
            signing_key = secret / "mirror-key.pem"
            signing_key.touch(mode=0o600)
            signing_key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
            _aifactory("mirror", "build", str(building / "site"), "--out", str(building / "bundle"),
                       "--signing-key", str(signing_key), *sources, *own,
                       *(a for prefix, ring in keyrings(installs, vendor_root)
                         for a in ("--upstream-keyring", f"{prefix}={ring}")), log=log)
            shutil.rmtree(secret)  # the bundle is signed: the private half is no longer needed
            sbom = _aifactory("mirror", "bom", str(building / "site"), "--format", "cyclonedx", *sources, *own,
                              log=log)
            (building / BOM).write_text(sbom.stdout)
    finally:
        shutil.rmtree(secret, ignore_errors=True)
        shutil.rmtree(aws_root, ignore_errors=True)


def _last_error(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith(("error:", "refused:"))]
    return "; ".join(lines[-3:]) or (stderr.strip().splitlines() or ["no output"])[-1]


def ensure(f: Factory, vendor_root: Path, progress: Callable[[str], None] = print) -> Path:
    """The cached bundle's folder (bundle/ the served tree, site/ the spec copy that names its key), built first
    by `aifactory mirror build` when absent."""
    f = with_stand_in_helper(f)
    installs = site_installs(f)
    top = base.CACHE_ROOT / f"bundle-{f.name}-{cache_key(installs, vendor_root)}"
    if (top / ".aifactory-complete").exists():
        progress(f"mirror bundle: cached at {top}")
        return top
    building = top.with_name(top.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    log = top.with_name(top.name + ".log")
    log.write_text("")
    progress(f"mirror bundle: aifactory mirror build {f.name} from the lab's stand-in upstreams (log {log}; once)")
    _build(f, installs, building, vendor_root, log)
    (building / ".aifactory-complete").write_text(f.name + "\n")
    building.rename(top)
    progress(f"mirror bundle: built {top / 'bundle'}, {_summary(top)}")
    return top


def verify(top: Path, log: Path) -> str:
    """`aifactory mirror verify` of the cached bundle, as the air-gapped side runs it before serving; its
    verdict line, or BundleError with its reasons."""
    return _aifactory("mirror", "verify", str(top / "site"), str(top / "bundle"), log=log,
                      refused=f"aifactory mirror verify refused the lab's bundle {top / 'bundle'}, which is not "
                              "served").stdout.strip()


def start(state: LabState, top: Path, address: str) -> str:
    """Serve the bundle on `address` (the lab bridge's gateway), as a site's mirror host serves it; its URL."""
    return procs.serve_directory(state, "mirror bundle", top / "bundle", address, state.dir / "bundle" / "http.log",
                                 keyring_path(state.site))


def role_vars_of(top: Path, url: str) -> dict:
    """The role variables that point the nodes at the bundle served at `url`: those of the site whose mirrors
    are the bundle's folders there and whose mirror key is the bundle's (node.role_vars, as on any site) that
    differ from the site's own; and the SSM agent's checksum as the bundle's manifest records it."""
    site = load_spec(top / "site")
    mirrors = site.software.mirrors.model_copy(update={"apt": f"{url}/apt", "nvidia": f"{url}/nvidia",
                                                        "neuron": f"{url}/neuron"})
    served = site.model_copy(update={"software": site.software.model_copy(update={"mirrors": mirrors})})
    unserved = site.model_copy(update={"software": site.software.model_copy(update={"mirror_public_key_file": None})})
    here, before = role_vars(served, {}), role_vars(unserved, {})
    out = {name: value for name, value in here.items() if before.get(name) != value}
    agent = SSM_AGENT_ON_MIRROR.format(arch=site.platform.cpu_architecture.debian)
    for download in manifest.read(top / "bundle").get("downloads", []):
        if download.get("path") == f"apt/{agent}":
            out["aws_node_identity_ssm_agent_checksum"] = f"sha256:{download['sha256']}"
    return out


def _summary(top: Path) -> str:
    """The built bundle in a few words, from its manifest: files, size."""
    files = manifest.read(top / "bundle").get("files", [])
    return f"{len(files)} files, {sum(e.get('size', 0) for e in files) // (1024 * 1024)} MiB, signed"
