"""Argo CD's image for one release, built from its Go module, and Redis beside it.

Building from the module is also what lets users run the suite against a release
candidate or a branch before they upgrade, which no public image gives them.
"""

import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from images import argocd_refs, gobuild, programs, progress, public
from images.cache import cache_dir
from images.dockerfiles import dockerfile_image
from images.errors import BuildError
from images.pins import pins
from images.public import Checksum


@dataclass(frozen=True)
class ArgoCDImages:
    version: str
    argocd: str
    redis: str
    install_manifest: Path


def source(version: str) -> Path:
    return gobuild.module_dir(argocd_refs.MODULE, version)


def public_images(version: str) -> dict[str, str]:
    """The image names the release's core-install.yaml uses (to be rewritten)."""
    manifest = (source(version) / "manifests/core-install.yaml").read_text()
    names = set(re.findall(r"^\s+image: (\S+)$", manifest, re.M))
    redis = next((n for n in names if "/redis:" in n), None)
    argocd = next((n for n in names if "/argocd:" in n), None)
    if not (redis and argocd):
        raise BuildError(f"argocd {version}", f"unexpected images in core-install.yaml: {names}")
    return {"argocd": argocd, "redis": redis}


def images(version: str) -> ArgoCDImages:
    release = argocd_refs.release(version)
    argocd_bin = gobuild.build(programs.argocd(version)) / "cmd"
    kustomize = gobuild.build(programs.kustomize(release.kustomize, release.go))
    helm = gobuild.build(programs.helm(release.helm, release.go))
    src = source(version)
    argocd = dockerfile_image(
        "argocd",
        version,
        files={
            "bin/argocd": argocd_bin,
            "bin/kustomize": kustomize / "kustomize",
            # Where the release's Dockerfile copies it, /usr/local/bin/helm (v3.6.1's line 66,
            # v3.5.1's line 60), at the version its hack/tool-versions.sh names (versions.toml).
            "bin/helm": helm / "helm",
            "scripts/entrypoint.sh": src / "entrypoint.sh",
            "scripts/gpg-wrapper.sh": src / "hack/gpg-wrapper.sh",
            "scripts/git-verify-wrapper.sh": src / "hack/git-verify-wrapper.sh",
        },
    )
    redis = dockerfile_image("redis", "bookworm")
    return ArgoCDImages(version, argocd, redis, src / "manifests/core-install.yaml")


# Release tags have a CLI among their release files; a branch or commit has none.
RELEASE_TAG = re.compile(r"^v\d+\.\d+\.\d+(-rc\d+)?$")


def cli(version: str, image_path: str) -> Path:
    """The `argocd` CLI of the same Argo CD the session installs, which is what lets the
    suite drive Argo CD as users do. On the source path it is the binary the image was
    built from (the CLI is the same multi-call binary); on the public path the release's
    own, checked against the release's cli_checksums.txt, or, for a branch or commit, built
    on the host from the Go module (pure Go: no builder image)."""
    if image_path == "source":
        return gobuild.build(programs.argocd(version)) / "cmd"
    if not RELEASE_TAG.match(version):
        ref = argocd_refs.release(version).version
        return gobuild.build(programs.argocd(ref), on_host=True) / "cmd"
    name = f"argocd-linux-{public.architecture()}"
    release = f"https://github.com/argoproj/argo-cd/releases/download/{version}"
    return public.executable(
        public.download(
            f"{release}/{name}",
            f"argocd-{version}-{public.architecture()}",
            Checksum(url=f"{release}/cli_checksums.txt", name=name),
        )
    )


def cli_environment() -> dict[str, str]:
    """The multi-call binary picks its component by name: whatever the file is called,
    this makes it the CLI."""
    return {**os.environ, "ARGOCD_BINARY_NAME": "argocd"}


def manifest_url(version: str) -> str:
    """A release's core-install.yaml as its docs install it: the file at the release's tag
    (releases publish no manifest of their own); for a branch, the branch's."""
    return (
        f"https://raw.githubusercontent.com/argoproj/argo-cd/{version}/manifests/core-install.yaml"
    )


def public_manifest(version: str) -> Path:
    """The release's core-install.yaml (public path). A pinned release's is checked against
    its pinned digest and kept; anything else (a branch moves, an unpinned tag has no
    digest to check) is fetched again for each session."""
    pinned = pins()["argocd"]["releases"].get(version, {}).get("core_install_sha256")
    if pinned:
        return public.download(
            manifest_url(version), f"core-install-{version}.yaml", Checksum(sha256=pinned)
        )
    progress.say(f"Argo CD {version} is not pinned in versions.toml: its manifest is unchecked")
    target = cache_dir("tmp") / f"core-install-{version.replace('/', '-')}.yaml"
    target.write_bytes(public.fetch(manifest_url(version)))
    return target


def check_public_release(version: str) -> None:
    """At once, not after the cluster is up: a version the public path cannot install
    (no manifest at that tag or branch) fails in one line."""
    if version in pins()["argocd"]["releases"]:
        return
    url = public.through_mirror(manifest_url(version))
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=20).close()
    except urllib.error.HTTPError as err:
        pinned = ", ".join(argocd_refs.pinned_versions())
        raise BuildError(
            "argocd version",
            f"{version!r} is neither pinned in versions.toml ({pinned}) nor a tag or branch of "
            f"argoproj/argo-cd ({url}: HTTP {err.code})",
        ) from None
    except (urllib.error.URLError, OSError) as err:
        raise BuildError("argocd version", f"{url} is unreachable: {err}") from None
