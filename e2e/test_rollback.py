"""Rolling back: what the post's pattern does when a release has to be undone.

`argocd app rollback` syncs an earlier revision from the app's history, and an earlier
revision has its own PreSync Job: the hook runs again, with the old release's image. Its
`migrate` has nothing to do (Django runs no down-migrations), so the schema stays where
the newer release took it; its `loaddata` writes the old fixtures onto that schema. Past
v3.1's unique constraint, v2.0's fixtures hold the duplicate slug again: the rollback fails
at the hook, and v3.1 serves on. The pattern makes a rollback a forward deploy of old code,
which only works while the old code and data fit the new schema.
"""

import pytest

from e2e.bookshop import Bookshop
from e2e.waits import holds

pytestmark = [pytest.mark.scenario, pytest.mark.argocd]


def test_rolling_back_past_a_constraint_fails_at_the_old_releases_hook(deploy_bookshop) -> None:
    # Given v2.0 deployed, then the fix release v3.1 (slugs deduped, then made unique)
    shop: Bookshop = deploy_bookshop("v2.0")
    assert shop.deploy("v3.1").phase == "Succeeded"
    # (the entry of `argocd app history` that `argocd app rollback` would be given)
    v2_revision = shop.app.status()["history"][-2]["revision"]
    v3_job = shop.migration_job().metadata.uid
    generation = shop.deployment().metadata.generation
    before = shop.fingerprint()

    # When the app is rolled back to v2.0's revision
    rollback = shop.sync(v2_revision)

    # Then v2.0's hook ran again, in a new Job with v2.0's image, and failed the rollback
    assert rollback.phase == "Failed", rollback.message
    assert rollback.hook()["hookPhase"] == "Failed"
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
