"""The command-line tools the suite runs on the host: kind, kubectl, kustomize, helm,
actionlint.

On the source path they are built here from their Go modules (pinned in versions.toml);
on the public path the released binaries of the same versions are downloaded once and
checked against the checksums their makers publish, except helm and actionlint, which are
built from their Go modules on both paths.
"""

import io
import os
import tarfile
from pathlib import Path

from images import gobuild, programs, public
from images.gobuild import GoProgram
from images.pins import pins
from images.public import Checksum


def kind(image_path: str) -> Path:
    if image_path == "source":
        return gobuild.build(programs.kind()) / "kind"
    version, arch = pins()["kind"]["version"], public.architecture()
    name = f"kind-linux-{arch}"
    url = f"https://github.com/kubernetes-sigs/kind/releases/download/{version}/{name}"
    return public.executable(
        public.download(url, f"kind-{version}-{arch}", Checksum(url=f"{url}.sha256sum", name=name))
    )


def kubectl(image_path: str) -> Path:
    """On the source path, from the whole Kubernetes build when the node image was built
    here (it is there already), else built alone (a node image given by --kind-image
    would otherwise cost all of Kubernetes for one binary)."""
    if image_path == "source":
        return gobuild.build(kubectl_program()) / "kubectl"
    version, arch = pins()["kubernetes"]["version"], public.architecture()
    url = f"https://dl.k8s.io/release/{version}/bin/linux/{arch}/kubectl"
    return public.executable(
        public.download(url, f"kubectl-{version}-{arch}", Checksum(url=f"{url}.sha256"))
    )


def kubectl_program() -> GoProgram:
    whole = programs.kubernetes()
    return whole if gobuild.is_built(whole) else programs.kubectl()


def kustomize(image_path: str) -> Path:
    tool = pins()["tools"]["kustomize"]
    if image_path == "source":
        return gobuild.build(programs.kustomize(tool["version"], tool["go"])) / "kustomize"
    version, arch = tool["version"], public.architecture()
    release = (
        f"https://github.com/kubernetes-sigs/kustomize/releases/download/kustomize%2F{version}"
    )
    asset = f"kustomize_{version}_linux_{arch}.tar.gz"
    archive = public.download(
        f"{release}/{asset}",
        f"{asset}",
        Checksum(url=f"{release}/checksums.txt", name=asset),
    )
    binary = archive.with_name(f"kustomize-{version}-{arch}")
    if not binary.exists():
        with tarfile.open(fileobj=io.BytesIO(archive.read_bytes())) as tar:
            member = tar.extractfile("kustomize")
            assert member is not None, f"no kustomize in {archive}"
            partial = binary.with_name(f"{binary.name}.{os.getpid()}.partial")
            partial.write_bytes(member.read())
            partial.rename(binary)
    return public.executable(binary)


def helm(image_path: str) -> Path:
    """The Helm that renders the chart as Helm itself would, built from its Go module: on
    the source path the very build the default Argo CD image carries (the same recipe, so
    one build), on the public path on the host, as actionlint (pure Go, no builder image)."""
    tool = pins()["tools"]["helm"]
    program = programs.helm(tool["version"], tool["go"])
    return gobuild.build(program, on_host=image_path != "source") / "helm"


def actionlint(image_path: str) -> Path:
    tool = pins()["tools"]["actionlint"]
    program = programs.actionlint(tool["version"], tool["go"])
    if image_path == "source":
        return gobuild.build(program) / "actionlint"
    # The builder container needs the Debian base (debootstrap, as root), which a pull
    # request's runner does not have; actionlint is pure Go, so build it on the host.
    return gobuild.build(program, on_host=True) / "actionlint"
