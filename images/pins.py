"""The pinned versions from versions.toml, the one place they are written."""

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from images.errors import BuildError

ROOT = Path(__file__).resolve().parent.parent
VERSIONS_FILE = ROOT / "versions.toml"


@cache
def pins() -> dict[str, Any]:
    with VERSIONS_FILE.open("rb") as f:
        return tomllib.load(f)


def argocd_release(version: str) -> dict[str, Any]:
    """The pins of one Argo CD release; unknown versions fail listing the known ones."""
    releases = pins()["argocd"]["releases"]
    if version not in releases:
        known = ", ".join(sorted(releases))
        raise BuildError("argocd version", f"{version!r} is not pinned in versions.toml ({known})")
    return releases[version]
