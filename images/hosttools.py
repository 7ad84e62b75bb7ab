"""The command-line tools the suite runs on the host: kind, kubectl, kustomize, actionlint.

On the source path they are built here from their Go modules (pinned in versions.toml);
on the public path the released binaries of the same versions are downloaded once, except
actionlint, which is built from its Go module on both paths.
"""

import io
import stat
import tarfile
import urllib.request
from pathlib import Path

from images import gobuild, programs
from images.cache import cache_dir
from images.pins import pins


def kind(image_path: str) -> Path:
    version = pins()["kind"]["version"]
    if image_path == "source":
        return gobuild.build(programs.kind()) / "kind"
    return _download(
        f"https://github.com/kubernetes-sigs/kind/releases/download/{version}/kind-linux-amd64",
        f"kind-{version}",
    )


def kubectl(image_path: str) -> Path:
    version = pins()["kubernetes"]["version"]
    if image_path == "source":
        return gobuild.build(programs.kubernetes()) / "kubectl"
    return _download(
        f"https://dl.k8s.io/release/{version}/bin/linux/amd64/kubectl", f"kubectl-{version}"
    )


def kustomize(image_path: str) -> Path:
    tool = pins()["tools"]["kustomize"]
    if image_path == "source":
        return gobuild.build(programs.kustomize(tool["version"], tool["go"])) / "kustomize"
    version = tool["version"]
    return _download(
        "https://github.com/kubernetes-sigs/kustomize/releases/download/"
        f"kustomize%2F{version}/kustomize_{version}_linux_amd64.tar.gz",
        f"kustomize-{version}",
        member="kustomize",
    )


def actionlint(image_path: str) -> Path:
    tool = pins()["tools"]["actionlint"]
    program = programs.actionlint(tool["version"], tool["go"])
    if image_path == "source":
        return gobuild.build(program) / "actionlint"
    # The builder container needs the Debian base (debootstrap, as root), which a pull
    # request's runner does not have; actionlint is pure Go, so build it on the host.
    return gobuild.build(program, on_host=True) / "actionlint"


def _download(url: str, name: str, member: str | None = None) -> Path:
    target = cache_dir("bin") / name
    if target.exists():
        return target
    with urllib.request.urlopen(url, timeout=120) as response:
        payload = response.read()
    if member:
        with tarfile.open(fileobj=io.BytesIO(payload)) as archive:
            extracted = archive.extractfile(member)
            assert extracted is not None, f"{member} not in {url}"
            payload = extracted.read()
    partial = target.with_suffix(".partial")
    partial.write_bytes(payload)
    partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    partial.rename(target)
    return target
