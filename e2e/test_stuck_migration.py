"""'if the migration job failed or got stuck the main app won't be deployed'

A stuck migration (here: waiting for a lock a test transaction holds, as a forgotten
psql session would) keeps the sync Running and the Deployment untouched. Argo CD has no
timeout of its own for hooks: the hardened Job's activeDeadlineSeconds is what ends it,
or an operator terminating the sync. Terminating stops the migration only if the Job's
script passes SIGTERM on, which the post's does not.
"""

import datetime

import pytest
from kubernetes import client

from e2e.argocd import HOOK_FINALIZER
from e2e.bookshop import Bookshop
from e2e.waits import all_of, holds, stays_true, wait_until

pytestmark = [pytest.mark.scenario, pytest.mark.argocd]

DEADLINE = 20  # seconds: the hardened Job's activeDeadlineSeconds, shortened for the test
DELETED_JOB_DEADLINE = 60  # seconds: long enough to delete the Job and free the lock first
GRACE_PERIOD = 30  # seconds: the migration pod's terminationGracePeriodSeconds (the default)


def terminated_while_waiting(shop: Bookshop) -> list[client.V1Pod]:
    """A v3.1 sync whose migration waits for the held lock, terminated by an operator
    (it ends Failed, "Operation terminated"); the migration's pods, as they were then."""
    sync = shop.start_sync(shop.release("v3.1"))
    wait_until(shop.migration_waiting, 120, "the migration to start and wait")
    pods = shop.migration_pods(shop.migration_job())
    sync.terminate()
    assert (sync.phase, sync.message) == ("Failed", "Operation terminated")
    return pods


def test_a_stuck_migration_holds_the_rollout_until_its_deadline(deploy_bookshop) -> None:
    # Given v2.0 deployed, and a transaction holding a lock the next migration needs
    shop: Bookshop = deploy_bookshop("v2.0")
    generation = shop.deployment().metadata.generation
    before = shop.fingerprint()
    with shop.holding_lock("bookshop_book"):
        # When v3.1 syncs, its Job's deadline shortened to DEADLINE seconds
        sync = shop.start_sync(
            shop.release("v3.1", job_patch={"spec": {"activeDeadlineSeconds": DEADLINE}})
        )
        wait_until(shop.migration_waiting, 120, "the migration to start and wait")
        # Then the sync stays Running and the Deployment untouched while it waits
        job_started = shop.migration_job().status.start_time
        waited = (datetime.datetime.now(datetime.UTC) - job_started).total_seconds()
        stays_true(
            all_of(sync.running, lambda: shop.still_on("v2.0", generation)),
            DEADLINE - waited - 3,  # up to just before the deadline
            "a Running sync with the Deployment untouched",
        )
        # And the Job's deadline, not Argo CD, ends it: the sync fails
        sync.wait(DEADLINE * 3)
    assert sync.phase == "Failed", sync.message
    assert "DeadlineExceeded" in str(sync.hook()) or "deadline" in str(sync.hook()).lower()
    assert holds(shop.still_on("v2.0", generation))
    assert shop.fingerprint() == before


def test_terminating_a_stuck_sync_ends_it_without_touching_the_app(deploy_bookshop) -> None:
    """The hardened script passes SIGTERM on to its running step, so the migration stops
    when Argo CD deletes the Job, well within the pod's grace period, and rolls back."""
    # Given v2.0 deployed, and a transaction holding a lock the next migration needs
    shop: Bookshop = deploy_bookshop("v2.0")
    generation = shop.deployment().metadata.generation
    before = shop.fingerprint()
    with shop.holding_lock("bookshop_book"):
        # When v3.1 syncs (deadline 600 s) and an operator terminates it while it waits
        pods = terminated_while_waiting(shop)
        # Then Argo CD deleted the running hook, and its migration stopped at once
        wait_until(lambda: shop.gone(pods), GRACE_PERIOD - 5, "the migration pod to stop")
        wait_until(shop.migration_job_gone, 60, "Argo CD's deletion of the hook Job")
    # And once the lock is free, nothing was migrated and the app was never touched
    assert holds(shop.still_on("v2.0", generation))
    assert shop.fingerprint() == before


def test_terminating_does_not_stop_the_posts_migration_already_running(
    deploy_bookshop,
) -> None:
    """What the post does not say: its `/bin/bash -c` is the pod's PID 1, which ignores
    SIGTERM. Terminating the sync deletes the Job, but its migration lives on for the
    pod's grace period (30 s) and, if its lock frees up meanwhile, commits: the new
    schema lands under the old version, with no sync to show for it."""
    # Given v2.0 deployed with the post's Job, and a v3.1 sync stuck on a lock, terminated
    shop: Bookshop = deploy_bookshop("v2.0", variant="seed")
    with shop.holding_lock("bookshop_book"):
        pods = terminated_while_waiting(shop)
        # When the lock is released while the terminated pod is still shutting down
        assert not holds(shop.gone(pods)), "the pod was gone already"
    wait_until(lambda: shop.gone(pods), 120, "the migration pod to be gone")

    # Then v3.1's migration was applied anyway, under v2.0's code
    health = shop.health()
    assert health["release"] == "v2.0"
    assert health["migrations"]["bookshop"].startswith("0004"), health


@pytest.mark.cpu_budget(50)
def test_deleting_the_running_migration_job_leaves_the_sync_to_its_deadline(
    deploy_bookshop,
) -> None:
    """An operator deletes the stuck Job by hand (`kubectl delete job`) rather than
    terminating the sync. Argo CD 3.x keeps a finalizer on a hook while it runs
    (argocd.argoproj.io/hook-finalizer), so the Job stays, Terminating, with its pod, and
    the sync, still seeing it, waits on ("is missing, it might have been deleted",
    argoproj/argo-cd#26286, is said only of a hook with no live object left:
    gitops-engine/pkg/sync/sync_context.go, Sync). The migration runs to its end, but a
    Job being deleted no longer counts its pods (Kubernetes'
    pkg/controller/job/job_controller.go: its pods' tracking finalizers go, uncounted), so
    it never completes: the sync fails at the Job's deadline, the new schema in place and
    the old version serving. Without a deadline (the post's Job) it waits for ever."""
    # Given v2.0 deployed, and a v3.1 sync (its Job's deadline shortened) whose migration
    # waits for a held lock
    shop: Bookshop = deploy_bookshop("v2.0")
    generation = shop.deployment().metadata.generation
    deadline = {"spec": {"activeDeadlineSeconds": DELETED_JOB_DEADLINE}}
    with shop.holding_lock("bookshop_book"):
        sync = shop.start_sync(shop.release("v3.1", job_patch=deadline))
        wait_until(shop.migration_waiting, 120, "the migration to start and wait")
        pods = shop.migration_pods(shop.migration_job())
        # When an operator deletes the Job
        shop.kubectl("delete", "job", "db-migration", "-n", shop.namespace, "--wait=false")
        # Then the Job stays, Terminating, held by Argo CD's hook finalizer
        job = shop.migration_job()
        assert job.metadata.deletion_timestamp is not None
        assert HOOK_FINALIZER in (job.metadata.finalizers or []), job.metadata.finalizers
        # And the migration and the sync carry on waiting
        stays_true(all_of(sync.running, shop.migration_waiting), 10, "both still waiting")

    # When the lock is released, and the migration runs to its end
    wait_until(lambda: shop.pods_succeeded(pods), 60, "the migration pod to succeed")
    # Then the Job does not count it, and the sync fails only at the Job's deadline
    assert not (shop.migration_job().status.succeeded or 0)
    sync.wait(DELETED_JOB_DEADLINE * 3)
    assert sync.phase == "Failed", sync.state
    assert "deadline" in sync.hook()["message"], sync.hook()
    # And v3.1's migration is applied, under v2.0, which still serves: the app not rolled out
    assert holds(shop.still_on("v2.0", generation))
    health = shop.health()
    assert health["release"] == "v2.0" and health["migrations"]["bookshop"].startswith("0004")
