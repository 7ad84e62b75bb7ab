"""Argo CD's image for one release, built from its Go module, and Redis beside it.

Building from the module is also what lets users run the suite against a release
candidate or a branch before they upgrade, which no public image gives them.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from images import argocd_refs, gobuild, programs
from images.dockerfiles import dockerfile_image
from images.errors import BuildError


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
    src = source(version)
    argocd = dockerfile_image(
        "argocd",
        version,
        files={
            "bin/argocd": argocd_bin,
            "bin/kustomize": kustomize / "kustomize",
            "scripts/entrypoint.sh": src / "entrypoint.sh",
            "scripts/gpg-wrapper.sh": src / "hack/gpg-wrapper.sh",
            "scripts/git-verify-wrapper.sh": src / "hack/git-verify-wrapper.sh",
        },
    )
    redis = dockerfile_image("redis", "bookworm")
    return ArgoCDImages(version, argocd, redis, src / "manifests/core-install.yaml")
