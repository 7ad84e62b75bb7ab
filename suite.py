#!/usr/bin/env python3
"""The one command a new machine needs: `python3 suite.py tests|e2e|lint [pytest args]`,
and `python3 suite.py benchmark --runs N [pytest args]` to time the e2e suite N times.

Why it exists: a fresh checkout has only Python >= 3.11 and Docker. This script makes
`.venv/` once with the tox (and tox-uv) pinned in pyproject.toml ([dependency-groups]
suite), then runs `tox -e <command> -- <args>`; tox builds each environment from the
project's own pins.
Standard library only, so it runs before anything is installed.
"""

from __future__ import annotations  # parse on old Pythons, so the version check can speak

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

MIN_PYTHON = (3, 11)
ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / "suite-inputs.sha256"
# What .venv/ and the tox environments are made from; when one changes, both are remade.
INPUTS = ("pyproject.toml", "sample_django_app/requirements.txt")
# -> needs Docker
COMMANDS = {"tests": True, "e2e": True, "lint": False, "benchmark": True, "rehearsal": True}
DOCKER_DOWN = (
    "error: Docker is not running (start it, or run ../shared/sandbox/docker-up on our machines)"
)


def inputs_hash() -> str:
    """The pins and the interpreter: a venv is only valid for the Python that made it."""
    digest = hashlib.sha256(f"{sys.executable} {sys.version}".encode())
    for name in INPUTS:
        digest.update(name.encode() + b"\0" + (ROOT / name).read_bytes())
    return digest.hexdigest()


def suite_requirements() -> list[str]:
    import tomllib  # 3.11+, imported after the version check

    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)["dependency-groups"]["suite"]


def bootstrap() -> None:
    """Make .venv/ with the pinned tox, unless it exists for exactly these inputs."""
    wanted = inputs_hash()
    if STAMP.is_file() and STAMP.read_text().strip() == wanted:
        return
    requirements = suite_requirements()
    listed = " ".join(requirements)
    print(f"suite: creating .venv/ with {listed} (pins changed or first run)", flush=True)
    # Environments built from the old pins go too, so nothing stale survives a pin change.
    shutil.rmtree(ROOT / ".tox", ignore_errors=True)
    venv.EnvBuilder(clear=True, with_pip=True).create(VENV)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if run([*pip, *requirements]) != 0:
        sys.exit(f"error: installing {listed} into .venv/ failed (see pip's output above)")
    STAMP.write_text(wanted + "\n")


def docker_running() -> bool:
    """`docker info` answers within seconds when the engine is up; no point building first."""
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(
            ["docker", "info", "--format", "{{.ID}}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


def run(command: list[str], env: dict[str, str] | None = None) -> int:
    """Run a child in the foreground. Ctrl-C reaches it too: wait while it cleans up
    (pytest tears down its cluster and containers), then let the interrupt through."""
    child = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.wait()
        raise


def main(argv: list[str]) -> int:
    if sys.version_info < MIN_PYTHON:
        print(
            f"error: Python >= 3.11 is needed, this is {sys.version.split()[0]} ({sys.executable})",
            file=sys.stderr,
        )
        return 2
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python3 suite.py {{{'|'.join(COMMANDS)}}} [pytest args]", file=sys.stderr)
        print(__doc__, file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    command, args = argv[0], argv[1:]
    if COMMANDS[command] and not docker_running():
        print(DOCKER_DOWN, file=sys.stderr)
        return 2
    bootstrap()
    return run([str(BIN / "tox"), "-c", str(ROOT / "tox.ini"), "-e", command, "--", *args])


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
