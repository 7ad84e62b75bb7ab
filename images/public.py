"""The public path: released binaries and public images, fetched as a user's machine
fetches them, from their publishers or through the mirrors a team's CI pulls through.

A registry mirror (`--registry-mirror URL`, e.g. a Harbor, Artifactory or Nexus
pull-through cache, or a local `distribution` registry) holds each upstream registry's
images under the registry's name: `quay.io/argoproj/argocd:v3.6.1` is pulled as
`<URL>/quay.io/argoproj/argocd:v3.6.1`. A download mirror (`--download-mirror URL`)
holds each file under its host and path: `https://dl.k8s.io/release/...` is fetched as
`<URL>/dl.k8s.io/release/...`. Every download is checked against its publisher's
checksum (or a pinned one) before it is used.
"""

import hashlib
import os
import platform
import socket
import stat
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import docker.errors

from images import engine, progress
from images.cache import cache_dir
from images.errors import BuildError

REGISTRY_MIRROR_ENV = "ARGOCD_MIGRATION_E2E_REGISTRY_MIRROR"
DOWNLOAD_MIRROR_ENV = "ARGOCD_MIGRATION_E2E_DOWNLOAD_MIRROR"

# What the public path pulls from: image registries (where their API answers) ...
REGISTRIES = {
    "docker.io": "registry-1.docker.io",
    "quay.io": "quay.io",
    "public.ecr.aws": "public.ecr.aws",
    "registry.k8s.io": "registry.k8s.io",
}
# ... and download hosts (kind, kustomize and Argo CD's manifest on GitHub, kubectl on dl.k8s.io).
DOWNLOAD_HOSTS = ("github.com", "raw.githubusercontent.com", "dl.k8s.io")

ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def architecture() -> str:
    """This machine's architecture as Go and release file names spell it."""
    machine = platform.machine().lower()
    if machine not in ARCHITECTURES:
        raise BuildError("architecture", f"{machine} is not supported (amd64 or arm64 only)")
    return ARCHITECTURES[machine]


def registry_mirror() -> str | None:
    return os.environ.get(REGISTRY_MIRROR_ENV) or None


def download_mirror() -> str | None:
    return os.environ.get(DOWNLOAD_MIRROR_ENV) or None


# -- downloads ---------------------------------------------------------------------------


def through_mirror(url: str) -> str:
    """Where `url` is fetched from: itself, or its place on the download mirror."""
    mirror = download_mirror()
    if not mirror:
        return url
    parts = urllib.parse.urlsplit(url)
    return f"{mirror.rstrip('/')}/{parts.netloc}{parts.path}"


def fetch(url: str, timeout: float = 120) -> bytes:
    """The bytes at `url` (through the download mirror); a failure is one line."""
    actual = through_mirror(url)
    try:
        with urllib.request.urlopen(actual, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as err:
        raise BuildError(f"download {actual}", f"HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise BuildError(f"download {actual}", f"unreachable: {reason}") from None


@dataclass(frozen=True)
class Checksum:
    """A file's SHA-256: pinned here, or published beside it by its maker."""

    sha256: str = ""  # pinned
    url: str = ""  # a published checksum file: a bare digest, or `<digest>  <name>` lines
    name: str = ""  # the file's name in that checksum file

    def expected(self) -> str:
        if self.sha256:
            return self.sha256
        for line in fetch(self.url).decode().splitlines():
            fields = line.split()
            if len(fields) == 1 or (len(fields) >= 2 and fields[1].lstrip("*") == self.name):
                return fields[0].lower()
        raise BuildError(f"checksum {self.url}", f"names no {self.name or 'digest'}")


def download(url: str, name: str, checksum: Checksum) -> Path:
    """`url`'s file, checked against `checksum`, kept in the cache as `name`."""
    target = cache_dir("downloads") / name
    if target.exists():
        return target
    with progress.step(f"download {through_mirror(url)}"):
        payload = fetch(url)
        expected = checksum.expected()
    actual = hashlib.sha256(payload).hexdigest()
    if actual != expected:
        raise BuildError(
            f"download {through_mirror(url)}",
            f"SHA-256 {actual} does not match {expected} ({checksum.url or 'pinned'})",
        )
    # A name of its own per process: two runs downloading at once do not share it.
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    partial.write_bytes(payload)
    partial.rename(target)
    return target


def executable(path: Path) -> Path:
    """A downloaded program, made runnable."""
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


# -- images ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageName:
    registry: str  # docker.io, quay.io, ...
    repository: str  # library/postgres, argoproj/argocd, ...
    tag: str
    digest: str = ""

    @classmethod
    def parse(cls, image: str) -> "ImageName":
        """`postgres:15-bookworm` is docker.io/library/postgres:15-bookworm, as Docker reads it."""
        name, _, digest = image.partition("@")
        slash = name.find("/")
        first = name[:slash] if slash > 0 else ""
        if first and ("." in first or ":" in first or first == "localhost"):
            registry, rest = first, name[slash + 1 :]
        else:
            registry, rest = "docker.io", name
        if registry == "docker.io" and "/" not in rest:
            rest = f"library/{rest}"
        repository, colon, tag = rest.rpartition(":")
        if not colon or "/" in tag:
            repository, tag = rest, "latest"
        return cls(registry, repository, tag, digest)

    def on(self, mirror: str) -> str:
        """This image's name on a registry mirror."""
        parts = urllib.parse.urlsplit(mirror if "//" in mirror else f"//{mirror}")
        prefix = f"{parts.netloc}{parts.path.rstrip('/')}"
        name = f"{prefix}/{self.registry}/{self.repository}:{self.tag}"
        return f"{name}@{self.digest}" if self.digest else name

    @property
    def short(self) -> str:
        """As Docker names it locally without a digest (`postgres:15-bookworm`)."""
        repository = self.repository.removeprefix("library/")
        if self.registry != "docker.io":
            repository = f"{self.registry}/{self.repository}"
        return f"{repository}:{self.tag}"


def pull(image: str) -> str:
    """`image` in this machine's Docker, pulled once (through the registry mirror), and the
    name to use it by: its own, or with a digest and a mirror, the mirror's."""
    wanted = ImageName.parse(image)
    mirror = registry_mirror()
    source = wanted.on(mirror) if mirror else image
    # Docker finds an image by digest only under the repository it was pulled from.
    local = source if wanted.digest else wanted.short
    if engine.has_image(local):
        return local
    name, _, digest = source.partition("@")
    repository, _, tag = name.rpartition(":")
    with progress.step(f"pull {source}"):
        try:
            pulled = engine.client().images.pull(repository, tag=digest or tag)
        except docker.errors.APIError as err:
            raise BuildError(f"pull {source}", str(err.explanation or err)) from None
    if source != local:
        local_repository, _, local_tag = local.rpartition(":")
        pulled.tag(local_repository, local_tag)
    return local


# -- reachability ------------------------------------------------------------------------


def needed_endpoints() -> list[tuple[str, int]]:
    """Where the public path connects to: the mirrors, or the publishers themselves (or an
    HTTPS proxy, which then does the connecting)."""
    proxy = urllib.request.getproxies().get("https")
    if proxy:
        parts = urllib.parse.urlsplit(proxy)
        return [(parts.hostname or "", parts.port or 443)]
    endpoints = []
    for mirror, upstream in (
        (registry_mirror(), list(REGISTRIES.values())),
        (download_mirror(), list(DOWNLOAD_HOSTS)),
    ):
        if mirror:
            parts = urllib.parse.urlsplit(mirror if "//" in mirror else f"//{mirror}")
            default = 80 if parts.scheme == "http" else 443
            endpoints.append((parts.hostname or "", parts.port or default))
        else:
            endpoints += [(host, 443) for host in upstream]
    return list(dict.fromkeys(endpoints))


def unreachable(timeout: float = 3.0) -> list[str]:
    """The endpoints of `needed_endpoints` that do not take a connection, probed at once."""

    def refuses(endpoint: tuple[str, int]) -> str | None:
        try:
            with socket.create_connection(endpoint, timeout=timeout):
                return None
        except OSError as err:
            return f"{endpoint[0]}:{endpoint[1]} ({err.strerror or err.__class__.__name__})"

    endpoints = needed_endpoints()
    with ThreadPoolExecutor(len(endpoints)) as pool:
        return [said for said in pool.map(refuses, endpoints) if said]
