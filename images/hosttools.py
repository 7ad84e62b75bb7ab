"""The command-line tools the suite runs on the host: kind, kubectl, kustomize, actionlint.

On the source path they are built here from their Go modules (pinned in versions.toml);
on the public path the released binaries of the same versions are downloaded once, except
actionlint, which is built from its Go module on both paths.
"""

import io
import os
import shutil
import stat
import subprocess
import tarfile
import urllib.request
from pathlib import Path

from images import gobuild, programs
from images.cache import cache_dir, log_file
from images.errors import BuildError
from images.gobuild import GoProgram
from images.pins import pins


def kind(image_path: str) -> Path:
    version = pins()["kind"]["version"]
    if image_path == "source":
        return gobuild.build(programs.kind()) / "kind"
    return _download(
        f"https://github.com/kubernetes-sigs/kind/releases/download/{version}/kind-linux-amd64",
        f"kind-{version}",
    )


def kubectl(image_path: str) -> Path:
    version = pins()["kubernetes"]["version"]
    if image_path == "source":
        return gobuild.build(programs.kubernetes()) / "kubectl"
    return _download(
        f"https://dl.k8s.io/release/{version}/bin/linux/amd64/kubectl", f"kubectl-{version}"
    )


def kustomize(image_path: str) -> Path:
    tool = pins()["tools"]["kustomize"]
    if image_path == "source":
        return gobuild.build(programs.kustomize(tool["version"], tool["go"])) / "kustomize"
    version = tool["version"]
    return _download(
        "https://github.com/kubernetes-sigs/kustomize/releases/download/"
        f"kustomize%2F{version}/kustomize_{version}_linux_amd64.tar.gz",
        f"kustomize-{version}",
        member="kustomize",
    )


def actionlint(image_path: str) -> Path:
    tool = pins()["tools"]["actionlint"]
    program = programs.actionlint(tool["version"], tool["go"])
    if image_path == "source":
        return gobuild.build(program) / "actionlint"
    # The builder container needs the Debian base (debootstrap, as root), which a pull
    # request's runner does not have; actionlint is pure Go, so build it on the host.
    return _go_build_on_host(program) / "actionlint"


def _go_build_on_host(program: GoProgram) -> Path:
    """gobuild.build without the container: the same wrapper module, the proxy's Go."""
    if program.cgo:
        raise BuildError(f"go {program.name}", "needs cgo: build it in the builder container")
    out = cache_dir("go", "out") / f"{program.key}-host"
    if (out / ".complete").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    src = cache_dir("go", "src", f"{program.key}-host")
    (src / "go.mod").write_text(gobuild.wrapper_gomod(program))
    go = str(gobuild.toolchain(program.go) / "bin" / "go")
    tags = [f"-tags={','.join(program.tags)}"] if program.tags else []
    # Caches of its own: the builder container writes go/mod and go/build as root.
    env = {
        **os.environ,
        "GOMODCACHE": str(cache_dir("go", "host", "mod")),
        "GOCACHE": str(cache_dir("go", "host", "build")),
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-buildvcs=false",
        "GOPROXY": os.environ.get("GOPROXY", gobuild.DEFAULT_GOPROXY),
        "CGO_ENABLED": "0",
    }
    step = f"go build {program.name} {program.version} (host)"
    log = log_file(step)
    for command in (
        [go, "mod", "tidy"],
        [go, "build", "-trimpath", *tags, "-ldflags", program.ldflags, "-o", f"{out}/",
         *program.packages],
    ):  # fmt: skip
        with log.open("a") as output:
            output.write(f"$ {' '.join(command)}\n")
            output.flush()
            result = subprocess.run(
                command, cwd=src, env=env, stdout=output, stderr=subprocess.STDOUT, check=False
            )
        if result.returncode != 0:
            last = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise BuildError(step, f"exit status {result.returncode}: {last[0][:300]}", log)
    (out / ".complete").write_text(program.key)
    return out


def _download(url: str, name: str, member: str | None = None) -> Path:
    target = cache_dir("bin") / name
    if target.exists():
        return target
    with urllib.request.urlopen(url, timeout=120) as response:
        payload = response.read()
    if member:
        with tarfile.open(fileobj=io.BytesIO(payload)) as archive:
            extracted = archive.extractfile(member)
            assert extracted is not None, f"{member} not in {url}"
            payload = extracted.read()
    partial = target.with_suffix(".partial")
    partial.write_bytes(payload)
    partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    partial.rename(target)
    return target
