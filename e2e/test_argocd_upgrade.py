"""Before every Argo CD upgrade: does the hook still do what the post relies on?

Argo CD N-1 runs the app's migration: the newest release pinned in the minor before the
session's (v3.5 under v3.6: v3.4 reworked hook finalizers and termination, #25916 and
#26286; v3.6 the operation queue, #28619, and how the operation state is written, #28778).
Argo CD is upgraded in place the way its upgrade docs say (`kubectl apply --server-side
--force-conflicts` of the new release's manifest); then the post's promises are checked
again: a sync replaces the Job and leaves the new one, a failing migration holds the
rollout. Argo CD 3.x puts a finalizer on hook objects
while they run (argocd.argoproj.io/hook-finalizer): one left on a Job would make the next
BeforeHookCreation delete hang.
"""

from collections.abc import Callable, Iterator

import pytest

from e2e import argocd as argocd_install
from e2e.bookshop import Bookshop
from e2e.conftest import Cluster

pytestmark = [pytest.mark.scenario, pytest.mark.argocd, pytest.mark.reinstalls_argocd]


@pytest.fixture
def previous(upgrade_from: str | None, argocd: str, image_path: str) -> str:
    """N-1: an upgrade leg that has none fails, it does not pass by skipping."""
    if upgrade_from is None:
        pytest.fail(
            f"no Argo CD release of a minor before {argocd}'s is pinned for the {image_path} "
            "path in versions.toml: pin one, or give --upgrade-from",
            pytrace=False,
        )
    return upgrade_from


@pytest.fixture
def argocd_at(
    install_argocd: Callable[..., None], argocd: str, cluster: Cluster
) -> Iterator[Callable[[str], None]]:
    """Puts a release in place; afterwards the session's release runs again, whatever
    happened."""

    def at(version: str) -> None:
        install_argocd(version)
        assert argocd_install.running_versions(cluster.kube) == {version}

    yield at
    if argocd_install.running_versions(cluster.kube) != {argocd}:
        install_argocd(argocd)


def jobs_with_hook_finalizer(shop: Bookshop) -> list[str]:
    return [
        job.metadata.name
        for job in shop.migration_jobs()
        if argocd_install.HOOK_FINALIZER in (job.metadata.finalizers or [])
    ]


def test_the_hook_behaves_the_same_after_an_in_place_upgrade(
    previous: str,
    argocd: str,
    argocd_at: Callable[[str], None],
    deploy_bookshop: Callable[..., Bookshop],
) -> None:
    # Given Argo CD N-1, and v2.0 deployed through its hook
    argocd_at(previous)
    shop = deploy_bookshop("v2.0")
    job_of_n_minus_1 = shop.migration_job()
    assert job_of_n_minus_1.status.succeeded == 1

    # When Argo CD is upgraded in place to N
    argocd_at(argocd)

    # Then the upgrade alone ran no sync: the same Job, without a hook finalizer
    assert shop.migration_job().metadata.uid == job_of_n_minus_1.metadata.uid
    assert jobs_with_hook_finalizer(shop) == []

    # And syncing the same revision again replaces the Job, and only the new one is left
    again = shop.sync(shop.app.status()["sync"]["revision"])
    assert again.phase == "Succeeded", again.message
    replaced = shop.migration_job()
    assert replaced.metadata.uid != job_of_n_minus_1.metadata.uid
    assert [j.metadata.uid for j in shop.migration_jobs()] == [replaced.metadata.uid]

    # And a failing migration still holds the rollout and leaves the database as it was
    before, generation = shop.fingerprint(), shop.deployment().metadata.generation
    failed = shop.deploy("v3.0")
    assert failed.phase == "Failed", failed.message
    assert failed.hook()["hookPhase"] == "Failed"
    assert shop.deployment().metadata.generation == generation
    assert shop.fingerprint() == before
    # And no Job is left with a hook finalizer
    assert jobs_with_hook_finalizer(shop) == []
