"""Images built from a Dockerfile under images/dockerfiles/<name>/ on the Debian base."""

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from images import engine
from images.cache import IMAGE_PREFIX, cache_dir
from images.debian import base_image

DOCKERFILES = Path(__file__).resolve().parent / "dockerfiles"
# Context folders of programs: their files go in as 0755 (the Go module cache's are 0444),
# so that no Dockerfile needs a `RUN chmod`, which copies every binary it touches into a
# layer of its own (Argo CD's image was 823 MB with one, its binaries twice).
PROGRAM_FOLDERS = ("bin/", "scripts/")


def dockerfile_image(
    name: str,
    version: str,
    *,
    buildargs: Mapping[str, str] | None = None,
    files: Mapping[str, Path] | None = None,
    extra_tags: tuple[str, ...] = (),
    tag: str | None = None,
) -> str:
    """Build images/dockerfiles/<name> FROM the Debian base, or the BASE build arg (plus
    `files` copied into its context), unless an image from the same recipe is there."""
    tag = tag or f"{IMAGE_PREFIX}/{name}:{version}"
    args = {"BASE": (buildargs or {}).get("BASE") or base_image(), **(buildargs or {})}
    base = args["BASE"]
    source = DOCKERFILES / name
    inputs = [p for p in source.rglob("*") if p.is_file()]
    recipe = engine.recipe_digest(
        name,
        version,
        args,
        engine.client().images.get(base).id,
        engine.digest_files(inputs),
        {
            dest: (engine.digest_files([path]), _mode(dest, path))
            for dest, path in (files or {}).items()
        },
    )
    if engine.is_current(tag, recipe) and all(engine.has_image(t) for t in extra_tags):
        return tag
    with tempfile.TemporaryDirectory(dir=cache_dir("tmp")) as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(source, context)
        for dest, path in (files or {}).items():
            target = context / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            target.chmod(_mode(dest, path))
        engine.build(tag, context, recipe, buildargs=args, extra_tags=extra_tags)
    return tag


def _mode(dest: str, path: Path) -> int:
    """A file's mode in the build context, and so in the image (COPY keeps it)."""
    return 0o755 if dest.startswith(PROGRAM_FOLDERS) else path.stat().st_mode & 0o777
