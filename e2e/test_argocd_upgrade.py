"""Before every Argo CD upgrade: does the hook still do what the post relies on?

N-1 is the newest release pinned in the minor before the session's (v3.5 under v3.6: v3.4
reworked hook finalizers and termination, #25916 and #26286; v3.6 the operation queue,
#28619, and how the operation state is written, #28778). Argo CD is upgraded in place the
way its upgrade docs say (`kubectl apply --server-side --force-conflicts` of the new
release's manifest); then the post's promises are checked again: a sync replaces the Job
and leaves the new one, a failing migration holds the rollout. Argo CD 3.x puts a
finalizer on hook objects while they run (argocd.argoproj.io/hook-finalizer): one left on
a Job would make the next BeforeHookCreation delete hang.

Upgrades happen while applications sync: a migration waiting on a lock when the new
controller takes over is picked up from the Application's status (as after a restart,
e2e/test_the_controller.py). And teams roll a failed upgrade back: the same promises hold
under N-1 put back over N.
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client

from e2e import argocd as argocd_install
from e2e import upgrade_report
from e2e.bookshop import Bookshop
from e2e.conftest import Cluster
from e2e.in_flight import (
    commit_and_let_its_migration_wait,
    ended_on_the_same_job,
    next_commit_auto_syncs_in_a_new_job,
)
from harness.plugin import Options

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


@pytest.mark.cpu_budget(240)
def test_an_upgrade_leaves_an_idle_app_be_and_finishes_a_migration_in_flight_under_n(
    previous: str,
    argocd: str,
    argocd_at: Callable[[str], None],
    deploy_bookshop: Callable[..., Bookshop],
    options: Options,
) -> None:
    """An upgrade meets apps in every state: one idle, one mid-migration. On the way, the
    upgrade report: the hook's figures on N-1 and on N, side by side."""
    # Given Argo CD N-1, and an idle app at v2.0, deployed through its hook
    argocd_at(previous)
    idle = deploy_bookshop("v2.0")
    job_of_n_minus_1 = idle.migration_job()
    assert job_of_n_minus_1.status.succeeded == 1
    # And the hook measured on N-1, in an app of its own
    on_previous = upgrade_report.measure(deploy_bookshop("v2.0"), previous)
    # And an app with auto-sync on, and a transaction holding a lock v3.1's migration needs
    busy = deploy_bookshop("v2.0")
    busy.enable_auto_sync()
    with busy.holding_lock("bookshop_book"):
        # And v3.1 committed, its migration waiting on the lock
        v3_1 = commit_and_let_its_migration_wait(busy, "v3.1")
        # When Argo CD is upgraded in place to N
        argocd_at(argocd)
    # And the lock frees

    # Then the upgrade ran no sync of the idle app: the same Job is there
    assert idle.migration_job().metadata.uid == job_of_n_minus_1.metadata.uid
    # And the operation in flight ends under N, having waited on that same Job (its
    # completion, a change of a managed resource, queues the operation: controller/
    # appcontroller.go, handleObjectUpdated; at the latest the Application's resync does)
    ended_on_the_same_job(busy, v3_1, timeout=400)
    # And no hook finalizer is left on anything in either app's namespace
    assert objects_with_hook_finalizer(idle) == objects_with_hook_finalizer(busy) == []
    # And the next commit still auto-syncs, its migration in a new Job
    next_commit_auto_syncs_in_a_new_job(busy, v3_1, "v4.0")
    # And on the idle app the hook does what it did (a failing migration holds the
    # rollout, the next release replaces the Job), measured as on N-1: the upgrade report
    on_current = upgrade_report.measure(idle, argocd)
    upgrade_report.write(on_previous, on_current, Path(options.artifacts_dir))
    assert objects_with_hook_finalizer(idle) == []


@pytest.mark.cpu_budget(70)
def test_after_a_downgrade_the_hook_behaves_the_same(
    previous: str,
    argocd: str,
    argocd_at: Callable[[str], None],
    deploy_bookshop: Callable[..., Bookshop],
) -> None:
    """A team rolls a failed upgrade back: N-1 put in place over N, the same way."""
    # Given Argo CD N, and v2.0 deployed through its hook
    shop = deploy_bookshop("v2.0")
    job_of_n = shop.migration_job()

    # When Argo CD is downgraded in place to N-1
    argocd_at(previous)

    # Then the hook does what it did: a re-sync replaces the Job, a failing migration
    # holds the rollout
    the_hook_still_replaces_the_job_and_holds_a_failing_rollout(shop, job_of_n)
    # And no Job is left with a hook finalizer
    assert objects_with_hook_finalizer(shop) == []


def the_hook_still_replaces_the_job_and_holds_a_failing_rollout(
    shop: Bookshop, job_before: client.V1Job
) -> None:
    """Syncing the same revision again replaces the Job, and only the new one is left; a
    failing migration (v3.0) holds the rollout and leaves the database as it was."""
    again = shop.sync(shop.app.status()["sync"]["revision"])
    assert again.phase == "Succeeded", again.message
    replaced = shop.migration_job()
    assert replaced.metadata.uid != job_before.metadata.uid
    assert [j.metadata.uid for j in shop.migration_jobs()] == [replaced.metadata.uid]

    before, generation = shop.fingerprint(), shop.deployment().metadata.generation
    failed = shop.deploy("v3.0")
    assert failed.phase == "Failed", failed.message
    assert failed.hook()["hookPhase"] == "Failed"
    assert shop.deployment().metadata.generation == generation
    assert shop.fingerprint() == before


def objects_with_hook_finalizer(shop: Bookshop) -> list[str]:
    """Jobs and pods of the app's namespace that still carry Argo CD's hook finalizer."""
    jobs = shop.kube.batch.list_namespaced_job(shop.namespace).items
    pods = shop.kube.core.list_namespaced_pod(shop.namespace).items
    return [
        f"{kind}/{item.metadata.name}"
        for kind, items in (("job", jobs), ("pod", pods))
        for item in items
        if argocd_install.HOOK_FINALIZER in (item.metadata.finalizers or [])
    ]
