"""The public path, rehearsed on a machine that reaches no registry and no GitHub.

`python -m e2e.rehearsal [pytest args]` stands up what a public run fetches from, with
real parts on this machine's loopback: the CNCF `distribution` registry (built from its Go
module) holding the images built here under their public names, and a file server holding
the release files (kind, kubectl, kustomize, Argo CD's core-install.yaml) at their public
paths with their checksum files. Then it runs the e2e suite with `--images=public` through
them (`--registry-mirror`, `--download-mirror`), as a team whose CI pulls through a
pull-through cache would. What the public path pulls or downloads on the host is removed
first, so each rehearsal fetches it again through the mirrors; the nodes of its new
cluster pull the rest through the registry, as they would from Docker Hub or quay.io.
"""

import argparse
import contextlib
import functools
import hashlib
import http.server
import io
import os
import shutil
import sys
import tarfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import docker.errors

from e2e.waits import Outcome, pending, succeeded, wait_until
from images import (
    argocd,
    argocd_refs,
    debian,
    engine,
    gobuild,
    hosttools,
    kind_node,
    programs,
    progress,
    public,
    upstream,
    workloads,
)
from images import session as session_images
from images.cache import cache_dir
from images.dockerfiles import dockerfile_image
from images.errors import BuildError, as_command
from images.pins import pins
from images.public import DOWNLOAD_MIRROR_ENV, REGISTRY_MIRROR_ENV, ImageName
from suite import run

REGISTRY_CONTAINER = "migration-e2e-registry"
CLUSTER = "migration-e2e-public"
# Images the public run builds (the app's releases, the Git server) get a prefix of their
# own: on the public Python base, they would otherwise replace the source path's.
IMAGE_PREFIX = "migration-e2e-public.local"
# The scenarios every rehearsal runs: the post's claims, the failure and the seed's script.
SCENARIOS = (
    "node_is_ready or first_deploy or every_sync_recreates or failing_migration_keeps "
    "or seed_script"
)


def registry_image() -> str:
    binary = gobuild.build(programs.registry()) / "registry"
    return dockerfile_image(
        "registry", pins()["rehearsal"]["registry"], files={"bin/registry": binary}
    )


def public_images(argocd_versions: list[str]) -> dict[str, str]:
    """Public name -> the image built here that stands in for it."""
    kubernetes = pins()["kubernetes"]["version"]
    names = pins()["workloads"]
    images = {
        f"kindest/node:{kubernetes}": kind_node.node_image(),
        names["postgres_public"]: workloads.postgres(),
        names["python_public"]: workloads.python_base(),
        names["debian_public"]: debian.base_image(),
    }
    for version in argocd_versions:
        built, released = argocd.images(version), argocd.public_images(version)
        images[released["argocd"]] = built.argocd
        images[released["redis"]] = built.redis
    return images


def release_files(argocd_versions: list[str], root: Path) -> None:
    """The files a public run downloads, at their public hosts and paths, with the
    checksum files their makers publish beside them."""
    arch = public.architecture()  # what this machine builds
    kind_version = pins()["kind"]["version"]
    kubernetes = pins()["kubernetes"]["version"]
    kustomize = pins()["tools"]["kustomize"]["version"]

    def put(path: str, payload: bytes) -> None:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(payload)

    kind = hosttools.kind("source").read_bytes()
    kind_path = f"github.com/kubernetes-sigs/kind/releases/download/{kind_version}"
    put(f"{kind_path}/kind-linux-{arch}", kind)
    put(f"{kind_path}/kind-linux-{arch}.sha256sum", _sum_line(kind, f"kind-linux-{arch}"))
    kubectl = hosttools.kubectl("source").read_bytes()
    kubectl_path = f"dl.k8s.io/release/{kubernetes}/bin/linux/{arch}/kubectl"
    put(kubectl_path, kubectl)
    put(f"{kubectl_path}.sha256", hashlib.sha256(kubectl).hexdigest().encode())
    asset = f"kustomize_{kustomize}_linux_{arch}.tar.gz"
    archive = _tarball("kustomize", hosttools.kustomize("source").read_bytes())
    kustomize_path = f"github.com/kubernetes-sigs/kustomize/releases/download/kustomize/{kustomize}"
    put(f"{kustomize_path}/{asset}", archive)
    put(f"{kustomize_path}/checksums.txt", _sum_line(archive, asset))
    for version in argocd_versions:
        manifest = argocd.source(version) / "manifests/core-install.yaml"
        put(f"raw.githubusercontent.com/argoproj/argo-cd/{version}/manifests/core-install.yaml",
            manifest.read_bytes())  # fmt: skip
        cli, name = argocd.cli(version, "source").read_bytes(), f"argocd-linux-{arch}"
        cli_path = f"github.com/argoproj/argo-cd/releases/download/{version}"
        put(f"{cli_path}/{name}", cli)
        put(f"{cli_path}/cli_checksums.txt", _sum_line(cli, name))


def _sum_line(payload: bytes, name: str) -> bytes:
    return f"{hashlib.sha256(payload).hexdigest()}  {name}\n".encode()


def _tarball(name: str, payload: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(payload), 0o755
        tar.addfile(info, io.BytesIO(payload))
    return out.getvalue()


@contextlib.contextmanager
def registry(storage: Path) -> Iterator[str]:
    """The registry as a container on this machine's loopback, its storage kept in the
    cache (so a rehearsal pushes only what changed); yields its URL."""
    with contextlib.suppress(docker.errors.NotFound):
        engine.client().containers.get(REGISTRY_CONTAINER).remove(force=True, v=True)
    container = engine.client().containers.run(
        registry_image(),
        name=REGISTRY_CONTAINER,
        detach=True,
        ports={"5000/tcp": ("127.0.0.1", None)},
        volumes={str(storage): {"bind": "/var/lib/registry", "mode": "rw"}},
    )
    try:
        container.reload()
        url = f"http://localhost:{container.ports['5000/tcp'][0]['HostPort']}"
        wait_until(lambda: _answers(f"{url}/v2/"), 60, f"the registry to answer at {url}/v2/")
        yield url
    finally:
        container.remove(force=True, v=True)


def _answers(url: str) -> Outcome:
    """Docker's port proxy takes connections before the registry listens behind it."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return succeeded(f"{url}: HTTP {response.status}")
    except (urllib.error.URLError, OSError) as err:
        return pending(f"{url} to answer, said {err}")


@contextlib.contextmanager
def file_server(root: Path) -> Iterator[str]:
    """A plain HTTP file server of `root` on loopback; yields its URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="file-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def push(images: dict[str, str], mirror: str) -> None:
    """Each image built here onto the registry under its public name."""
    for public_name, built in images.items():
        target = ImageName.parse(public_name).on(mirror)
        repository, _, tag = target.rpartition(":")
        with progress.step(f"push {built} as {target}"):
            engine.client().images.get(built).tag(repository, tag)
            try:
                pushed = engine.client().images.push(repository, tag, stream=True, decode=True)
                for chunk in pushed:
                    if "error" in chunk:
                        raise BuildError(f"push {target}", chunk["error"])
            finally:
                engine.client().images.remove(target)


def forget_public_names(images: dict[str, str]) -> None:
    """Untag what the public path pulls on the host, so it is pulled through the mirror
    again (the images stay under their source names)."""
    for public_name in images:
        # Not there, or the only name of an image a container still runs: then it stays.
        with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
            engine.client().images.remove(ImageName.parse(public_name).short)


def main(argv: list[str]) -> int:
    """`argv`: pytest's, for the public run; --gitops-engine-source is also read here,
    where the stand-ins for the releases' images are built from source."""
    given, _ = _rehearsal_options().parse_known_args(argv)
    if given.gitops_engine_source:
        os.environ[upstream.SOURCE_ENV] = upstream.absolute(given.gitops_engine_source)
    version = pins()["argocd"]["default"]
    # N-1 as the source path has it: the public run pulls what is built here
    upgrade_from = argocd_refs.upgrade_from(version, "source")
    versions = session_images.argocd_versions(version, upgrade_from)
    kubernetes = pins()["kubernetes"]["version"]
    work = cache_dir("rehearsal")
    cache = work / "cache"  # the public run's own cache: what it downloads lands here
    shutil.rmtree(cache / "downloads", ignore_errors=True)

    def rehearse() -> int:
        images = public_images(versions)
        files = work / "files"
        shutil.rmtree(files, ignore_errors=True)
        release_files(versions, files)
        forget_public_names(images)
        with (
            registry(cache_dir("rehearsal", "registry")) as mirror,
            file_server(files) as downloads,
        ):
            push(images, mirror)
            env = {
                **os.environ,
                "ARGOCD_MIGRATION_E2E_CACHE": str(cache),
                "ARGOCD_MIGRATION_E2E_IMAGE_PREFIX": IMAGE_PREFIX,
                REGISTRY_MIRROR_ENV: "",
                DOWNLOAD_MIRROR_ENV: "",
            }
            command = [
                sys.executable, "-m", "pytest", "e2e", "--images=public",
                f"--registry-mirror={mirror}", f"--download-mirror={downloads}",
                f"--kind-image=kindest/node:{kubernetes}", f"--cluster-name={CLUSTER}",
                "--junitxml=artifacts/junit-rehearsal.xml", "--artifacts-dir=artifacts/rehearsal",
                *([f"--upgrade-from={upgrade_from}"] if upgrade_from else []),
                "-k", SCENARIOS, *argv,
            ]  # fmt: skip
            progress.say(f"rehearsal: {' '.join(command[2:])}")
            return run(command, env=env)

    return as_command(rehearse)


def _rehearsal_options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--gitops-engine-source", default="")
    return parser


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
