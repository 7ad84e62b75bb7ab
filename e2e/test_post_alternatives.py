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


def no_migration_job(shop: Bookshop) -> Outcome:
    job = shop.migration_job()
    return (
        succeeded("no db-migration Job")
        if job is None
        else pending(f"the db-migration Job to be gone, is there (uid {job.metadata.uid})")
    )


def test_hook_succeeded_leaves_nothing_to_read_after_a_success(deploy_bookshop) -> None:
    # Given a fresh namespace, the Job's delete policy HookSucceeded from the start
    # (switching a live app's policy away from BeforeHookCreation leaves the old Job in
    # place, and the next sync fails on its immutable template)
    shop: Bookshop = deploy_bookshop("v1.0", deploy=False)
    patch = {"metadata": {"annotations": {DELETE_POLICY: "HookSucceeded"}}}

    for release in ("v1.0", "v2.0"):
        # When a release syncs
        sync = shop.deploy(release, job_patch=patch)
        # Then the migration ran, and its Job (and logs) went with the success
        assert sync.phase == "Succeeded", sync.message
        assert sync.hook()["hookPhase"] == "Succeeded"
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
