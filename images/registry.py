"""Which image path a run takes: public images (pull) or the source path (build here)."""

from functools import cache

from images import public
from images.errors import BuildError


@cache
def unreachable() -> tuple[str, ...]:
    """What the public path needs and cannot reach, asked once per process."""
    return tuple(public.unreachable())


def resolve_image_path(requested: str) -> tuple[str, str | None]:
    """`auto` becomes `public` or `source`; returns the path and a notice to show, if any.
    `public` with something it needs out of reach is refused at once, naming it."""
    if requested == "source":
        return requested, None
    blocked = unreachable()
    if requested == "public":
        if blocked:
            raise BuildError(
                "--images=public",
                f"unreachable: {', '.join(blocked)}; give --registry-mirror and "
                "--download-mirror, or build everything here with --images=source",
            )
        return requested, None
    if not blocked:
        return "public", None
    return "source", (
        f"the public path's registries and downloads are out of reach ({', '.join(blocked)}): "
        "building every image from source (--images=source)"
    )
