"""What the post does not cover: a node drained while the migration runs.

`backoffLimit: 0` gives the migration one attempt, so a pod lost for a reason that has
nothing to do with the migration (a node drained for an upgrade, an eviction, a
preemption) fails the hook and blocks the release. The hardened Job's podFailurePolicy
ignores pods that end with the DisruptionTarget condition: the Job starts the migration
again without counting the lost attempt, which Postgres rolled back (Django runs each
migration in a transaction), while a failing migration still fails at once
(test_seed_script.py).
"""

from typing import Any

import pytest
from kubernetes import client

from e2e.application import Sync
from e2e.bookshop import Bookshop
from e2e.kube import condition
from e2e.waits import holds, wait_until

pytestmark = [pytest.mark.scenario, pytest.mark.argocd]

# The hardened Job with backoffLimit 0 and nothing else: no podFailurePolicy.
BACKOFF_LIMIT_0_ALONE = {"spec": {"podFailurePolicy": None}}


def evicted_while_waiting(shop: Bookshop, **release: Any) -> tuple[Sync, list[client.V1Pod]]:
    """A v3.1 sync whose migration waits for the held lock, its pod evicted as a node
    drain does; the sync, and the migration's pods as they were then."""
    sync = shop.start_sync(shop.release("v3.1", **release))
    wait_until(shop.migration_waiting, 120, "the migration to start and wait")
    pods = shop.migration_pods(shop.migration_job())
    shop.evict(pods[0])
    wait_until(lambda: shop.gone(pods), 120, "the evicted pod to be gone")
    return sync, pods


def test_a_migration_evicted_by_a_node_drain_starts_again_and_the_deploy_goes_on(
    deploy_bookshop,
) -> None:
    # Given v2.0 deployed, and a v3.1 sync whose migration waits for a lock
    shop: Bookshop = deploy_bookshop("v2.0")
    with shop.holding_lock("bookshop_book"):
        # When a node drain evicts the migration's pod
        sync, evicted = evicted_while_waiting(shop)
        job = shop.migration_job()

        # Then the same Job starts the migration again, and the sync goes on
        assert evicted[0].metadata.owner_references[0].uid == job.metadata.uid
        wait_until(shop.migration_waiting, 120, "a new migration pod to start and wait")
        assert shop.migration_job().metadata.uid == job.metadata.uid
        assert holds(sync.running())

    # And once the lock is free, the migration completes and v3.1 rolls out
    sync.wait(300)
    assert sync.phase == "Succeeded", sync.message
    wait_until(lambda: shop.rolled_out("v3.1"), 300, "v3.1 to roll out")
    with shop.web() as web:
        _, health = web.get_json("/healthz")
    assert health["release"] == "v3.1" and health["pending"] == [], health


def test_with_backoff_limit_0_alone_a_node_drain_fails_the_deploy(deploy_bookshop) -> None:
    """Why the hardened Job has a podFailurePolicy: without it the evicted pod is the
    Job's one attempt."""
    # Given v2.0 deployed, and a transaction holding a lock the next migration needs
    shop: Bookshop = deploy_bookshop("v2.0")
    generation = shop.deployment().metadata.generation
    before = shop.fingerprint()
    with shop.holding_lock("bookshop_book"):
        # When v3.1 syncs with a Job that has backoffLimit 0 but no podFailurePolicy,
        # and a node drain evicts the migration's pod
        sync, _ = evicted_while_waiting(shop, job_patch=BACKOFF_LIMIT_0_ALONE)
        # Then the Job fails without a second attempt, and so does the sync
        sync.wait(120)
    assert sync.phase == "Failed", sync.message
    assert sync.hook()["hookPhase"] == "Failed", sync.hook()
    job = shop.migration_job()
    failure = condition(job, "Failed")
    assert failure and failure.reason == "BackoffLimitExceeded", job.status
    assert job.status.failed == 1, job.status
    assert shop.migration_pods(job) == [], "the Job started the migration again"
    # And the app stays on v2.0 and its schema, though nothing was wrong with v3.1
    assert holds(shop.still_on("v2.0", generation))
    assert shop.fingerprint() == before
