"""Every image an end-to-end session runs, in one place.

The session's fixtures load them from here, and on the source path the session's node
image holds them all; one list, so the two cannot drift apart. The set does not depend on
which tests are selected (the upgrade test's older Argo CD is always in it), or a narrower
session would remake the preloaded node image for the next full one.
"""

from dataclasses import dataclass

from images import argocd, argocd_refs, kind_node, workloads
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


def build(source: bool, argocd_version: str) -> SessionImages:
    """Builds (or finds cached) every image the session runs; `argocd_version` is the
    session's release, which the upgrade test reaches from the pinned one before it."""
    if source:
        upgrade_from = argocd_refs.pinned_before(argocd_version) or argocd_version
        releases = tuple(argocd.images(v) for v in sorted({argocd_version, upgrade_from}))
        python, postgres = workloads.python_base(), workloads.postgres()
    else:
        releases = ()
        python = pins()["workloads"]["python_public"]
        postgres = pins()["workloads"]["postgres_public"]
    return SessionImages(
        source, releases, workloads.git_server(), python, postgres, app_releases(python)
    )


def app_releases(base: str) -> tuple[str, ...]:
    """The app's releases, always built here, on `base`."""
    from sample_django_app import build as app
    from sample_django_app.releases.apply import releases

    return tuple(app.build_image(r, base, app.image_tag(r)) for r in releases())


def preloaded_node(node: str, images: SessionImages) -> str:
    """`node` with every image of a session already in it (the source path's)."""
    return kind_node.with_images(node, images.built_here())
