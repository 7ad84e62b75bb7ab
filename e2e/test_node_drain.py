"""What the post does not cover: a node drained while the migration runs.

`backoffLimit: 0` gives the migration one attempt, so a pod lost for a reason that has
nothing to do with the migration (a node drained for an upgrade, an eviction, a
preemption) would fail the hook and block the release. The hardened Job's
podFailurePolicy ignores pods that end with the DisruptionTarget condition: the Job
starts the migration again without counting the lost attempt, which Postgres rolled back
(Django runs each migration in a transaction), while a failing migration still fails at
once (test_seed_script.py).
"""

import pytest

from e2e.bookshop import Bookshop
from e2e.waits import holds, wait_until

pytestmark = [pytest.mark.scenario, pytest.mark.argocd]


def test_a_migration_evicted_by_a_node_drain_starts_again_and_the_deploy_goes_on(
    deploy_bookshop,
) -> None:
    # Given v2.0 deployed, and a v3.1 sync whose migration waits for a lock
    shop: Bookshop = deploy_bookshop("v2.0")
    with shop.holding_lock("bookshop_book"):
        sync = shop.start_sync(shop.release("v3.1"))
        wait_until(shop.migration_waiting, 120, "the migration to start and wait")
        job = shop.migration_job()
        evicted = shop.migration_pods(job)

        # When a node drain evicts the migration's pod
        shop.evict(evicted[0])

        # Then the same Job starts the migration again, and the sync goes on
        wait_until(lambda: shop.gone(evicted), 120, "the evicted pod to be gone")
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
