"""Which image path a run takes: public images (pull) or the source path (build here)."""

import socket
from functools import cache

PUBLIC_REGISTRY = ("registry-1.docker.io", 443)


@cache
def registry_reachable(timeout: float = 3.0) -> bool:
    """A TCP connect to Docker Hub: cheap, and enough to avoid a pull that would hang."""
    try:
        with socket.create_connection(PUBLIC_REGISTRY, timeout=timeout):
            return True
    except OSError:
        return False


def resolve_image_path(requested: str) -> tuple[str, str | None]:
    """`auto` becomes `public` or `source`; returns the path and a notice to show, if any."""
    if requested != "auto":
        return requested, None
    if registry_reachable():
        return "public", None
    return "source", (
        f"no container registry reachable ({PUBLIC_REGISTRY[0]}): building every image "
        "from source (--images=source); pass --images=public to insist on pulling"
    )
