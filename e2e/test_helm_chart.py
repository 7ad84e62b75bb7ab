"""The bookshop from its Helm chart (manifests/chart/bookshop), its migration Job a Helm
hook (`helm.sh/hook`) that Argo CD renders and runs itself: no `helm install`, no Helm
release, the hook read as an Argo CD hook phase (gitops-engine pkg/sync/hook/helm:
pre-install and pre-upgrade are PreSync, post-install and post-upgrade PostSync; Argo CD
has no install and no upgrade, only syncs). A release is a commit of the chart's values
(image.tag), as users (or their CI) commit it.
"""

from collections.abc import Callable
from typing import Any

import pytest

from e2e.application import Sync
from e2e.bookshop import CHART, Bookshop
from e2e.kube import condition
from e2e.timeline import INF, Event, Timeline, job_finished, migration_then_deployment, web_pod
from e2e.waits import holds, wait_until

pytestmark = [pytest.mark.scenario, pytest.mark.argocd]

HOOK_FINALIZER = "argocd.argoproj.io/hook-finalizer"
HELM_RELEASE_SECRET = "sh.helm.release.v1."


def hook_phases(sync: Sync) -> list[tuple[str, str]]:
    """(hookType, hookPhase) of each run of the migration hook in this sync, in order."""
    return sorted((h["hookType"], h["hookPhase"]) for h in sync.hooks())


def test_the_helm_hook_migrates_before_the_first_install(deploy_bookshop) -> None:
    # Given a fresh namespace, its settings Secret and database, and the chart committed
    # at v1.0, its Job a Helm hook (pre-install,pre-upgrade)
    shop: Bookshop = deploy_bookshop("v1.0", variant=CHART, deploy=False)
    with Timeline(shop.kube, shop.namespace) as timeline:
        # When Argo CD syncs it
        sync = shop.deploy("v1.0")

    # Then Argo CD ran the Helm hook once, as a PreSync hook
    assert sync.phase == "Succeeded", sync.message
    assert hook_phases(sync) == [("PreSync", "Succeeded")]
    # And the Job completed before the Deployment existed
    job_done, deployment_created = migration_then_deployment(timeline)
    assert job_done < deployment_created < INF, (job_done, deployment_created)
    # And v1.0 serves its fixtures
    with shop.web() as web:
        status, books = web.get_json("/api/books")
    assert status == 200 and len(books["books"]) == 5
    # And there is no Helm release: Argo CD rendered the chart and applied it itself
    assert not [s for s in shop.secrets() if s.metadata.name.startswith(HELM_RELEASE_SECRET)]


def test_a_failing_helm_hook_keeps_the_old_version_serving(deploy_bookshop) -> None:
    # Given v2.0 deployed from the chart
    shop: Bookshop = deploy_bookshop("v2.0", variant=CHART)
    deployed = shop.app.status()["sync"]["revision"]
    before = shop.served()

    # When v3.0, whose migration fails on Postgres, syncs, while clients keep calling
    with shop.probing() as probe:
        sync = shop.deploy("v3.0")

    # Then the sync failed on the hook, and the Deployment was never touched
    assert sync.phase == "Failed", sync.message
    assert hook_phases(sync) == [("PreSync", "Failed")]
    assert holds(shop.still_on("v2.0", before.generation))
    # And v2.0 kept answering, without one error, its ReplicaSets and database as they were
    assert probe.total > 0 and probe.errors == [], probe.errors[:5]
    assert shop.served() == before
    # And the failed Job and its logs are there to read
    assert condition(shop.migration_job(), "Failed")
    assert "IntegrityError" in shop.job_logs()
    # And `argocd app history` lists v2.0's deployment only: a failed sync is not recorded
    # (controller/sync.go SyncAppState: persistRevisionHistory on success only)
    assert list(shop.app.history()) == [deployed[:7]]


POST_INSTALL = {"migration": {"helmHook": "post-install,pre-upgrade"}}


def test_post_install_pre_upgrade_migrates_twice_in_every_sync(
    deploy_bookshop, record_property: Callable[[str, object], None]
) -> None:
    """Helm runs such a hook once: after the objects on an install, before them on an
    upgrade. Argo CD knows no install or upgrade: the Job is a PreSync and a PostSync
    hook of every sync, the first install's included."""
    # Given the chart at v1.0 committed, its Job's hook post-install,pre-upgrade
    shop: Bookshop = deploy_bookshop("v1.0", variant=CHART, chart_values=POST_INSTALL, deploy=False)
    before = None
    for release in ("v1.0", "v2.0"):
        with Timeline(shop.kube, shop.namespace) as timeline:
            # When the release syncs (to Helm the first an install, the next an upgrade)
            sync = shop.deploy(release)

        # Then the migration ran twice, as a PreSync and as a PostSync hook
        assert sync.phase == "Succeeded", sync.message
        assert hook_phases(sync) == [("PostSync", "Succeeded"), ("PreSync", "Succeeded")]
        jobs = [e for e in timeline.appeared("Job") if e.uid != before]
        assert len(jobs) == 2, [(e.name, e.uid, round(e.at, 1)) for e in jobs]
        pre, post = jobs
        # The PreSync one before the release's pods, the PostSync one after they were ready
        pre_done = timeline.of_object("Job", pre.uid, job_finished)
        pre_gone = timeline.of_object("Job", pre.uid, lambda e: e.type == "DELETED")
        post_done = timeline.of_object("Job", post.uid, job_finished)
        new_pods = timeline.first("Pod", web_pod(release))
        ready = timeline.first("Pod", web_pod(release, ready=True))
        assert pre_done and pre_gone and post_done and new_pods and ready
        record_property(
            f"{release}_s",
            {
                "pre_created": round(pre.at, 1),
                "pre_done": round(pre_done.at, 1),
                "first_new_pod": round(new_pods.at, 1),
                "new_pod_ready": round(ready.at, 1),
                "pre_deleted": round(pre_gone.at, 1),
                "post_created": round(post.at, 1),
                "post_done": round(post_done.at, 1),
            },
        )
        assert pre_done.at < new_pods.at < ready.at < post.at
        # And only the PostSync Job is left: the PreSync one went before it was made
        assert pre_gone.at <= post.at
        assert [j.metadata.uid for j in shop.migration_jobs()] == [post.uid]
        before = post.uid


def test_an_argocd_hook_annotation_wins_over_the_helm_hook(deploy_bookshop) -> None:
    # Given v1.0 deployed from the chart (its Job a Helm pre-install,pre-upgrade hook)
    shop: Bookshop = deploy_bookshop("v1.0", variant=CHART)
    old_job = shop.migration_job().metadata.uid

    # When v2.0 is committed with the Job also annotated argocd.argoproj.io/hook: PostSync
    with Timeline(shop.kube, shop.namespace) as timeline:
        sync = shop.deploy("v2.0", values={"migration": {"argocdHook": "PostSync"}})

    # Then Argo CD ran it once, as a PostSync hook: the Helm annotation was ignored
    assert sync.phase == "Succeeded", sync.message
    assert hook_phases(sync) == [("PostSync", "Succeeded")]
    (job,) = timeline.appeared("Job", besides=old_job)
    # So after the v2.0 pods were ready, on the old schema, and not before them
    ready = timeline.first("Pod", web_pod("v2.0", ready=True))
    assert ready is not None and ready.at < job.at, (ready, job.at)
    assert shop.health()["pending"] == []


NO_TTL: dict[str, Any] = {"migration": {"ttlSecondsAfterFinished": 0}}


def test_a_hook_job_deleted_as_it_finishes_leaves_no_finalizer(
    deploy_bookshop, record_property: Callable[[str, object], None]
) -> None:
    """Kubernetes' TTL controller deletes the Job the moment it finishes; Argo CD's hook
    finalizer holds it until the sync has read its result, then goes."""
    # Given the chart at v1.0 committed, its Job with ttlSecondsAfterFinished: 0
    shop: Bookshop = deploy_bookshop("v1.0", variant=CHART, chart_values=NO_TTL, deploy=False)
    for release in ("v1.0", "v2.0"):
        with Timeline(shop.kube, shop.namespace) as timeline:
            # When the release syncs
            sync = shop.deploy(release, timeout=120)
            # Then the Job goes, no finalizer holding it
            wait_until(shop.migration_job_gone, 60, "the finished hook Job to be gone")

        # And the sync did not hang: it succeeded, its hook Succeeded
        assert sync.phase == "Succeeded", sync.message
        assert hook_phases(sync) == [("PreSync", "Succeeded")]
        # And Argo CD's finalizer was on the Job while it ran
        finalized = timeline.first("Job", lambda e: HOOK_FINALIZER in finalizers(e))
        assert finalized is not None
        # (whether the TTL controller's delete came while the finalizer still held it)
        held = timeline.first("Job", lambda e: deleting(e) and HOOK_FINALIZER in finalizers(e))
        gone = timeline.first("Job", lambda e: e.type == "DELETED")
        record_property(
            f"{release}_s",
            {
                "delete_held_by_finalizer_at": held and round(held.at, 1),
                "job_gone": gone and round(gone.at, 1),
            },
        )


def finalizers(event: Event) -> list[str]:
    return event.obj.metadata.finalizers or []


def deleting(event: Event) -> bool:
    return event.obj.metadata.deletion_timestamp is not None
