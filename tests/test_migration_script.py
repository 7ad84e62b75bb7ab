"""The Job's shell script, run for real with /bin/bash against a real database.

The seed's script has no `set -e`: `bash -c` exits with the status of its last command,
so a failed `migrate` followed by a passing `loaddata` is a successful Job, and Argo CD
goes on to sync code whose migrations did not run. The hardened script stops at the
failure instead, and the PreSync hook fails the sync.
"""

from collections.abc import Callable
from pathlib import Path

import pytest

from e2e.waits import Outcome, pending, succeeded, wait_until
from sample_django_app.harness import (
    HARDENED_SCRIPT,
    JOB_APPLICATION,
    SEED_SCRIPT,
    TIMEOUT,
    Database,
    ReleaseTree,
    applied_migrations,
    loaddata,
    migrate,
    run_job_script,
    start_job_script,
)

pytest_plugins = ("sample_django_app.pytest_plugin",)

Releases = Callable[[str], ReleaseTree]

LOADED = "Installed 5 object(s) from 1 fixture(s)"


def title_of_book_1(db: Database) -> str:
    [(title,)] = db.query("SELECT title FROM bookshop_book WHERE id = 1")
    return title


@pytest.fixture
def v2_database_edited_by_hand(release_tree: Releases, app_db: Database) -> Database:
    """v2.0, deployed; then someone edited a fixture row, which the next `loaddata` resets."""
    tree = release_tree("v2.0")
    assert migrate(tree, app_db).returncode == 0
    assert loaddata(tree, app_db).returncode == 0
    app_db.query("UPDATE bookshop_book SET title = 'Edited by hand' WHERE id = 1")
    return app_db


def test_seed_script_succeeds_although_migrate_failed(
    release_tree: Releases, v2_database_edited_by_hand: Database
) -> None:
    db = v2_database_edited_by_hand

    # when the seed's script deploys the broken v3.0
    result = run_job_script(SEED_SCRIPT, release_tree("v3.0"), db)

    # then migrate failed, loaddata ran anyway, and the Job reports success: THE SEED'S BUG.
    # Argo CD would now sync v3.0's code onto a v2.0 schema.
    assert "django.db.utils.IntegrityError" in result.stderr
    assert LOADED in result.stdout
    assert title_of_book_1(db) == "Pride and Prejudice"
    assert result.returncode == 0
    assert applied_migrations(db)[-1] == "0003_fill_book_slugs"


def test_hardened_script_fails_and_never_loads_fixtures(
    release_tree: Releases, v2_database_edited_by_hand: Database
) -> None:
    db = v2_database_edited_by_hand

    # when the hardened script deploys the broken v3.0
    result = run_job_script(HARDENED_SCRIPT, release_tree("v3.0"), db)

    # then the Job fails at migrate, and loaddata never ran (the edit is still there)
    assert result.returncode != 0
    assert "django.db.utils.IntegrityError" in result.stderr
    assert LOADED not in result.stdout
    assert title_of_book_1(db) == "Edited by hand"
    assert applied_migrations(db)[-1] == "0003_fill_book_slugs"


@pytest.mark.parametrize("script", [SEED_SCRIPT, HARDENED_SCRIPT], ids=lambda p: p.stem)
def test_both_scripts_deploy_a_good_release(
    script: Path, release_tree: Releases, app_db: Database
) -> None:
    # given an empty database; when the script deploys v2.0
    result = run_job_script(script, release_tree("v2.0"), app_db)

    # then both migrate and loaddata ran
    assert result.returncode == 0, result.stderr
    assert applied_migrations(app_db)[-1] == "0003_fill_book_slugs"
    assert LOADED in result.stdout


def test_hardened_script_is_the_seed_script_in_strict_mode_passing_sigterm_on() -> None:
    """The two variants the manifests use run the same steps; the hardened one adds only
    strict mode and the trap, each step in the background so that the trap can run."""
    seed = SEED_SCRIPT.read_text().splitlines()
    hardened = HARDENED_SCRIPT.read_text().splitlines()
    prologue, rest = hardened[: -len(seed)], hardened[-len(seed) :]
    assert [line.removesuffix(' & step=$!; wait "$step"') for line in rest] == seed
    assert [line for line in prologue if not line.startswith("#")] == [
        "set -euo pipefail",
        """trap 'kill -TERM "$step"' TERM""",
    ]


@pytest.mark.parametrize(
    ("script", "commits"), [(SEED_SCRIPT, True), (HARDENED_SCRIPT, False)], ids=["seed", "hardened"]
)
def test_stopping_the_job_during_its_migration(
    script: Path, commits: bool, release_tree: Releases, app_db: Database, tmp_path: Path
) -> None:
    """Stopping the Job's pod (a terminated sync, the deadline, a drain) sends its bash a
    SIGTERM. The seed's bash does not pass it on: the migration runs on and commits once
    its lock frees. The hardened script passes it on, and the migration's transaction
    rolls back."""
    # given v2.0 deployed, and a transaction holding a lock v3.1's migration needs
    assert migrate(release_tree("v2.0"), app_db).returncode == 0
    with app_db.holding_lock("bookshop_book"):
        job = start_job_script(script, release_tree("v3.1"), app_db, tmp_path / "job.log")
        wait_until(lambda: waiting_for_a_lock(app_db), 60, "v3.1's migration to wait")

        # when the Job is stopped while its migration waits
        job.terminate()
        job.wait(TIMEOUT)

    # then, once the migration's session is gone, v3.1's migration committed, or not
    wait_until(lambda: no_session_left(app_db), 60, "the migration's session to end")
    migrated = applied_migrations(app_db)[-1] == "0004_unique_book_slugs"
    assert migrated is commits, (tmp_path / "job.log").read_text()


def waiting_for_a_lock(db: Database) -> Outcome:
    sessions = db.sessions(JOB_APPLICATION)
    if any(wait == "Lock" for _, wait in sessions):
        return succeeded("the Job's migration waits for a lock")
    return pending(f"the Job's migration to wait for a lock, its sessions: {sessions}")


def no_session_left(db: Database) -> Outcome:
    sessions = db.sessions(JOB_APPLICATION)
    return pending(f"no session of the Job, has {sessions}") if sessions else succeeded("none")
