"""The post's claims, one story each, against real Argo CD, Postgres and Django.

"A Job in Kubernetes is a one-off and immutable task ... ArgoCD's alternative solution:
Resource Hooks ... The migration job is always visible there until next deploy. As in
PreSync, if the migration job failed or got stuck the main app won't be deployed which
prevents running stale database schemas."
"""

import pytest

from e2e.bookshop import Bookshop
from e2e.timeline import Timeline, job_finished
from e2e.waits import wait_until

pytestmark = [pytest.mark.scenario, pytest.mark.argocd]


def test_first_deploy_migrates_before_the_app_exists(deploy_bookshop) -> None:
    # Given a fresh namespace, Postgres running, and release v1.0 committed
    shop: Bookshop = deploy_bookshop("v1.0", deploy=False)
    with Timeline(shop.kube, shop.namespace) as timeline:
        # When v1.0 syncs
        sync = shop.deploy("v1.0")
        wait_until(lambda: shop.rolled_out("v1.0"), 180, "v1.0 to roll out")

    # Then the PreSync Job ran and completed before the Deployment existed
    assert sync.phase == "Succeeded", sync.message
    assert sync.hook()["hookPhase"] == "Succeeded"
    job_done = timeline.first("Job", job_finished)
    deployment_created = timeline.first("Deployment", lambda e: e.type == "ADDED")
    assert job_done and deployment_created
    assert job_done.at < deployment_created.at, (job_done.at, deployment_created.at)
    # And the fixtures were loaded: the app serves v1.0's data
    with shop.web() as web:
        status, books = web.get_json("/api/books")
        _, health = web.get_json("/healthz")
    assert status == 200 and len(books["books"]) == 5
    assert health["release"] == "v1.0"
    # And the Job is still there to read after the sync
    assert shop.migration_job().status.succeeded == 1
