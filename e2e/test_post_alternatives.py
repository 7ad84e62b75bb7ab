"""The alternatives the post's first paragraph weighs against hooks, run for real.

"A new job with the same name can't be deployed on top of the existing one ... Since
Kubernetes 1.23, a TTL can be set for a job so it will be cleaned up" -- and what the
post likes about BeforeHookCreation: "The migration job is always visible there until
next deploy". Each alternative loses something the hook keeps.
"""

import pytest

from e2e.bookshop import Bookshop
from e2e.waits import Outcome, pending, succeeded, wait_until

pytestmark = [pytest.mark.scenario, pytest.mark.argocd]

HOOK = "argocd.argoproj.io/hook"
DELETE_POLICY = "argocd.argoproj.io/hook-delete-policy"
HOOK_SUCCEEDED = {"metadata": {"annotations": {DELETE_POLICY: "HookSucceeded"}}}


def no_migration_job(shop: Bookshop) -> Outcome:
    job = shop.migration_job()
    return (
        succeeded("no db-migration Job")
        if job is None
        else pending(f"the db-migration Job to be gone, is there (uid {job.metadata.uid})")
    )


def test_hook_succeeded_leaves_nothing_to_read_after_a_success(deploy_bookshop) -> None:
    # Given a fresh namespace, the Job's delete policy HookSucceeded from the start
    # (on a live app the switch fails the next sync: the test below)
    shop: Bookshop = deploy_bookshop("v1.0", deploy=False)
    patch = HOOK_SUCCEEDED

    for release in ("v1.0", "v2.0"):
        # When a release syncs
        sync = shop.deploy(release, job_patch=patch)
        # Then the migration ran, and its Job (and logs) went with the success
        assert sync.phase == "Succeeded", sync.message
        assert sync.hook()["hookPhase"] == "Succeeded"
        wait_until(lambda: no_migration_job(shop), 60, "the succeeded hook to be deleted")


def test_switching_a_live_app_to_hook_succeeded_fails_the_next_sync(deploy_bookshop) -> None:
    """A live hook is deleted before it is made again only under BeforeHookCreation, read
    from the new manifest (gitops-engine pkg/sync/sync_task.go, deleteBeforeCreation):
    with HookSucceeded alone, the last sync's Job stays and the new one is applied over it."""
    # Given v1.0 deployed with the post's BeforeHookCreation, its Job still there
    shop: Bookshop = deploy_bookshop("v1.0")
    old_job = shop.migration_job().metadata.uid

    # When v2.0 is committed with the Job's delete policy switched to HookSucceeded
    sync = shop.deploy("v2.0", job_patch=HOOK_SUCCEEDED)

    # Then the sync fails applying the hook over v1.0's Job: its template is immutable
    assert sync.phase == "Failed", sync.message
    assert "field is immutable" in str(sync.state), sync.state
    # And v1.0's Job is still there, and v1.0 serves on
    assert shop.migration_job().metadata.uid == old_job
    assert shop.health()["release"] == "v1.0"

    # When the old Job is deleted by hand (`kubectl delete job`, which waits until it is
    # gone), the way out, and the release synced again
    shop.kubectl("delete", "job", "db-migration", "-n", shop.namespace)
    again = shop.deploy("v2.0", job_patch=HOOK_SUCCEEDED)
    # Then v2.0 migrates and rolls out, and its Job goes with its success
    assert again.phase == "Succeeded", again.message
    assert shop.health()["release"] == "v2.0"
    wait_until(lambda: no_migration_job(shop), 60, "the succeeded hook to be deleted")


def test_a_plain_job_with_a_fixed_name_fails_the_second_sync(deploy_bookshop) -> None:
    # Given the migration as a plain Job (no hook annotations), deployed once
    shop: Bookshop = deploy_bookshop("v1.0", deploy=False)
    plain = {"metadata": {"annotations": {HOOK: None, DELETE_POLICY: None}}}
    first = shop.deploy("v1.0", job_patch=plain)
    assert first.phase == "Succeeded", first.message
    assert first.hook() is None  # synced as an ordinary resource, not a hook

    # When the next release changes the Job's image
    second = shop.deploy("v2.0", job_patch=plain)

    # Then applying it fails: a Job's pod template is immutable
    assert second.phase == "Failed"
    assert "field is immutable" in str(second.state), second.message


def test_a_ttl_removes_the_job_before_the_next_deploy(deploy_bookshop) -> None:
    # Given the app deployed, its Job with a short TTL after finishing
    shop: Bookshop = deploy_bookshop("v1.0")
    ttl = {"spec": {"ttlSecondsAfterFinished": 5}}

    # When v2.0 syncs
    sync = shop.deploy("v2.0", job_patch=ttl)

    # Then the Job is gone soon after, long before any next deploy
    assert sync.phase == "Succeeded", sync.message
    wait_until(lambda: no_migration_job(shop), 60, "the Job's TTL to remove it")
