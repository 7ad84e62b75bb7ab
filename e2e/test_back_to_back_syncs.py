"""Syncs back to back: does every sync run its own migration before its own rollout?

argoproj/argo-cd#25475 and #22795 report PreSync hooks skipped when syncs follow each
other closely. What a sync waits for decides what "back to back" means: with a PreSync
hook, the sync waits for the hook, then applies the Deployment and, that being its last
wave with no hook in it, ends at once: "successfully synced (all tasks run)"
(gitops-engine/pkg/sync/sync_context.go, Sync), while the rollout has only begun. So the
next release can sync, and migrate, while the release before the previous one still
serves. The two-step drop of test_dropping_a_column.py holds only if each step has
rolled out before the next is committed.
"""

import pytest

from e2e.bookshop import Bookshop
from e2e.timeline import Event, Timeline, image_of, is_web, job_finished
from e2e.waits import holds, wait_until

pytestmark = [pytest.mark.scenario, pytest.mark.argocd]

SLOW_ROLLOUT = {"spec": {"minReadySeconds": 45}}  # a new pod counts as available after 45 s


@pytest.mark.cpu_budget(55)
def test_a_release_committed_while_the_previous_rolls_out_migrates_under_the_one_before(
    deploy_bookshop,
) -> None:
    # Given v3.1 deployed with auto-sync on, its code reading the `year` column
    shop: Bookshop = deploy_bookshop("v3.1")
    shop.enable_auto_sync()
    v3_job = shop.migration_job().metadata.uid

    with Timeline(shop.kube, shop.namespace) as timeline, shop.probing() as probe:
        # When v4.0 (which stops reading `year`) is committed, its rollout slow
        v4_0 = shop.release("v4.0", deployment_patch=SLOW_ROLLOUT)
        shop.app.refresh()
        wait_until(lambda: shop.app.operation_ended(v4_0), 300, "v4.0's auto-sync to end")
        # Then its sync has ended while its rollout goes on
        assert shop.app.operation_state()["phase"] == "Succeeded"
        assert not holds(shop.rolled_out("v4.0")), "v4.0 rolled out within its sync"

        # When v4.1 (which drops `year`) is committed at once
        v4_1 = shop.release("v4.1", deployment_patch=SLOW_ROLLOUT)
        shop.app.refresh()
        wait_until(lambda: shop.app.operation_ended(v4_1), 300, "v4.1's auto-sync to end")
        wait_until(lambda: shop.rolled_out("v4.1"), 300, "v4.1 to roll out")

    # Then each sync ran its own migration, in a new Job, before its own rollout
    jobs = timeline.appeared("Job", besides=v3_job)
    assert [image_of(job).rpartition(":")[2] for job in jobs] == ["v4.0", "v4.1"]
    for job in jobs:
        tag = image_of(job).rpartition(":")[2]
        finished = timeline.of_object("Job", job.uid, job_finished)
        rollout = timeline.first("ReplicaSet", lambda e, t=tag: is_web(e) and serves(e, t))
        assert finished and rollout and finished.at < rollout.at, (tag, finished, rollout)
    # But v4.1's migration dropped the column while v3.1 still served, two releases back,
    # and v3.1 failed requests until it was replaced
    dropped = timeline.of_object("Job", jobs[1].uid, job_finished)
    assert v3_1_serving_at(timeline, dropped.at), "v3.1 was gone before v4.1's migration"
    assert "500" in probe.statuses, probe.answers


def test_a_manual_sync_the_moment_a_sync_ends_runs_its_own_hook(deploy_bookshop) -> None:
    # Given v2.0 deployed
    shop: Bookshop = deploy_bookshop("v2.0")
    v2_job = shop.migration_job().metadata.uid

    with Timeline(shop.kube, shop.namespace) as timeline:
        # When v3.1 syncs, and v4.0 is synced (`argocd app sync`) the moment it ends
        first = shop.sync(shop.release("v3.1"))
        second = shop.sync(shop.release("v4.0"))
        wait_until(lambda: shop.rolled_out("v4.0"), 300, "v4.0 to roll out")

    # Then both succeeded, each hook in a Job of its own that ran before its rollout
    assert (first.phase, second.phase) == ("Succeeded", "Succeeded"), (first.state, second.state)
    assert first.hook()["hookPhase"] == second.hook()["hookPhase"] == "Succeeded"
    jobs = timeline.appeared("Job", besides=v2_job)
    assert [image_of(job).rpartition(":")[2] for job in jobs] == ["v3.1", "v4.0"]
    v4_job = timeline.of_object("Job", jobs[1].uid, job_finished)
    v4_rollout = timeline.first("ReplicaSet", lambda e: is_web(e) and serves(e, "v4.0"))
    assert v4_job and v4_rollout and v4_job.at < v4_rollout.at


def serves(event: Event, tag: str) -> bool:
    return image_of(event).endswith(f":{tag}")


def v3_1_serving_at(timeline: Timeline, at: float) -> bool:
    """Some v3.1 web pod was Ready, and not shutting down, at `at` (its last event before)."""
    last: dict[str, Event] = {}
    for event in timeline.of("Pod"):
        if event.at <= at and is_web(event) and serves(event, "v3.1"):
            last[event.uid] = event
    return any(
        event.type != "DELETED"
        and event.obj.metadata.deletion_timestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in event.obj.status.conditions or [])
        for event in last.values()
    )
