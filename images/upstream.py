"""Upstream sources the Go module proxy does not serve, given by the user.

Argo CD v3.2 to v3.5 keep gitops-engine as a nested module of the argo-cd repository, and
each release's go.mod says `replace github.com/argoproj/argo-cd/gitops-engine =>
./gitops-engine`. The argo-cd module zip leaves that folder out (a nested module is a
module of its own) and the proxy does not serve the pseudo-version the `require` names;
from v3.6 the nested module is tagged and served. So building a v3.5.x release from
source takes that folder from the release's own tag: a clone's `gitops-engine/`, or a
`git archive --prefix=gitops-engine/ <tag>:gitops-engine` tarball. A pinned release names
its tarball's sha256 in versions.toml, and nothing else is taken for it.
"""

import hashlib
import os
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from images import engine
from images.errors import BuildError

SOURCE_ENV = "ARGOCD_MIGRATION_E2E_GITOPS_ENGINE_SOURCE"  # os.pathsep-separated paths
FOLDER = "gitops-engine"  # where the release's go.mod points, beside it


@dataclass(frozen=True)
class LocalSource:
    """A module's source, found here, known by its digest (the build's recipe names the
    digest, not where the file happens to be)."""

    module: str
    folder: str  # the wrapper module's replace points at ./folder
    digest: str
    path: str = field(compare=False, repr=False)

    def place(self, into: Path) -> None:
        """The source as `into/folder`, whether given as an archive or as a folder."""
        target = into / self.folder
        shutil.rmtree(target, ignore_errors=True)
        source = Path(self.path)
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True)
            return
        with tarfile.open(source) as archive:
            archive.extractall(into, filter="data")
        if not (target / "go.mod").is_file():
            raise BuildError(f"source of {self.module}", f"{source} holds no {self.folder}/go.mod")


def archive_name(version: str) -> str:
    return f"argo-cd-{version}-gitops-engine.tar.gz"


def absolute(paths: str) -> str:
    """Paths as a command line gives them, for processes that run elsewhere (tox, workers,
    nested sessions)."""
    return os.pathsep.join(os.path.abspath(p) for p in paths.split(os.pathsep) if p)


def given_paths() -> list[Path]:
    return [Path(p) for p in os.environ.get(SOURCE_ENV, "").split(os.pathsep) if p]


def gitops_engine(module: str, version: str, sha256: str | None) -> LocalSource:
    """The nested gitops-engine of Argo CD `version` among the paths the user gave: a
    folder with its go.mod, an archive, or a folder of archives named after the release.
    With `sha256` (a pinned release) only the archive with that digest will do."""
    step = f"argocd {version}"
    candidates = _candidates(given_paths(), version)
    if not candidates:
        given = ", ".join(str(p) for p in given_paths()) or "none"
        raise BuildError(
            step,
            f"its nested module {module} is not served by the Go module proxy: give its "
            f"source with --gitops-engine-source (a folder {FOLDER}/ of the release's tag, or "
            f"{archive_name(version)}: git archive --prefix={FOLDER}/ {version}:{FOLDER}); "
            f"given: {given}",
        )
    seen = []
    for path in candidates:
        digest = _digest(path)
        if sha256 is None or digest == sha256:
            return LocalSource(module, FOLDER, digest, str(path))
        seen.append(f"{path}: sha256 {digest}")
    raise BuildError(
        step,
        f"versions.toml pins its {FOLDER} source at sha256 {sha256}; found {'; '.join(seen)}",
    )


def _candidates(paths: list[Path], version: str) -> list[Path]:
    """Sources named after `version` (an archive, or a folder of archives); else a source
    that names no release (a gitops-engine folder, or one archive given alone)."""
    named, unnamed = [], []
    for path in paths:
        if not path.exists():
            raise BuildError("--gitops-engine-source", f"{path}: no such file or folder")
        if path.is_file():
            (named if version in path.name else unnamed).append(path)
        elif (path / archive_name(version)).is_file():
            named.append(path / archive_name(version))
        elif (path / "go.mod").is_file():
            unnamed.append(path)
        elif (path / FOLDER / "go.mod").is_file():
            unnamed.append(path / FOLDER)
    return named or (unnamed if len(unnamed) == 1 else [])


def _digest(path: Path) -> str:
    """An archive's sha256 (what versions.toml pins), or a folder's files' digest."""
    if path.is_dir():
        return "files:" + engine.digest_files(p for p in path.rglob("*") if p.is_file())
    return hashlib.sha256(path.read_bytes()).hexdigest()
