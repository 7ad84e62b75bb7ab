"""Upstream sources the Go module proxy does not serve, given by the user.

Argo CD v3.2 to v3.5 keep gitops-engine as a nested module of the argo-cd repository, and
each release's go.mod says `replace github.com/argoproj/argo-cd/gitops-engine =>
./gitops-engine`. The argo-cd module zip leaves that folder out (a nested module is a
module of its own) and the proxy does not serve the pseudo-version the `require` names;
from v3.6 the nested module is tagged and served. So building a v3.5.x release from
source takes that folder from the release's own tag: a clone's `gitops-engine/`, or a
`git archive --prefix=gitops-engine/ <tag>:gitops-engine` tarball. A pinned release names
the folder's git tree id in versions.toml (`git rev-parse <tag>:gitops-engine`), which a
clone and any tarball of it share, and nothing else is taken for it.
"""

import hashlib
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

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


def gitops_engine(module: str, version: str, tree: str | None) -> LocalSource:
    """The nested gitops-engine of Argo CD `version` among the paths the user gave: a
    folder with its go.mod, an archive, or a folder of archives named after the release.
    With `tree` (a pinned release) only a source with that git tree id will do."""
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
        digest = git_tree_id(path)
        if tree is None or digest == tree:
            return LocalSource(module, FOLDER, digest, str(path))
        seen.append(f"{path}: tree {digest}")
    raise BuildError(
        step,
        f"versions.toml pins its {FOLDER} at git tree {tree} (git rev-parse "
        f"{version}:{FOLDER}); found {'; '.join(seen)}",
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


def git_tree_id(path: Path) -> str:
    """The id git gives the folder's tree (`git rev-parse <tag>:gitops-engine`), of a
    folder or of an archive of it, whatever compressed the archive: what a pin can name so
    that a clone, a tarball made here and one made on a CI runner are the same source."""
    entries: dict[PurePosixPath, tuple[str, bytes]] = {}  # file: (git mode, content)
    if path.is_dir():
        for root, folders, files in os.walk(path):  # symlinks to folders are not followed
            folders[:] = [f for f in folders if f != ".git"]  # a clone's own, not its tree
            linked = [f for f in folders if Path(root, f).is_symlink()]
            for name in files + linked:
                file = Path(root, name)
                key = PurePosixPath(file.relative_to(path))
                if file.is_symlink():
                    entries[key] = ("120000", os.readlink(file).encode())
                else:
                    mode = "100755" if file.stat().st_mode & stat.S_IXUSR else "100644"
                    entries[key] = (mode, file.read_bytes())
    else:
        with tarfile.open(path) as archive:
            for member in archive.getmembers():
                parts = PurePosixPath(member.name).parts[1:]  # below gitops-engine/
                if not parts:
                    continue
                if member.issym():
                    entries[PurePosixPath(*parts)] = ("120000", member.linkname.encode())
                elif member.isfile():
                    mode = "100755" if member.mode & stat.S_IXUSR else "100644"
                    data = archive.extractfile(member).read()  # type: ignore[union-attr]
                    entries[PurePosixPath(*parts)] = (mode, data)
    return _tree(entries)


def _tree(entries: dict[PurePosixPath, tuple[str, bytes]]) -> str:
    """A tree object's id, its entries in git's order (a folder sorts as its name + "/")."""
    files: dict[str, tuple[str, bytes]] = {}
    folders: dict[str, dict[PurePosixPath, tuple[str, bytes]]] = {}
    for path, entry in entries.items():
        head, *rest = path.parts
        if rest:
            folders.setdefault(head, {})[PurePosixPath(*rest)] = entry
        else:
            files[head] = (entry[0], bytes.fromhex(_object("blob", entry[1])))
    for name, inside in folders.items():
        files[name] = ("40000", bytes.fromhex(_tree(inside)))
    order = sorted(files, key=lambda name: name + "/" if name in folders else name)
    return _object(
        "tree", b"".join(f"{files[n][0]} {n}".encode() + b"\0" + files[n][1] for n in order)
    )


def _object(kind: str, body: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(body)}".encode() + b"\0" + body).hexdigest()
