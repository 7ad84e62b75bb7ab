"""How long a broken release holds the rollout before its sync fails.

The post's Job leaves backoffLimit unset, so Kubernetes retries a failed migration six
times with exponential back-off; Argo CD's PreSync phase waits for the Job all along.
The hardened Job fails at the first error. Both legs: v2.0 deployed, broken v3.0 synced.

Every run sees the retry and the held rollout; measuring the whole hold takes about 11
minutes, so that runs with --measure-time-to-fail (CI, the nightly runs, the benchmark).
"""

from pathlib import Path

import pytest
from kubernetes import client

from e2e import timetofail
from e2e.bookshop import Bookshop
from e2e.kube import condition
from e2e.waits import Outcome, holds, pending, succeeded, wait_until
from harness.plugin import Options

pytestmark = [pytest.mark.scenario, pytest.mark.argocd]

BACKOFF = 10  # seconds: Kubernetes' back-off before a failed Job's first retry


def test_with_the_default_backoff_a_failed_migration_runs_again_while_the_rollout_waits(
    deploy_bookshop,
) -> None:
    # Given v2.0 deployed
    shop: Bookshop = deploy_bookshop("v2.0")
    generation = shop.deployment().metadata.generation
    # When broken v3.0 syncs with the post's backoffLimit (unset: Kubernetes' 6)
    sync = shop.start_sync(shop.release("v3.0", job_patch=timetofail.DEFAULT_BACKOFF))
    first, second = failed_attempts(shop, 2)
    # Then the migration failed and ran again, after a back-off
    ended = first.status.container_statuses[0].state.terminated.finished_at
    assert (second.metadata.creation_timestamp - ended).total_seconds() >= BACKOFF - 2
    # And the Job has not failed, the sync still waits on it, and v2.0 serves on
    assert condition(shop.migration_job(), "Failed") is None
    assert holds(sync.running()), sync.message
    assert holds(shop.still_on("v2.0", generation))
    assert holds(shop.rolled_out("v2.0"))
    sync.terminate()  # rather than wait the remaining ten minutes of back-off


def failed_attempts(shop: Bookshop, count: int) -> list[client.V1Pod]:
    """The migration's first `count` failed pods, oldest first, once there are as many."""
    seen: list[client.V1Pod] = []

    def failed_pods() -> Outcome:
        job = shop.migration_job()
        pods = shop.migration_pods(job) if job else []
        seen[:] = [pod for pod in pods if pod.status.phase == "Failed"]
        if len(seen) >= count:
            return succeeded(f"{len(seen)} failed attempts")
        return pending(f"{count} failed attempts, seen {[p.status.phase for p in pods]}")

    wait_until(failed_pods, 180, f"{count} failed attempts of the migration")
    return sorted(seen, key=lambda pod: pod.metadata.creation_timestamp)[:count]


@pytest.mark.starts_early
@pytest.mark.measures_time_to_fail
def test_how_long_a_failing_migration_holds_the_rollout(
    time_to_fail_legs: dict[str, timetofail.Leg], options: Options
) -> None:
    for leg in time_to_fail_legs.values():
        leg.join(timeout=timetofail.TIMEOUT)
        assert not leg.is_alive(), f"{leg.label}: still running after {timetofail.TIMEOUT}s"
        if leg.error:
            raise leg.error
    timetofail.report(time_to_fail_legs, Path(options.artifacts_dir))
    default, hardened = time_to_fail_legs["default (6)"], time_to_fail_legs["hardened (0)"]
    for leg in (default, hardened):
        print(f"\n{leg.label}: rollout held {leg.held:.0f} s by {leg.failed_pods} failed pod(s)")
        # Then each sync failed, and the old version stayed
        assert leg.phase == "Failed" and leg.still_on_v2
    # And the default retried (6 failed attempts counted when the Job failed, against 1),
    # holding the rollout many times longer
    assert hardened.failed_pods == 1
    assert default.failed_pods >= 6
    assert default.held > 5 * hardened.held
