"""The post's claims, one story each, against real Argo CD, Postgres and Django.

"A Job in Kubernetes is a one-off and immutable task ... ArgoCD's alternative solution:
Resource Hooks ... The migration job is always visible there until next deploy. As in
PreSync, if the migration job failed or got stuck the main app won't be deployed which
prevents running stale database schemas."
"""

import itertools

import pytest

from e2e.bookshop import CHART, Bookshop
from e2e.kube import condition
from e2e.timeline import (
    INF,
    Timeline,
    image_of,
    is_web,
    job_failed,
    job_finished,
    migration_then_deployment,
)
from e2e.waits import Outcome, failed, holds, stays_true, succeeded, wait_until

pytestmark = [pytest.mark.scenario, pytest.mark.argocd]


def test_first_deploy_migrates_before_the_app_exists(deploy_bookshop) -> None:
    # Given a fresh namespace, Postgres running, and release v1.0 committed
    shop: Bookshop = deploy_bookshop("v1.0", deploy=False)
    with Timeline(shop.kube, shop.namespace) as timeline:
        # When v1.0 syncs
        sync = shop.deploy("v1.0")

    # Then the PreSync Job ran and completed before the Deployment existed
    assert sync.phase == "Succeeded", sync.message
    assert sync.hook()["hookPhase"] == "Succeeded"
    job_done, deployment_created = migration_then_deployment(timeline)
    assert job_done < deployment_created < INF, (job_done, deployment_created)
    # And the fixtures were loaded: the app serves v1.0's data
    with shop.web() as web:
        status, books = web.get_json("/api/books")
        _, health = web.get_json("/healthz")
    assert status == 200 and len(books["books"]) == 5
    assert health["release"] == "v1.0"
    # And the Job is still there to read after the sync
    assert shop.migration_job().status.succeeded == 1


def test_the_migration_completes_before_the_new_version_rolls_out(deploy_bookshop) -> None:
    # Given v1.0 deployed
    shop: Bookshop = deploy_bookshop("v1.0")
    old_job = shop.migration_job().metadata.uid
    with Timeline(shop.kube, shop.namespace) as timeline:
        # When v2.0 (a schema change its code needs) syncs
        sync = shop.deploy("v2.0")

    # Then the new Job finished before the first v2.0 ReplicaSet was created
    assert sync.phase == "Succeeded", sync.message
    new_job = timeline.first("Job", lambda e: e.uid != old_job and job_finished(e))
    new_rs = timeline.first("ReplicaSet", lambda e: image_of(e).endswith(":v2.0"))
    assert new_job and new_rs
    assert new_job.at < new_rs.at, f"Job done at {new_job.at:.2f}s, RS at {new_rs.at:.2f}s"
    # And the first v2.0 pod found the v2.0 schema in place
    first_pod = timeline.first("Pod", lambda e: is_web(e) and image_of(e).endswith(":v2.0"))
    assert first_pod is not None
    with shop.pod_web(first_pod.name) as web:
        status, health = web.get_json("/healthz")
    assert status == 200
    assert health["release"] == "v2.0"
    assert health["pending"] == [], "v2.0 code started before its migrations were applied"
    assert health["migrations"]["bookshop"] == "0003_fill_book_slugs"
    assert shop.failed_health_answers(first_pod.name) == []


@pytest.mark.parametrize("variant", ["hardened", CHART])
def test_every_sync_recreates_the_job_and_leaves_it_until_the_next(
    deploy_bookshop, variant: str
) -> None:
    """The same with the Helm chart's Job, a `helm.sh/hook` (pre-install,pre-upgrade and
    before-hook-creation) that Argo CD reads as a PreSync hook with BeforeHookCreation."""
    # Given v1.0 deployed, its migration Job still there
    shop: Bookshop = deploy_bookshop("v1.0", variant=variant)
    first = shop.migration_job()
    revision = shop.app.status()["sync"]["revision"]

    # When the same revision syncs again
    again = shop.sync(revision)
    # Then a new Job replaced the old one (BeforeHookCreation), and only it is left
    assert again.phase == "Succeeded", again.message
    second = shop.migration_job()
    assert second.metadata.uid != first.metadata.uid
    assert [j.metadata.uid for j in shop.migration_jobs()] == [second.metadata.uid]
    assert second.status.succeeded == 1

    # When a new revision syncs, the Job of the previous sync was there until it started
    with Timeline(shop.kube, shop.namespace) as timeline:
        assert shop.migration_job().metadata.uid == second.metadata.uid
        started = timeline.now()
        third_sync = shop.deploy("v2.0")
    third = shop.migration_job()
    assert third_sync.phase == "Succeeded", third_sync.message
    assert third.metadata.uid not in (first.metadata.uid, second.metadata.uid)
    assert [j.metadata.uid for j in shop.migration_jobs()] == [third.metadata.uid]
    deleted = timeline.first("Job", lambda e: e.uid == second.metadata.uid and e.type == "DELETED")
    assert deleted is not None and deleted.at > started


def test_auto_sync_does_not_rerun_the_hook_on_an_unchanged_revision(deploy_bookshop) -> None:
    """Argo CD auto-syncs only an OutOfSync app: a synced revision never re-runs the Job,
    however often the app is refreshed; a new revision with changed manifests does."""
    # Given v1.0 deployed by hand, then auto-sync turned on
    shop: Bookshop = deploy_bookshop("v1.0")
    job = shop.migration_job().metadata.uid
    shop.enable_auto_sync()

    # When Argo CD reconciles the app again (hard refresh), nothing changed in Git
    shop.refresh_and_wait()
    # Then no sync ran, and the Job is the same one
    assert shop.migration_job().metadata.uid == job
    assert shop.app.operation_state()["operation"]["initiatedBy"].get("automated") is None

    # When a new release is committed, auto-sync runs it, hook included
    shop.release("v2.0")
    shop.refresh_and_wait()
    wait_until(lambda: shop.rolled_out("v2.0"), 300, "auto-sync to roll out v2.0")
    automated = shop.app.operation_state()
    assert automated["operation"]["initiatedBy"].get("automated") is True
    assert shop.migration_job().metadata.uid != job


@pytest.mark.cpu_budget(40)
def test_a_release_committed_while_the_migration_runs_waits_its_turn(deploy_bookshop) -> None:
    """Auto-sync starts no sync while one runs: a release pushed meanwhile neither stops
    the running migration nor is skipped; it deploys, hook and all, once the first is done."""
    # Given v1.0 deployed, auto-sync on, and a transaction holding a lock v2.0's migration needs
    shop: Bookshop = deploy_bookshop("v1.0")
    shop.enable_auto_sync()
    with shop.holding_lock("bookshop_book"):
        # When v2.0 is committed and auto-synced, its migration waiting on the lock
        v2_revision = shop.release("v2.0")
        shop.app.refresh()
        wait_until(shop.migration_waiting, 120, "v2.0's migration to start and wait")
        v2_job = shop.migration_job().metadata.uid
        # And v3.1 is committed meanwhile
        v3_revision = shop.release("v3.1")
        shop.app.refresh()
        # Then the sync in progress stays v2.0's, its migration running on
        stays_true(lambda: still_syncing(shop, v2_revision, v2_job), 10, "v2.0's sync to go on")

    # When the lock is released, v2.0's sync ends, and auto-sync deploys v3.1 after it
    wait_until(lambda: shop.rolled_out("v3.1"), 300, "auto-sync to roll out v3.1")
    # Then both were deployed, in order, each by its own migration Job
    deployed = [entry["revision"] for entry in shop.app.status()["history"]]
    assert deployed[-2:] == [v2_revision, v3_revision], deployed
    assert shop.migration_job().metadata.uid != v2_job
    assert shop.migration_job().status.succeeded == 1


def still_syncing(shop: Bookshop, revision: str, job: str) -> Outcome:
    """The sync in progress is `revision`'s, and its migration Job `job` still runs."""
    state = shop.app.operation_state()
    syncing = state.get("operation", {}).get("sync", {}).get("revision")
    current = shop.migration_job()
    running = current is not None and current.metadata.uid == job and current.status.active
    if state.get("phase") == "Running" and syncing == revision and running:
        return succeeded(f"the sync of {revision[:8]} goes on, its migration running")
    return failed(f"sync {state.get('phase')} of {str(syncing)[:8]}, Job running: {running}")


def test_a_failing_migration_keeps_the_old_version_serving(deploy_bookshop) -> None:
    # Given v2.0 deployed
    shop: Bookshop = deploy_bookshop("v2.0")
    before = shop.fingerprint()
    deployment = shop.deployment()
    replica_sets = {rs.metadata.uid for rs in shop.replica_sets()}

    # When v3.0, whose migration fails on Postgres, syncs, while clients keep calling
    with shop.probing() as probe:
        sync = shop.deploy("v3.0")

    # Then the sync failed, naming the hook
    assert sync.phase == "Failed"
    hook = sync.hook()
    assert hook["hookPhase"] == "Failed", hook
    assert "db-migration" in f"{sync.message} {hook}"
    # And the Deployment was never touched: same image, same ReplicaSets
    after = shop.deployment()
    assert after.spec.template.spec.containers[0].image.endswith(":v2.0")
    assert after.metadata.generation == deployment.metadata.generation
    assert {rs.metadata.uid for rs in shop.replica_sets()} == replica_sets
    # And v2.0 kept answering, without one error, all along
    assert probe.total > 0 and probe.errors == [], probe.errors[:5]
    # And the database is exactly as before (transactional DDL)
    assert shop.fingerprint() == before
    # And the failed Job and its logs are there to read
    job = shop.migration_job()
    assert condition(job, "Failed"), job.status
    assert "IntegrityError" in shop.job_logs()


def test_the_fix_release_recovers(deploy_bookshop) -> None:
    # Given v2.0 deployed and the broken v3.0 failed
    shop: Bookshop = deploy_bookshop("v2.0")
    failed_job = shop.deploy("v3.0") and shop.migration_job().metadata.uid

    # When the fix, v3.1, syncs
    sync = shop.deploy("v3.1")

    # Then a new Job ran and completed, and v3.1 serves on its schema
    assert sync.phase == "Succeeded", sync.message
    job = shop.migration_job()
    assert job.metadata.uid != failed_job and job.status.succeeded == 1
    with shop.web() as web:
        _, health = web.get_json("/healthz")
        status, book = web.get_json("/api/books/the-stranger")
    assert health["release"] == "v3.1" and health["pending"] == []
    assert health["migrations"]["bookshop"].startswith("0004")
    assert status == 200 and book["title"] == "The Stranger"


# `argocd app sync`'s retry flags, as `syncPolicy.retry` sets it for auto-sync (backoff
# shortened: 1 s, then 2 s, by the default factor of 2).
TWO_RETRIES = ("--retry-limit", "2", "--retry-backoff-duration", "1s")


@pytest.mark.cpu_budget(40)
def test_a_sync_retry_runs_the_failing_migration_again_each_time_in_a_new_job(
    deploy_bookshop,
) -> None:
    """With retries (common with auto-sync), Argo CD retries a failed sync from the start,
    PreSync hook included: "visible until next deploy" then means until the next attempt."""
    # Given v2.0 deployed
    shop: Bookshop = deploy_bookshop("v2.0")
    generation = shop.deployment().metadata.generation
    before = shop.fingerprint()
    v2_job = shop.migration_job().metadata.uid

    # When broken v3.0 syncs with two retries
    with Timeline(shop.kube, shop.namespace) as timeline:
        sync = shop.sync(shop.release("v3.0"), *TWO_RETRIES)

    # Then the sync failed after its last retry
    assert sync.phase == "Failed", sync.message
    assert sync.state.get("retryCount") == 2, sync.state
    # And the migration ran three times, each time in a new Job that failed
    attempts = [e.uid for e in timeline.appeared("Job", besides=v2_job)]
    assert len(attempts) == 3, attempts
    assert all(timeline.of_object("Job", uid, job_failed) for uid in attempts), attempts
    # And each attempt's Job was deleted before the next one was created
    for failed_job, next_job in itertools.pairwise(attempts):
        deleted = timeline.of_object("Job", failed_job, lambda e: e.type == "DELETED")
        created = timeline.of_object("Job", next_job)
        assert deleted and created and deleted.at <= created.at, (deleted, created)
    # So only the last attempt's Job, and its logs, are left to read
    assert [job.metadata.uid for job in shop.migration_jobs()] == [attempts[-1]]
    assert "IntegrityError" in shop.job_logs()
    # And v2.0 served on all along, on a database left as it was
    assert holds(shop.still_on("v2.0", generation))
    assert shop.fingerprint() == before
