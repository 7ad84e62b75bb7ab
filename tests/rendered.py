"""Manifests as kustomize renders them, for the tests that read the objects."""

import subprocess
from pathlib import Path
from typing import Any

import yaml


def kustomized(kustomize: Path, path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(kustomize), "build", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def the(kind: str, objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The one object of that kind."""
    (found,) = [o for o in objects if o["kind"] == kind]
    return found
