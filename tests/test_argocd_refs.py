"""`--argocd-version` on the source path: pinned releases as pinned, anything else the Go
module proxy resolves (how a team tries a release candidate before it ships), unknown
refs refused at once naming the pinned ones."""

import pytest

from images import argocd_refs
from images.errors import BuildError
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


def test_an_unknown_ref_is_refused_naming_the_pinned_ones() -> None:
    with pytest.raises(BuildError) as refused:
        argocd_refs.release("no-such-branch-anywhere")
    pinned = ", ".join(sorted(pins()["argocd"]["releases"]))
    assert f"is neither pinned in versions.toml ({pinned})" in str(refused.value)
