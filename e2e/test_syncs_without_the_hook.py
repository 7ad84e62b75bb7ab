"""Syncs that skip the hook: where the post's promise, no new version before its
migration, does not hold.

The controller runs no hooks for a sync that names its resources (controller/sync.go,
SyncAppState: `syncOp.IsApplyStrategy() || len(syncOp.Resources) > 0` as skipHooks, v3.6.1
and v3.6.0). Two everyday syncs name them: `argocd app sync --resource …`, and self-heal,
which syncs only the resources that drifted (controller/appcontroller.go, autoSync:
`op.Sync.Resources` are the ones not Synced). `--apply-out-of-sync-only` is not one of
them: it leaves out resources that are in sync, never hooks
(gitops-engine/pkg/sync/sync_context.go, filterOutOfSyncTasks).
"""

import pytest

from e2e.bookshop import Bookshop
from e2e.waits import Outcome, pending, succeeded, wait_until

pytestmark = [pytest.mark.scenario, pytest.mark.argocd]

V3_MIGRATION = "bookshop.0004_unique_book_slugs"


def test_syncing_only_the_deployment_rolls_out_new_code_without_its_migration(
    deploy_bookshop,
) -> None:
    # Given v2.0 deployed
    shop: Bookshop = deploy_bookshop("v2.0")
    v2_job = shop.migration_job().metadata.uid

    # When v3.1 is committed and only its Deployment synced,
    # `argocd app sync --resource apps:Deployment:django`
    revision = shop.release("v3.1")
    sync = shop.sync(revision, "--resource", "apps:Deployment:django")

    # Then the sync succeeded with no hook: the Job is still v2.0's
    assert sync.phase == "Succeeded", sync.message
    assert sync.hook() is None, sync.state["syncResult"]
    assert shop.migration_job().metadata.uid == v2_job
    # And v3.1's code rolled out on v2.0's schema, its migration not applied
    wait_until(lambda: shop.rolled_out("v3.1"), 300, "v3.1 to roll out")
    health = shop.health()
    assert health["release"] == "v3.1" and health["pending"] == [V3_MIGRATION], health
    # And Argo CD shows the app Synced and Healthy all the same (a hook is not compared)
    wait_until(shop.app.healthy_and_synced, 120, "the app to be Synced/Healthy")

    # When the same revision is synced with `--apply-out-of-sync-only`
    again = shop.sync(revision, "--apply-out-of-sync-only")

    # Then the hook ran, in a new Job, though no resource was out of sync
    assert again.phase == "Succeeded", again.message
    assert again.hook()["hookPhase"] == "Succeeded", again.state["syncResult"]
    assert shop.migration_job().metadata.uid != v2_job
    # And v3.1's migration is applied at last
    health = shop.health()
    assert health["pending"] == [] and health["migrations"]["bookshop"].startswith("0004")


def test_self_heal_syncs_the_drifted_deployment_without_the_hook(deploy_bookshop) -> None:
    # Given v2.0 deployed, and auto-sync with self-heal on
    shop: Bookshop = deploy_bookshop("v2.0")
    job = shop.migration_job().metadata.uid
    shop.enable_auto_sync("--self-heal")

    # When someone scales the live Deployment by hand (a field the manifests set: a field
    # they leave out, such as an extra env var, is not drift to Argo CD's diff)
    shop.kubectl("scale", "-n", shop.namespace, "deployment/django", "--replicas=2")

    # Then Argo CD heals it with an automated sync that names its resources: the drifted
    # Deployment, and the hook Job (a hook has no sync status, so it counts as not Synced)
    wait_until(lambda: healed(shop), 180, "self-heal to undo the hand edit")
    state = shop.app.operation_state()
    assert state["phase"] == "Succeeded", state
    named = state["operation"]["sync"]["resources"]
    assert sorted(r["kind"] for r in named) == ["Deployment", "Job"], named
    # And, naming resources, it skipped hooks: only the Deployment was applied, the Job is
    # the same one
    assert [r["kind"] for r in state["syncResult"]["resources"]] == ["Deployment"], state
    assert shop.migration_job().metadata.uid == job


def healed(shop: Bookshop) -> Outcome:
    """A self-heal sync has ended, and the hand edit is gone from the Deployment."""
    state = shop.app.operation_state()
    automated = state.get("operation", {}).get("initiatedBy", {}).get("automated")
    edited = shop.deployment().spec.replicas != 1
    if automated and state.get("phase") in ("Succeeded", "Failed", "Error") and not edited:
        return succeeded("self-healed")
    return pending(
        f"a self-heal, is {state.get('phase')} (automated: {automated}, edited: {edited})"
    )
