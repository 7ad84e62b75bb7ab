"""The Debian base every source-path image starts from: debootstrap + `docker import`.

No registry is reachable on air-gapped machines, so even `FROM debian` is impossible;
a minbase debootstrap from the Debian mirror (which is reachable) replaces it.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from images import engine, progress
from images.cache import IMAGE_PREFIX, cache_dir, log_file
from images.errors import BuildError
from images.pins import pins


def base_image() -> str:
    debian = pins()["debian"]
    tag = f"{IMAGE_PREFIX}/debian:{debian['suite']}"
    recipe = engine.recipe_digest("debian", debian)
    if engine.is_current(tag, recipe):
        return tag
    debootstrap = debootstrap_command()
    log = log_file("debian base (debootstrap)")
    with (
        progress.step(f"Debian {debian['suite']} base image (debootstrap)", log),
        tempfile.TemporaryDirectory(dir=cache_dir("tmp")) as tmp,
    ):
        rootfs, tarball = Path(tmp) / "rootfs", Path(tmp) / "rootfs.tar"
        _run(
            [*debootstrap, "--variant=minbase", debian["suite"], str(rootfs), debian["mirror"]],
            "debian base (debootstrap)",
            log,
        )
        # Debian's docker images drop these too; they only bloat every layer above.
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(rootfs / leftover, ignore_errors=True)
            (rootfs / leftover).mkdir(parents=True)
        _run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], "debian base (tar)", log)
        engine.import_rootfs(
            tarball, tag, recipe, changes=['CMD ["/bin/bash"]', "ENV LANG=C.UTF-8"]
        )
    return tag


# Debian's own keys: debootstrap checks the suite's Release file against them. Ubuntu's
# debootstrap defaults to Ubuntu's keyring, which cannot check Debian's signature.
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
PACKAGES = ("debootstrap", "debian-archive-keyring")


def debootstrap_command() -> list[str]:
    """debootstrap, told to check the Release signature with Debian's keyring; both
    installed with apt-get when missing (as root)."""
    found = _which_debootstrap()
    if not (found and KEYRING.is_file()):
        if not (os.geteuid() == 0 and shutil.which("apt-get")):
            raise BuildError(
                "debian base",
                f"debootstrap and Debian's keyring ({KEYRING}) are needed: "
                f"apt-get install {' '.join(PACKAGES)}, as root",
            )
        log = log_file("install debootstrap")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        with progress.step(f"install {' '.join(PACKAGES)} (apt-get)", log):
            _run(["apt-get", "update", "-q"], "install debootstrap", log, env)
            _run(["apt-get", "install", "-y", "-q", *PACKAGES], "install debootstrap", log, env)
        found = _which_debootstrap() or "debootstrap"
    return [found, f"--keyring={KEYRING}"]


def _which_debootstrap() -> str | None:
    return shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin")


def _run(cmd: list[str], step: str, log: Path, env: dict[str, str] | None = None) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    if result.returncode != 0:
        raise BuildError(step, f"{cmd[0]} exited {result.returncode}", log)
