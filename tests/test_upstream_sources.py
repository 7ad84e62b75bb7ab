"""An Argo CD release before v3.6 built from source: its nested gitops-engine, which the Go
module proxy does not serve, comes from where the user says (--gitops-engine-source), and a
pinned release takes only a source with the git tree id versions.toml names. Missing or
mismatched, it fails at once, in one line."""

import subprocess
import tarfile
from pathlib import Path

import pytest

from images import argocd_refs, gobuild, programs, upstream
from images.errors import BuildError
from images.pins import pins

MODULE = "github.com/argoproj/argo-cd/gitops-engine"
PINNED = "v3.5.1"


@pytest.fixture(autouse=True)
def _fresh_releases() -> None:
    argocd_refs.release.cache_clear()  # it reads the sources given, which the tests change


def a_gitops_engine_folder(root: Path) -> Path:
    folder = root / "gitops-engine"
    (folder / "pkg/sync").mkdir(parents=True)
    (folder / "go.mod").write_text(f"module {MODULE}\n\ngo 1.26\n")
    (folder / "pkg/sync/doc.go").write_text("package sync\n")
    return folder


def an_archive_of(folder: Path, path: Path) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        archive.add(folder, arcname="gitops-engine")
    return path


def test_an_archive_named_after_the_release_is_found_in_a_folder(tmp_path: Path) -> None:
    folder = a_gitops_engine_folder(tmp_path / "clone")
    shelf = tmp_path / "upstream"
    shelf.mkdir()
    archive = an_archive_of(folder, shelf / upstream.archive_name("v3.5.9"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv(upstream.SOURCE_ENV, str(shelf))
        source = upstream.gitops_engine(MODULE, "v3.5.9", None)
    assert source.path == str(archive)
    assert source.digest == upstream.git_tree_id(folder)

    # and placed beside the wrapper module, it is the folder the release's replace names
    build = tmp_path / "src"
    build.mkdir()
    source.place(build)
    assert (build / "gitops-engine/go.mod").read_text().startswith(f"module {MODULE}")


def test_the_recipe_names_the_sources_digest_not_where_it_lies(tmp_path: Path) -> None:
    one = upstream.LocalSource(MODULE, "gitops-engine", "abc", str(tmp_path / "a.tar.gz"))
    other = upstream.LocalSource(MODULE, "gitops-engine", "abc", str(tmp_path / "b/a.tar.gz"))
    program = programs.argocd(pins()["argocd"]["default"])
    assert (
        gobuild.GoProgram(**{**program.__dict__, "local_sources": (one,)}).key
        == gobuild.GoProgram(**{**program.__dict__, "local_sources": (other,)}).key
    )


def test_the_wrapper_module_replaces_the_nested_module_with_the_given_folder(
    tmp_path: Path,
) -> None:
    source = upstream.LocalSource(MODULE, "gitops-engine", "abc", str(tmp_path))
    program = gobuild.GoProgram(
        "argocd", argocd_refs.MODULE, PINNED, (f"{argocd_refs.MODULE}/cmd",), "1.26.8",
        local_sources=(source,),
    )  # fmt: skip
    gomod = gobuild.wrapper_gomod(program)
    assert f"\t{MODULE} => ./gitops-engine\n" in gomod
    assert f"require {argocd_refs.MODULE} {PINNED}\n" in gomod


def test_a_pinned_release_refuses_an_archive_of_another_digest(tmp_path: Path) -> None:
    folder = a_gitops_engine_folder(tmp_path / "clone")
    archive = an_archive_of(folder, tmp_path / upstream.archive_name(PINNED))
    pinned = pins()["argocd"]["releases"][PINNED]["gitops_engine_tree"]
    with pytest.MonkeyPatch.context() as env:
        env.setenv(upstream.SOURCE_ENV, str(tmp_path))
        with pytest.raises(BuildError) as refused:
            argocd_refs.release(PINNED)
    said = str(refused.value)
    assert said.count("\n") == 0
    assert f"pins its gitops-engine at git tree {pinned} (git rev-parse {PINNED}:" in said
    assert f"{archive}: tree {upstream.git_tree_id(folder)}" in said


def test_a_release_before_v3_6_without_its_source_is_refused_saying_how_to_give_it() -> None:
    with pytest.MonkeyPatch.context() as env:
        env.delenv(upstream.SOURCE_ENV, raising=False)
        with pytest.raises(BuildError) as refused:
            argocd_refs.release(PINNED)
    said = str(refused.value)
    assert (
        "is not served by the Go module proxy: give its source with --gitops-engine-source" in said
    )
    assert f"git archive --prefix=gitops-engine/ {PINNED}:gitops-engine" in said


def test_an_unpinned_release_before_v3_6_takes_the_folder_given(tmp_path: Path) -> None:
    """v3.5.0 is not pinned: its go.mod, from the proxy, names the nested module, which the
    proxy does not serve, so the folder given (a clone's) is taken as it is."""
    folder = a_gitops_engine_folder(tmp_path / "clone")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(upstream.SOURCE_ENV, str(folder))
        release = argocd_refs.release("v3.5.0")
    assert release.gitops_engine_source is not None
    assert release.gitops_engine_source.path == str(folder)


def test_a_folder_and_its_archive_have_the_tree_id_git_gives_them(tmp_path: Path) -> None:
    folder = a_gitops_engine_folder(tmp_path / "clone")
    (folder / "hack.sh").write_text("#!/bin/sh\n")
    (folder / "hack.sh").chmod(0o755)
    (folder / "latest").symlink_to("pkg")
    git = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    tree = subprocess.run(
        [*git, "write-tree"], check=True, capture_output=True, text=True
    ).stdout.strip()
    archive = tmp_path / "gitops-engine.tar.gz"
    subprocess.run(
        [*git, "archive", "--format=tar.gz", "--prefix=gitops-engine/", "-o", str(archive), tree],
        check=True,
    )
    assert upstream.git_tree_id(folder) == tree  # a clone's folder, its .git aside
    assert upstream.git_tree_id(archive) == tree
