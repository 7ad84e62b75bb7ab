"""The pinned versions from versions.toml, the one place they are written."""

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VERSIONS_FILE = ROOT / "versions.toml"


@cache
def pins() -> dict[str, Any]:
    with VERSIONS_FILE.open("rb") as f:
        return tomllib.load(f)
