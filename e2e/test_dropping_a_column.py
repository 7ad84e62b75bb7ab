"""Dropping a column: what a PreSync migration does to the version still serving.

The post's hook keeps new code off an old schema ("prevents running stale database
schemas"). On every deploy it does the reverse: the hook migrates while the previous
release serves, and that release serves on the new schema until the rollout has replaced
it. A migration that drops a column the old code reads breaks the old code for that time,
though the sync succeeds. Dropped in two releases, v4.0 (the code stops reading `year`, the
column stays) and v4.1 (the column goes), nothing breaks, as long as each release is
synced on its own: a sync deploys the branch's latest commit, so v4.0 and v4.1 pushed
before one sync (or v4.0 skipped) are the first story.
"""

from collections.abc import Callable

import pytest

from e2e.bookshop import Bookshop
from sample_django_app import harness

pytestmark = [pytest.mark.scenario, pytest.mark.argocd]

MISSING_COLUMN = "column bookshop_book.year does not exist"


def test_dropping_a_column_the_old_version_reads_breaks_it_until_the_rollout(
    deploy_bookshop, record_property: Callable[[str, object], None]
) -> None:
    # Given v3.1 deployed, its code selecting `year` with every book
    shop: Bookshop = deploy_bookshop("v3.1")
    [old_pod] = shop.web_pods()

    # When v4.1 syncs straight over it (v4.0 skipped), while clients keep calling v3.1
    with shop.following_logs(old_pod) as log, shop.probing() as probe:
        sync = shop.deploy("v4.1")

    # Then the sync succeeded, and v4.1 serves
    assert sync.phase == "Succeeded", sync.message
    with shop.web() as web:
        _, health = web.get_json("/healthz")
        status, _ = web.get_json("/api/books")
    assert health["release"] == "v4.1" and status == 200
    # But v3.1 failed every request from the moment its hook dropped the column
    failures, answered = probe.times("500"), probe.times("200")
    assert failures, f"v3.1 never failed: {probe.answers}"
    assert answered and min(answered) < min(failures) and max(answered) < min(failures)
    assert min(failures) >= sync.hook_started.timestamp(), "failed before the hook ran"
    record_property("old_version_failing_s", round(max(failures) - min(failures), 1))
    # And its own log says why
    assert MISSING_COLUMN in log.text, log.text[-2000:]


def test_dropped_in_two_releases_synced_one_by_one_nothing_fails(deploy_bookshop) -> None:
    # Given v3.1 deployed
    shop: Bookshop = deploy_bookshop("v3.1")

    for release in ("v4.0", "v4.1"):
        # When v4.0 (the code stops reading `year`), then v4.1 (the column goes) syncs,
        # while clients keep calling the version that serves
        with shop.probing() as probe:
            sync = shop.deploy(release)

        # Then each sync succeeded, and the version serving meanwhile never failed
        assert sync.phase == "Succeeded", sync.message
        assert probe.statuses == {"200"}, f"during {release}: {probe.answers}, {probe.errors[:3]}"

    # And v4.1 serves the books, without years, on a table without the column
    with shop.web() as web:
        status, body = web.get_json("/api/books")
    assert status == 200 and "year" not in body["books"][0]
    with shop.database() as db:
        assert "year" not in harness.nullable_columns(db, "bookshop_book")
