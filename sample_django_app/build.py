"""Build the sample app's image for one release, from wheels the host downloads.

pip inside `docker build` cannot reach PyPI on this machine (a TLS-intercepting proxy whose
CA only the host trusts), nor on air-gapped builders, so the host downloads every pinned
wheel once (cached) and the Dockerfile installs from them with --no-index.
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import docker.errors

from images import engine, progress
from images.cache import IMAGE_PREFIX, cache_dir, log_file
from images.errors import BuildError
from sample_django_app.releases.apply import releases

HERE = Path(__file__).resolve().parent
# What the Dockerfile copies; the same list as .dockerignore lets through.
CONTEXT = (
    "Dockerfile",
    ".dockerignore",
    "requirements.txt",
    "build-requirements.txt",
    "app",
    "releases",
)
REQUIREMENTS = ("requirements.txt", "build-requirements.txt")
PYTHON_VERSION = "3.11"  # Debian bookworm's, and python:3.11-slim-bookworm's
IMAGE_REPOSITORY = f"{IMAGE_PREFIX}/my-django-app"  # the seed's image is my-django-app:v1.0


def image_tag(release: str) -> str:
    return f"{IMAGE_REPOSITORY}:{release}"


def build_image(release: str, base_image: str, tag: str) -> str:
    """`tag`: the app at `release` on `base_image`, unless built from this very recipe already."""
    if release not in releases():
        raise BuildError(f"app image {release}", f"unknown release; known: {', '.join(releases())}")
    wheels = download_wheels()
    files = context_files()
    recipe = engine.recipe_digest(
        "my-django-app",
        release,
        base_image,
        _image_id(base_image),
        {str(path.relative_to(HERE)): engine.digest_files([path]) for path in files},
        sorted(wheel.name for wheel in wheels.glob("*.whl")),
    )
    if engine.is_current(tag, recipe):
        return tag
    with tempfile.TemporaryDirectory(dir=cache_dir("tmp")) as tmp:
        context = Path(tmp)
        for path in files:
            target = context / path.relative_to(HERE)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        shutil.copytree(wheels, context / "wheels", ignore=shutil.ignore_patterns(".complete"))
        engine.build(
            tag,
            context,
            recipe,
            buildargs={"RELEASE": release, "BASE_IMAGE": base_image},
            step=f"build my-django-app {release}",
        )
    return tag


def context_files() -> list[Path]:
    files: list[Path] = []
    for name in CONTEXT:
        path = HERE / name
        found = sorted(path.rglob("*")) if path.is_dir() else [path]
        files += [p for p in found if p.is_file() and "__pycache__" not in p.parts]
    return files


def download_wheels() -> Path:
    """Every pinned requirement as a wheel for the engine's platform, downloaded once."""
    arch = engine.client().info()["Architecture"]  # x86_64, aarch64: manylinux's names too
    pins = [(HERE / name).read_text() for name in REQUIREMENTS]
    wheels = cache_dir("wheels", engine.recipe_digest(arch, PYTHON_VERSION, pins))
    complete = wheels / ".complete"
    if complete.exists():
        return wheels
    step = "download my-django-app wheels"
    log = log_file(step)
    command = [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
        "--only-binary=:all:", "--platform", f"manylinux2014_{arch}",
        "--python-version", PYTHON_VERSION, "--implementation", "cp", "-d", str(wheels),
    ]  # fmt: skip
    for name in REQUIREMENTS:
        command += ["-r", str(HERE / name)]
    with progress.step(step, log):
        with log.open("w") as out:
            result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            raise BuildError(step, f"pip download exited {result.returncode}", log)
    complete.write_text("\n".join(sorted(w.name for w in wheels.glob("*.whl"))) + "\n")
    return wheels


def _image_id(image: str) -> str:
    """The local image's id, or its name when the build is going to pull it."""
    try:
        return engine.client().images.get(image).id
    except docker.errors.ImageNotFound:
        return image
