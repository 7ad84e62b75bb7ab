"""The Docker engine, through the docker SDK: build, run, import, all logged to a file."""

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import docker
import docker.errors

from images import progress
from images.cache import cache_dir, log_file
from images.errors import BuildError

RECIPE_LABEL = "io.argocd-migration-e2e.recipe"
RACY_NS = 3_000_000_000


@cache
def client() -> docker.DockerClient:
    try:
        engine = docker.from_env(timeout=600)
        engine.ping()
    except docker.errors.DockerException as err:
        raise BuildError("docker", f"Docker is not running or not reachable: {err}") from None
    return engine


def recipe_digest(*inputs: Any) -> str:
    """A short digest of everything an image is built from; a new digest means a rebuild."""
    blob = json.dumps(inputs, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def digest_files(paths: Iterable[Path]) -> str:
    """The digest of the files' names and contents; remembered by their size, mtime and
    inode, since every session (and every worker) asks again for the same few hundred MB
    of binaries the node image is made from, which took seconds of CPU each time."""
    ordered = sorted(paths)
    identities = [_identity(path) for path in ordered]
    key = hashlib.sha256(json.dumps(identities).encode()).hexdigest()
    remembered = cache_dir("file-digests") / key
    if remembered.is_file():
        return remembered.read_text()
    h = hashlib.sha256()
    for path in ordered:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    digest = h.hexdigest()[:16]
    # As git does with its index: a file changed within the last seconds could change
    # again without its mtime moving (a clock tick is milliseconds), so it is not trusted.
    settled = time.time_ns() - RACY_NS
    if all(mtime < settled for _, _, mtime, _ in identities):
        partial = remembered.with_suffix(f".{os.getpid()}")
        partial.write_text(digest)
        partial.replace(remembered)  # atomic: a concurrent reader sees all of it or nothing
    return digest


def _identity(path: Path) -> tuple[str, int, int, int]:
    """What changes when a file's content does (short of rewriting it within a nanosecond)."""
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino


def is_current(tag: str, recipe: str) -> bool:
    """True when `tag` exists and was built from this very recipe."""
    try:
        image = client().images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return (image.labels or {}).get(RECIPE_LABEL) == recipe


def has_image(tag: str) -> bool:
    try:
        client().images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def build(
    tag: str,
    context: Path,
    recipe: str,
    *,
    buildargs: Mapping[str, str] | None = None,
    extra_tags: Iterable[str] = (),
    step: str | None = None,
) -> str:
    """`docker build` of `context`, labelled with its recipe; a failure tags nothing."""
    step = step or f"build {tag}"
    log = log_file(step)
    replaced = previous_id(tag)
    with progress.step(step, log), log.open("w") as out:
        try:
            stream = client().api.build(
                path=str(context),
                tag=tag,
                buildargs=dict(buildargs or {}),
                labels={RECIPE_LABEL: recipe},
                rm=True,
                forcerm=True,
                decode=True,
            )
            for chunk in stream:
                if "stream" in chunk:
                    out.write(chunk["stream"])
                    out.flush()
                if "error" in chunk:
                    out.write(chunk["error"] + "\n")
                    raise BuildError(step, chunk["error"].strip().splitlines()[-1], log)
        except docker.errors.APIError as err:
            raise BuildError(step, str(err), log) from None
    for extra in extra_tags:
        retag(tag, extra)
    drop_if_dangling(replaced)
    return tag


def retag(source: str, target: str) -> None:
    repository, _, version = target.rpartition(":")
    client().images.get(source).tag(repository, version)


def run(
    image: str,
    command: list[str],
    *,
    step: str,
    volumes: Mapping[str, Mapping[str, str]] | None = None,
    environment: Mapping[str, str] | None = None,
    workdir: str | None = None,
) -> None:
    """Run a throwaway container to completion; its output goes to the step's log."""
    log = log_file(step)
    with progress.step(step, log):
        container = client().containers.run(
            image,
            command,
            volumes=dict(volumes or {}),
            environment=dict(environment or {}),
            working_dir=workdir,
            detach=True,
        )
        try:
            with log.open("wb") as out:
                for line in container.logs(stream=True, follow=True):
                    out.write(line)
                    out.flush()  # the heartbeat reads the log's last line
            status = container.wait()["StatusCode"]
        finally:
            container.remove(force=True, v=True)  # and its anonymous volumes too
        if status != 0:
            last = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise BuildError(step, f"exit status {status}: {last[0][:300]}", log)


def import_rootfs(tarball: Path, tag: str, recipe: str, changes: Iterable[str] = ()) -> str:
    """`docker import` a root filesystem tarball as `tag`."""
    repository, _, version = tag.rpartition(":")
    client().api.import_image_from_file(
        str(tarball),
        repository=repository,
        tag=version,
        changes=[*changes, f"LABEL {RECIPE_LABEL}={recipe}"],
    )
    return tag


def save(tarball: Path, *tags: str) -> Path:
    """`docker save` images into one tarball (the input of `ctr images import`): layers
    they share are written once. The CLI, as kind uses it: the SDK saves one image."""
    partial = tarball.with_suffix(".partial")
    subprocess.run(["docker", "save", "--output", str(partial), *tags], check=True)
    partial.rename(tarball)
    return tarball


def previous_id(tag: str) -> str | None:
    try:
        return client().images.get(tag).id
    except docker.errors.ImageNotFound:
        return None


def drop_if_dangling(image_id: str | None) -> None:
    """Remove an image a rebuild untagged (a node image is 1.5 GB, a preloaded one 3.6 GB);
    keep it if still tagged or used by a container. Ones kept earlier because a cluster's
    node still ran them go too once nothing uses them, and so do the earlier stages of a
    multi-stage build, which Docker's builder keeps untagged (the app's build stage: 349 MB
    each time the app is built, a first build too)."""
    try:
        if image_id and not client().images.get(image_id).tags:
            client().images.remove(image_id)
    except docker.errors.APIError:
        pass  # in use (a running kind node, a build's parent): Docker keeps it
    client().images.prune(filters={"dangling": True, "label": RECIPE_LABEL})
