"""`--argocd-version` on the source path: pinned releases as pinned, anything else the Go
module proxy resolves (how a team tries a release candidate before it ships), unknown
refs refused at once naming the pinned ones."""

from pathlib import Path

import pytest

from images import argocd, argocd_refs, gobuild, hosttools, programs
from images.dockerfiles import DOCKERFILES
from images.errors import BuildError
from images.gobuild import GoProgram
from images.pins import pins


def test_a_pinned_release_builds_exactly_as_pinned() -> None:
    default = pins()["argocd"]["default"]
    release = argocd_refs.release(default)
    pinned = pins()["argocd"]["releases"][default]
    assert release.pinned
    assert (release.version, release.go, release.gitops_engine_version) == (
        default,
        pinned["go"],
        pinned["gitops_engine_version"],
    )


def test_the_upgrade_starts_from_the_newest_release_of_the_minor_before() -> None:
    """On the source path only a release whose every input is pinned counts: v3.5.8's
    gitops-engine source is not, v3.5.1's is."""
    assert argocd_refs.upgrade_from("v3.6.1", "public") == "v3.5.8"
    assert argocd_refs.upgrade_from("v3.6.1", "source") == "v3.5.1"
    assert argocd_refs.upgrade_from("v3.6.0", "source") == "v3.5.1"
    assert argocd_refs.upgrade_from("v3.7.0-0.20261201000000-0123456789ab", "source") == "v3.6.1"
    assert argocd_refs.upgrade_from("v3.5.1", "source") is None
    # and, within the minor (where the source path goes without v3.5.1's source)
    assert argocd_refs.upgrade_from("v3.6.1", "source", across_minors=False) == "v3.6.0"


def test_a_release_candidate_resolves_through_the_module_proxy() -> None:
    release = argocd_refs.release("v3.6.0-rc2")
    assert not release.pinned
    assert release.gitops_engine_version == "v3.6.0-rc2", "the nested module at the same tag"
    assert release.go.startswith("1.27."), "the pinned toolchain of its go.mod's Go minor"
    assert release.helm == pins()["tools"]["helm"]["version"], "the suite's Helm"


def test_an_unknown_ref_is_refused_naming_the_pinned_ones() -> None:
    with pytest.raises(BuildError) as refused:
        argocd_refs.release("no-such-branch-anywhere")
    pinned = ", ".join(sorted(pins()["argocd"]["releases"]))
    assert f"is neither pinned in versions.toml ({pinned})" in str(refused.value)


def test_each_pinned_release_carries_the_helm_its_tool_versions_names() -> None:
    """hack/tool-versions.sh at each tag: HELM_VERSION=4.3.1 (v3.6.x, line 20),
    helm4_version=4.2.1 (v3.5.x, line 14; Helm 4 since v3.5.0, argoproj/argo-cd#28076)."""
    releases = pins()["argocd"]["releases"]
    assert {v: r["helm"] for v, r in releases.items()} == {
        "v3.6.1": "v4.3.1",
        "v3.6.0": "v4.3.1",
        "v3.5.1": "v4.2.1",
        "v3.5.8": "v4.2.1",
    }
    assert argocd_refs.release("v3.6.1").helm == "v4.3.1"
    assert programs.helm("v4.3.1", "1.27.3").packages == ("helm.sh/helm/v4/cmd/helm",)
    assert programs.helm("v3.19.4", "1.26.8").packages == ("helm.sh/helm/v3/cmd/helm",)


def test_the_argocd_image_carries_its_helm_and_the_host_the_same_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bin/helm is among the files the image's recipe digests (a new Helm, a new image),
    copied where the release's Dockerfile puts it; the default release's is the host's."""

    def build(program: GoProgram, *, on_host: bool = False) -> Path:
        out = tmp_path / program.key
        out.mkdir(exist_ok=True)
        return out

    given: dict[str, dict[str, Path]] = {}

    def dockerfile_image(name: str, version: str, **kwargs: dict[str, Path]) -> str:
        given[name] = kwargs.get("files", {})
        return f"{name}:{version}"

    monkeypatch.setattr(gobuild, "build", build)
    monkeypatch.setattr(argocd, "source", lambda version: tmp_path)
    monkeypatch.setattr(argocd, "dockerfile_image", dockerfile_image)
    default = pins()["argocd"]["default"]
    release = argocd_refs.release(default)
    argocd.images(default)
    helm = tmp_path / programs.helm(release.helm, release.go).key / "helm"
    assert given["argocd"]["bin/helm"] == helm
    assert hosttools.helm("source") == helm
    copied = (DOCKERFILES / "argocd/Dockerfile").read_text()
    assert "COPY bin/argocd bin/kustomize bin/helm /usr/local/bin/" in copied
