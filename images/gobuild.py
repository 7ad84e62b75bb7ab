"""Go programs built from their published modules, in the builder container.

Most of what a cluster runs (Kubernetes, etcd, containerd, Argo CD, ...) is a Go module
whose go.mod replaces some dependencies with local paths, which makes `go install
module@version` refuse it. A small wrapper module repeats those replaces with published
versions (`local_replaces`) and lists the programs as `tool` directives, so `go mod tidy`
resolves exactly the upstream dependency set and `go build` produces the binaries.
"""

import os
import re
import shlex
import shutil
import subprocess
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from images import engine, progress, public, workloads
from images.cache import cache_dir, host_ca_bundle, log_file
from images.errors import BuildError
from images.upstream import LocalSource

DEFAULT_GOPROXY = "https://proxy.golang.org"


@dataclass(frozen=True)
class GoProgram:
    name: str
    module: str
    version: str
    packages: tuple[str, ...]
    go: str
    ldflags: str = "-s -w"
    cgo: bool = False
    tags: tuple[str, ...] = ()
    # Upstream replaces that point at local paths, mapped to published versions
    # (same module at `local_version` unless `local_replaces` names another).
    local_version: str = ""
    local_replaces: dict[str, str] = field(default_factory=dict)
    # Extra requirements the wrapper pins (e.g. a nested module the zip lacks).
    extra_requires: dict[str, str] = field(default_factory=dict)
    # Upstream replaces that point at local paths the proxy serves nothing for: the
    # source, given here, placed beside the wrapper's go.mod. Out of the repr, so that
    # the programs without one keep the keys (and the builds) they had.
    local_sources: tuple[LocalSource, ...] = field(default=(), repr=False)

    @property
    def key(self) -> str:
        inputs = (self, self.local_sources) if self.local_sources else (self,)
        return f"{self.name}-{self.version}-{engine.recipe_digest(*inputs)[:8]}"


def goproxy() -> str:
    first = os.environ.get("GOPROXY", DEFAULT_GOPROXY).split(",")[0].split("|")[0]
    return first if first.startswith("http") else DEFAULT_GOPROXY


def fetch_from_proxy(path: str) -> bytes:
    with urllib.request.urlopen(f"{goproxy()}/{path}", timeout=120) as response:
        return response.read()


def toolchain(version: str) -> Path:
    """Go itself, as the module proxy serves it to GOTOOLCHAIN (no Go install needed)."""
    root = cache_dir("toolchains") / f"go{version}"
    if (root / "bin" / "go").exists():
        return root
    platform = f"linux-{public.architecture()}"
    archive = cache_dir("tmp") / f"go{version}.{os.getpid()}.zip"
    try:
        with progress.step(f"download Go {version} from the module proxy"):
            archive.write_bytes(
                fetch_from_proxy(f"golang.org/toolchain/@v/v0.0.1-go{version}.{platform}.zip")
            )
    except OSError as err:
        raise BuildError(f"go toolchain {version}", f"download failed: {err}") from None
    staging = root.with_name(f"{root.name}.{os.getpid()}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(archive) as zf:
        prefix = f"golang.org/toolchain@v0.0.1-go{version}.{platform}/"
        for info in zf.infolist():
            if not info.filename.startswith(prefix) or info.is_dir():
                continue
            target = staging / info.filename[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))
            if "/bin/" in f"/{info.filename[len(prefix) :]}" or "/pkg/tool/" in info.filename:
                target.chmod(0o755)
    archive.unlink()
    staging.rename(root)
    return root


def upstream_replaces(module: str, version: str) -> dict[str, str]:
    """`replace` directives of the upstream go.mod: {old: "new [version]"}."""
    gomod = fetch_from_proxy(f"{module}/@v/{version}.mod").decode()
    replaces: dict[str, str] = {}
    block = re.search(r"^replace \($(.*?)^\)", gomod, re.M | re.S)
    lines = block.group(1).splitlines() if block else []
    lines += re.findall(r"^replace (.+)$", gomod, re.M)
    for line in lines:
        line = line.split("//")[0].strip()
        if "=>" in line:
            old, new = (part.strip() for part in line.split("=>"))
            replaces[old.split()[0]] = new
    return replaces


def wrapper_gomod(program: GoProgram) -> str:
    replaces = {}
    sources = {source.module: source for source in program.local_sources}
    for old, new in upstream_replaces(program.module, program.version).items():
        if old in sources:
            new = f"./{sources[old].folder}"
        elif new.startswith("."):
            version = program.local_replaces.get(old, program.local_version)
            if not version:
                raise BuildError(
                    f"go {program.name}", f"upstream replaces {old} with a local path {new}"
                )
            new = f"{old} {version}"
        replaces[old] = new
    requires = {program.module: program.version, **program.extra_requires}
    lines = [f"module local.build/{program.name}", "", f"go {program.go}", ""]
    lines += [f"require {mod} {ver}" for mod, ver in requires.items()]
    lines += ["", "replace ("] + [f"\t{o} => {n}" for o, n in replaces.items()] + [")", ""]
    lines += [f"tool {pkg}" for pkg in program.packages]
    return "\n".join(lines) + "\n"


def is_built(program: GoProgram, *, on_host: bool = False) -> bool:
    return (_out(program, on_host) / ".complete").exists()


def _out(program: GoProgram, on_host: bool) -> Path:
    return cache_dir("go", "out") / (f"{program.key}-host" if on_host else program.key)


def build(program: GoProgram, *, on_host: bool = False) -> Path:
    """The program's binaries, built once per recipe and cached. In the builder container
    by default; `on_host` for pure-Go tools needed where the builder image (a debootstrap,
    as root) cannot be made, such as a pull request's runner."""
    key = f"{program.key}-host" if on_host else program.key
    out = _out(program, on_host)
    if (out / ".complete").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    src = cache_dir("go", "src", key)
    (src / "go.mod").write_text(wrapper_gomod(program))
    for source in program.local_sources:
        source.place(src)
    go = toolchain(program.go)
    (_build_on_host if on_host else _build_in_container)(program, go, src, out)
    (out / ".complete").write_text(program.key)
    return out


def _go_commands(program: GoProgram, out: str) -> list[list[str]]:
    tags = [f"-tags={','.join(program.tags)}"] if program.tags else []
    # -x and -v: each download and each package in the log as it happens, which is what
    # the progress heartbeat shows of a build that takes minutes.
    build = ["go", "build", "-v", "-trimpath", *tags, "-ldflags", program.ldflags, "-o", f"{out}/"]
    return [["go", "mod", "tidy", "-x"], [*build, *program.packages]]


def _go_environment(program: GoProgram, mod: str, build: str) -> dict[str, str]:
    return {
        "GOMODCACHE": mod,
        "GOCACHE": build,
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-buildvcs=false",
        "GOPROXY": os.environ.get("GOPROXY", DEFAULT_GOPROXY),
        "CGO_ENABLED": "1" if program.cgo else "0",
    }


def _build_on_host(program: GoProgram, go: Path, src: Path, out: Path) -> None:
    if program.cgo:
        raise BuildError(f"go {program.name}", "needs cgo: build it in the builder container")
    # Caches of its own: the builder container writes go/mod and go/build as root.
    env = {
        **os.environ,
        **_go_environment(
            program, str(cache_dir("go", "host", "mod")), str(cache_dir("go", "host", "build"))
        ),
        "PATH": f"{go / 'bin'}:{os.environ.get('PATH', '')}",
    }
    step = f"go build {program.name} {program.version} (host)"
    log = log_file(step)
    with progress.step(step, log):
        for command in _go_commands(program, str(out)):
            with log.open("a") as output:
                output.write(f"$ {' '.join(command)}\n")
                output.flush()
                result = subprocess.run(
                    command, cwd=src, env=env, stdout=output, stderr=subprocess.STDOUT, check=False
                )
            if result.returncode != 0:
                last = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
                raise BuildError(step, f"exit status {result.returncode}: {last[0][:300]}", log)


def _build_in_container(program: GoProgram, go: Path, src: Path, out: Path) -> None:
    script = " && ".join(shlex.join(c) for c in _go_commands(program, "/out"))
    volumes = {
        str(go): {"bind": "/usr/local/go", "mode": "ro"},
        str(cache_dir("go", "mod")): {"bind": "/cache/mod", "mode": "rw"},
        str(cache_dir("go", "build")): {"bind": "/cache/build", "mode": "rw"},
        str(src): {"bind": "/src", "mode": "rw"},
        str(out): {"bind": "/out", "mode": "rw"},
    }
    ca = host_ca_bundle()
    if ca:
        volumes[str(ca)] = {"bind": "/etc/ssl/certs/ca-certificates.crt", "mode": "ro"}
    engine.run(
        workloads.builder(),
        ["bash", "-c", script],
        step=f"go build {program.name} {program.version}",
        volumes=volumes,
        workdir="/src",
        environment={
            "PATH": "/usr/local/go/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            **_go_environment(program, "/cache/mod", "/cache/build"),
        },
    )


def module_dir(module: str, version: str) -> Path:
    """Where a module downloaded by an earlier build sits in the module cache."""
    escaped = re.sub(r"[A-Z]", lambda m: "!" + m.group(0).lower(), module)
    path = cache_dir("go", "mod") / f"{escaped}@{version}"
    if not path.is_dir():
        raise BuildError(f"go module {module}@{version}", "not in the module cache; build it first")
    return path
