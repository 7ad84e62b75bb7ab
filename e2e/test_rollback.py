"""Rolling back: what the post's pattern does when a release has to be undone.

`argocd app rollback` runs no hook at all. Argo CD's Rollback (server/application/
application.go) makes a sync with the apply strategy, and the controller skips hooks for
an apply-strategy sync (controller/sync.go, SyncAppState: `syncOp.IsApplyStrategy() ||
len(syncOp.Resources) > 0` as skipHooks). So the old image goes straight onto the new
schema, with no migration Job, and the old code serves whatever that schema lets it:
v2.0 on v3.1's schema serves on; v3.1 on v4.1's, where its `year` column is gone,
answers 500 to every request for books. It is refused while auto-sync is on.

Syncing an earlier revision (`argocd app sync --revision`) is a different command: a hook
sync, so the old release's PreSync Job runs. Its `migrate` has nothing to undo (Django
runs no down-migrations) and its `loaddata` writes the old fixtures onto the new schema:
past v3.1's unique constraint, v2.0's fixtures hold the duplicate slug again, the hook
fails, and v3.1 serves on.
"""

from collections.abc import Callable

import pytest

from e2e.bookshop import Bookshop
from e2e.waits import holds, wait_until

pytestmark = [pytest.mark.scenario, pytest.mark.argocd]

REFUSED = "rollback cannot be initiated when auto-sync is enabled"
MISSING_COLUMN = "column bookshop_book.year does not exist"


def deployed(
    deploy_bookshop: Callable[..., Bookshop], first: str, then: str
) -> tuple[Bookshop, str]:
    """`first` deployed, then `then`: the app, and the commit `first` was deployed from."""
    shop = deploy_bookshop(first)
    revision = shop.app.status()["sync"]["revision"]
    assert shop.deploy(then).phase == "Succeeded"
    return shop, revision


def test_argocd_app_rollback_runs_no_hook_and_puts_the_old_code_on_the_new_schema(
    deploy_bookshop,
) -> None:
    # Given v2.0 deployed, then the fix release v3.1 (slugs deduped, then made unique),
    # with auto-sync on
    shop, v2_revision = deployed(deploy_bookshop, "v2.0", then="v3.1")
    v3_job = shop.migration_job().metadata.uid
    before = shop.fingerprint()
    shop.enable_auto_sync()

    # When v2.0's deployment is rolled back to, `argocd app rollback <app> <id>`
    refused = shop.app.argocd(
        "app", "rollback", shop.app.name, str(shop.app.history()[v2_revision[:7]]), check=False
    )
    # Then Argo CD refuses while auto-sync is on
    assert refused.returncode != 0 and REFUSED in refused.stderr, refused

    # When auto-sync is turned off and the rollback made again
    shop.disable_auto_sync()
    rollback = shop.app.rollback(v2_revision)

    # Then it succeeded as an apply-strategy sync, with no hook
    assert rollback.phase == "Succeeded", rollback.message
    assert "apply" in rollback.state["operation"]["sync"]["syncStrategy"], rollback.state
    assert rollback.hook() is None, rollback.state["syncResult"]
    # And no migration ran: the Job is still v3.1's
    job = shop.migration_job()
    assert job.metadata.uid == v3_job
    assert job.spec.template.spec.containers[0].image.endswith(":v3.1")
    # And v2.0's code rolled out onto v3.1's schema, which it serves, data untouched
    wait_until(lambda: shop.rolled_out("v2.0"), 300, "the rollback's v2.0 to roll out")
    health = shop.health()
    with shop.web() as web:
        status, _ = web.get_json("/api/books")
    assert health["release"] == "v2.0" and health["pending"] == [], health
    assert health["migrations"]["bookshop"].startswith("0004"), health
    assert status == 200
    assert shop.fingerprint() == before


def test_argocd_app_rollback_past_a_dropped_column_breaks_the_old_code(deploy_bookshop) -> None:
    # Given v3.1 deployed, then v4.1, whose migration drops the `year` column v3.1 reads
    shop, v3_revision = deployed(deploy_bookshop, "v3.1", then="v4.1")
    v4_job = shop.migration_job().metadata.uid

    # When the app is rolled back to v3.1's deployment
    rollback = shop.app.rollback(v3_revision)

    # Then the rollback succeeded, with no hook and no new Job
    assert rollback.phase == "Succeeded", rollback.message
    assert rollback.hook() is None, rollback.state["syncResult"]
    assert shop.migration_job().metadata.uid == v4_job
    # And v3.1 rolled out on v4.1's schema, where every request for books fails
    wait_until(lambda: shop.rolled_out("v3.1"), 300, "the rollback's v3.1 to roll out")
    [pod] = shop.serving_pods("v3.1")
    health = shop.health()
    with shop.web() as web:
        status, _ = web.get("/api/books")
    assert health["release"] == "v3.1", health
    assert health["migrations"]["bookshop"].startswith("0006"), health
    assert status == 500
    # And its log says why
    log = shop.kube.core.read_namespaced_pod_log(pod.metadata.name, shop.namespace)
    assert MISSING_COLUMN in log, log[-2000:]


def test_syncing_an_old_revision_runs_its_hook_and_fails_past_a_constraint(
    deploy_bookshop,
) -> None:
    # Given v2.0 deployed, then the fix release v3.1 (slugs deduped, then made unique)
    shop, v2_revision = deployed(deploy_bookshop, "v2.0", then="v3.1")
    v3_job = shop.migration_job().metadata.uid
    generation = shop.deployment().metadata.generation
    before = shop.fingerprint()

    # When v2.0's revision is synced, `argocd app sync --revision <v2.0's commit>`
    sync = shop.sync(v2_revision)

    # Then v2.0's hook ran again, in a new Job with v2.0's image, and failed the sync
    assert sync.phase == "Failed", sync.message
    assert sync.hook()["hookPhase"] == "Failed"
    job = shop.migration_job()
    assert job.metadata.uid != v3_job
    assert job.spec.template.spec.containers[0].image.endswith(":v2.0")
    # And its migrate had nothing to undo, while its fixtures broke v3.1's constraint
    logs = shop.job_logs()
    assert "No migrations to apply" in logs, logs
    assert "Key (slug)=(the-stranger) already exists" in logs, logs
    # And v3.1 serves on, its schema and rows as they were
    assert holds(shop.still_on("v3.1", generation))
    assert shop.fingerprint() == before
