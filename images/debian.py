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
    debootstrap = _debootstrap_command()
    log = log_file("debian base (debootstrap)")
    with (
        progress.step(f"Debian {debian['suite']} base image (debootstrap)", log),
        tempfile.TemporaryDirectory(dir=cache_dir("tmp")) as tmp,
    ):
        rootfs, tarball = Path(tmp) / "rootfs", Path(tmp) / "rootfs.tar"
        _run(
            [debootstrap, "--variant=minbase", debian["suite"], str(rootfs), debian["mirror"]],
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


def _debootstrap_command() -> str:
    found = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log = log_file("install debootstrap")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        with progress.step("install debootstrap (apt-get)", log):
            _run(["apt-get", "update", "-q"], "install debootstrap", log, env)
            install = ["apt-get", "install", "-y", "-q", "debootstrap"]
            _run(install, "install debootstrap", log, env)
        return shutil.which("debootstrap", path="/usr/sbin:/usr/bin") or "debootstrap"
    raise BuildError(
        "debian base", "debootstrap is not installed (apt-get install debootstrap, as root)"
    )


def _run(cmd: list[str], step: str, log: Path, env: dict[str, str] | None = None) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    if result.returncode != 0:
        raise BuildError(step, f"{cmd[0]} exited {result.returncode}", log)
