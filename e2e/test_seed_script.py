"""The post's own bug: its Job script has no `set -e`.

`python3 manage.py migrate` fails, bash goes on to `loaddata`, which succeeds, and the
script exits 0: the Job completes, Argo CD sees a successful PreSync hook and rolls the
new version out onto the old schema. The hook protects against stale schemas only if
the script fails when the migration does; the hardened script does.
"""

import pytest

from e2e.bookshop import Bookshop

pytestmark = [pytest.mark.scenario, pytest.mark.argocd]


def test_with_the_seed_script_a_failed_migration_rolls_out_anyway(deploy_bookshop) -> None:
    # Given v2.0 deployed with the post's Job, verbatim
    shop: Bookshop = deploy_bookshop("v2.0", variant="seed")

    # When the broken v3.0 syncs
    sync = shop.deploy("v3.0")

    # Then the migration failed inside the Job...
    assert "IntegrityError" in shop.job_logs()
    # ...yet the Job completed, the sync succeeded, and v3.0 rolled out
    assert shop.migration_job().status.succeeded == 1
    assert sync.phase == "Succeeded", sync.message
    assert sync.hook()["hookPhase"] == "Succeeded"
    # onto the old schema: v3.0's migration is still pending, and its new page fails
    with shop.web() as web:
        _, health = web.get_json("/healthz")
        status, _ = web.get("/api/books/the-stranger")
    assert health["release"] == "v3.0"
    assert health["pending"] == ["bookshop.0004_unique_book_slugs"]
    assert status == 500  # two books share the slug the missing constraint was to forbid


def test_with_the_hardened_script_the_same_release_is_blocked(deploy_bookshop) -> None:
    # Given v2.0 deployed with the hardened Job
    shop: Bookshop = deploy_bookshop("v2.0", variant="hardened")

    # When the broken v3.0 syncs
    sync = shop.deploy("v3.0")

    # Then the Job fails, the sync fails, and v2.0 stays
    assert sync.phase == "Failed"
    assert "IntegrityError" in shop.job_logs()
    with shop.web() as web:
        _, health = web.get_json("/healthz")
    assert health["release"] == "v2.0" and health["pending"] == []
