"""The images the manifests run besides Argo CD and kind: Postgres and the app's base."""

from images import public
from images.dockerfiles import dockerfile_image
from images.pins import pins


def postgres() -> str:
    major = pins()["workloads"]["postgres_major"]
    return dockerfile_image("postgres", major, buildargs={"PG_MAJOR": major})


def python_base() -> str:
    return dockerfile_image("python", "3.11-bookworm")


def builder() -> str:
    return dockerfile_image("builder", "bookworm")


def git_server(image_path: str = "source") -> str:
    """Built here on both paths: on the public one from the public Debian image, so it
    needs neither root nor debootstrap (a laptop, a hosted runner without sudo)."""
    return _on_debian("gitserver", image_path)


def browser(image_path: str = "source") -> str:
    """Headless Chromium from Debian's packages (the report's browser test), built on
    either path like the Git server; Debian's suite in versions.toml pins its version."""
    return _on_debian("browser", image_path)


def _on_debian(name: str, image_path: str) -> str:
    if image_path == "source":
        return dockerfile_image(name, "bookworm")
    base = public.pull(pins()["workloads"]["debian_public"])
    return dockerfile_image(name, "bookworm-public", buildargs={"BASE": base})


def python_public() -> str:
    """The public Python image, the app's base on the public path."""
    return public.pull(pins()["workloads"]["python_public"])


def postgres_public() -> str:
    return public.pull(pins()["workloads"]["postgres_public"])


def node_public(kubernetes: str | None = None) -> str:
    """kind's node image for a Kubernetes minor pinned in versions.toml (default: kind's)."""
    kind = pins()["kind"]
    return kind["public_node_images"][kubernetes or kind["public_kubernetes"]]
