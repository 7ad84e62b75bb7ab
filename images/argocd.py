"""Argo CD's image for one release, built from its Go module, and Redis beside it.

Building from the module is also what lets users run the suite against a release
candidate or a branch before they upgrade, which no public image gives them.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from images import gobuild, programs
from images.dockerfiles import dockerfile_image
from images.errors import BuildError
from images.pins import argocd_release

MODULE = "github.com/argoproj/argo-cd/v3"


@dataclass(frozen=True)
class ArgoCDImages:
    version: str
    argocd: str
    redis: str
    install_manifest: Path


def source(version: str) -> Path:
    return gobuild.module_dir(MODULE, version)


def kustomize_version(version: str) -> str:
    """The kustomize the release ships with, from its own hack/tool-versions.sh."""
    text = (source(version) / "hack/tool-versions.sh").read_text()
    found = re.search(r"^(?:KUSTOMIZE_VERSION|kustomize5_version)=(\S+)", text, re.M)
    if not found:
        raise BuildError(f"argocd {version}", "no kustomize version in hack/tool-versions.sh")
    return "v" + found.group(1).lstrip("v")


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
    release = argocd_release(version)
    argocd_bin = gobuild.build(programs.argocd(version)) / "cmd"
    kustomize_at = release.get("kustomize") or kustomize_version(version)
    kustomize = gobuild.build(programs.kustomize(kustomize_at, release["go"]))
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
