"""The settings Secret the post mounts, made by the same Application as the Job.

The suite creates the app's Secrets before its first sync ("never in Git"). Many teams
instead ship them with the app (a SealedSecret or ExternalSecret that yields the Secret,
or the Secret itself): a normal resource, applied in the Sync phase, after every PreSync
hook. On the first install the migration's pod then waits for a Secret that cannot exist
before it has finished (argoproj/argo-cd#9891, #7536): the sync hangs until the Job's
deadline, fails, and the Secret is still not there for the next try.

What works: keep the ordering inside the Sync phase, where waves apply one after the
other. The Secret at wave -1, the migration as a Sync hook at wave 0, the Deployment at
wave 1 (gitops-engine/pkg/sync/sync_context.go, Sync: a wave starts once the one before
is done, hooks included). The migration still ends before the rollout begins, and a
`--resource` sync still skips it, as a PreSync hook would be.
"""

from typing import Any

import pytest

from e2e.bookshop import Bookshop
from e2e.timeline import Timeline, job_finished
from e2e.waits import wait_until

pytestmark = [pytest.mark.scenario, pytest.mark.argocd]

SETTINGS = "django-settings"
DEADLINE = 40  # seconds: the hardened Job's activeDeadlineSeconds, shortened for the test
WAVE = "argocd.argoproj.io/sync-wave"


def settings_secret_moved_into_the_app(shop: Bookshop, wave: str | None = None) -> dict[str, Any]:
    """The Secret the suite had created, deleted from the namespace and returned as a
    manifest for the app's release (at a sync wave, if given)."""
    secret = shop.kube.core.read_namespaced_secret(SETTINGS, shop.namespace)
    shop.kube.core.delete_namespaced_secret(SETTINGS, shop.namespace)
    metadata: dict[str, Any] = {"name": SETTINGS}
    if wave is not None:
        metadata["annotations"] = {WAVE: wave}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "data": secret.data}


def test_a_settings_secret_in_the_app_is_not_there_for_the_first_migration(
    deploy_bookshop,
) -> None:
    # Given a fresh namespace, Postgres running, and the settings Secret committed with
    # the app rather than created beforehand
    shop: Bookshop = deploy_bookshop("v1.0", deploy=False)
    secret = settings_secret_moved_into_the_app(shop)

    # When v1.0 syncs for the first time (its Job's deadline shortened)
    sync = shop.sync(
        shop.release(
            "v1.0",
            resources=[secret],
            job_patch={"spec": {"activeDeadlineSeconds": DEADLINE}},
        ),
        timeout=DEADLINE * 4,
    )

    # Then the migration's pod never started, for want of the Secret, and the sync failed
    # at the Job's deadline
    assert sync.phase == "Failed", sync.message
    assert "deadline" in str(sync.hook()).lower(), sync.hook()
    said = shop.event_messages("FailedMount")
    assert any(f'secret "{SETTINGS}" not found' in message for message in said), said
    # And nothing of the Sync phase was applied: no Secret, no Deployment, for the next
    # sync to find either
    assert SETTINGS not in {s.metadata.name for s in shop.secrets()}
    assert shop.deployment() is None


def test_the_secret_at_an_earlier_wave_than_a_sync_phase_migration_installs(
    deploy_bookshop,
) -> None:
    # Given a fresh namespace, Postgres running, and the settings Secret committed with
    # the app at wave -1, the migration a Sync hook at wave 0, the Deployment at wave 1
    shop: Bookshop = deploy_bookshop("v1.0", deploy=False)
    secret = settings_secret_moved_into_the_app(shop, wave="-1")
    revision = shop.release(
        "v1.0",
        resources=[secret],
        job_patch={"metadata": {"annotations": {"argocd.argoproj.io/hook": "Sync", WAVE: "0"}}},
        deployment_patch={"metadata": {"annotations": {WAVE: "1"}}},
    )

    # When v1.0 syncs for the first time
    with Timeline(shop.kube, shop.namespace) as timeline:
        sync = shop.sync(revision)
        wait_until(lambda: shop.rolled_out("v1.0"), 300, "v1.0 to roll out")

    # Then it succeeded: the Secret came first, and the migration ended before the
    # Deployment was created
    assert sync.phase == "Succeeded", sync.message
    assert sync.hook()["hookType"] == "Sync" and sync.hook()["hookPhase"] == "Succeeded"
    job_done = timeline.first("Job", job_finished)
    deployment_created = timeline.first("Deployment", lambda e: e.type == "ADDED")
    assert job_done and deployment_created and job_done.at < deployment_created.at
    # And the app serves v1.0 on a fully migrated schema
    health = shop.health()
    assert health["release"] == "v1.0" and health["pending"] == [], health
