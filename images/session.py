"""Every image an end-to-end session runs, in one place.

The session's fixtures load them from here, and on the source path the session's node
image holds them all; one list, so the two cannot drift apart. The set does not depend on
which tests are selected (the upgrade test's older Argo CD is always in it), or a narrower
session would remake the preloaded node image for the next full one.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from images import argocd, argocd_refs, hosttools, kind_node, progress, public, workloads
from images.pins import pins


@dataclass(frozen=True)
class SessionImages:
    source: bool  # built here from source, or the public images a node pulls itself
    argocd: tuple[argocd.ArgoCDImages, ...]  # source path only: the public ones are pulled
    git_server: str
    python: str  # the app's base, and the image of the pods that probe the cluster
    postgres: str
    app_releases: tuple[str, ...]

    def built_here(self) -> list[str]:
        """What a kind node cannot pull, so must be given (loaded or preloaded)."""
        if not self.source:
            return [self.git_server, *self.app_releases]
        return [
            *(image for built in self.argocd for image in (built.argocd, built.redis)),
            self.git_server,
            self.python,
            *self.app_releases,
            self.postgres,
        ]

    def argocd_release(self, version: str) -> argocd.ArgoCDImages:
        """The images of an Argo CD release, built here (source path)."""
        built = next((built for built in self.argocd if built.version == version), None)
        return built or argocd.images(version)


def argocd_versions(argocd_version: str, upgrade_from: str | None) -> list[str]:
    """The session's Argo CD and the one the upgrade test starts from."""
    return sorted({argocd_version, upgrade_from or argocd_version})


def build(source: bool, argocd_version: str, upgrade_from: str | None) -> SessionImages:
    """Builds (or finds cached) every image the session runs; `argocd_version` is the
    session's release, which the upgrade test reaches from `upgrade_from`."""
    if source:
        releases = tuple(argocd.images(v) for v in argocd_versions(argocd_version, upgrade_from))
        python, postgres = workloads.python_base(), workloads.postgres()
    else:
        releases = ()
        python = workloads.python_public()  # the app's base: pulled, the node pulls it too
        postgres = pins()["workloads"]["postgres_public"]  # the node pulls it
    git_server = workloads.git_server("source" if source else "public")
    return SessionImages(source, releases, git_server, python, postgres, app_releases(python))


def app_releases(base: str) -> tuple[str, ...]:
    """The app's releases, always built here, on `base`."""
    return tuple(app_release(r, base) for r in releases())


def preloaded_node(node: str, images: SessionImages) -> str:
    """`node` with every image of a session already in it (the source path's)."""
    return kind_node.with_images(node, images.built_here())


@dataclass(frozen=True)
class Target:
    """One thing a session needs built or downloaded, named as a user would name it."""

    name: str
    make: Callable[[], object]


def targets(
    image_path: str,
    argocd_version: str,
    upgrade_from: str | None,
    kind_image: str | None = None,
    *,
    new_cluster: bool = True,
) -> list[Target]:
    """Everything an e2e session builds or downloads, in the order it is made: what the
    controller makes before any worker starts, so a cold run shows its progress in one
    place and no worker waits on another's build. A session that reuses a cluster needs
    no node image."""
    source = image_path == "source"
    python = workloads.python_base if source else workloads.python_public
    plan = [Target(f"kind {pins()['kind']['version']}", lambda: hosttools.kind(image_path))]
    if source and not kind_image:  # before kubectl, which then comes from the same build
        version = pins()["kubernetes"]["version"]
        plan.append(Target(f"kind node image, Kubernetes {version}", kind_node.node_image))
    elif not source:
        node = kind_image or workloads.node_public()
        plan.append(Target(f"kind node image {node}", lambda: public.pull(node)))
    plan += [
        Target(f"kubectl {pins()['kubernetes']['version']}", lambda: hosttools.kubectl(image_path)),
        Target(
            f"kustomize {pins()['tools']['kustomize']['version']}",
            lambda: hosttools.kustomize(image_path),
        ),
    ]
    if source:
        plan += [
            Target(f"Argo CD {v}", lambda v=v: argocd.images(v))
            for v in argocd_versions(argocd_version, upgrade_from)
        ]
        plan += [
            Target(f"PostgreSQL {pins()['workloads']['postgres_major']}", workloads.postgres),
            Target("Python base", workloads.python_base),
        ]
    else:
        plan += [
            Target(f"Argo CD {v}'s manifest", lambda v=v: argocd.public_manifest(v))
            for v in argocd_versions(argocd_version, upgrade_from)
            if v in argocd_refs.pinned_versions()  # others are fetched for each install
        ]
        plan.append(Target(f"Python base {pins()['workloads']['python_public']}", python))
    plan += [
        Target(f"Argo CD {v}'s CLI", lambda v=v: argocd.cli(v, image_path))
        for v in argocd_versions(argocd_version, upgrade_from)
    ]
    plan.append(Target("Git server", lambda: workloads.git_server(image_path)))
    plan += [Target(f"the app {r}", lambda r=r: app_release(r, python())) for r in releases()]
    if source and not kind_image and new_cluster:
        plan.append(
            Target(
                "node image with the session's images",
                lambda: preloaded_node(
                    kind_node.node_image(), build(True, argocd_version, upgrade_from)
                ),
            )
        )
    return plan


def make_all(plan: list[Target]) -> None:
    """Each target in turn; a target already built says nothing but its number."""
    started = time.monotonic()
    progress.say(f"images: {len(plan)} to build or find in the cache")
    for index, target in enumerate(plan, 1):
        with progress.target(index, len(plan), target.name):
            target.make()
    progress.say(f"images: all {len(plan)} ready in {progress.elapsed(time.monotonic() - started)}")


def releases() -> list[str]:
    from sample_django_app.releases.apply import releases

    return releases()


def app_release(release: str, base: str) -> str:
    from sample_django_app import build as app

    return app.build_image(release, base, app.image_tag(release))
