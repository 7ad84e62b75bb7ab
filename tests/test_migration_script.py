"""The Job's shell script, run for real with /bin/bash against a real database.

The seed's script has no `set -e`: `bash -c` exits with the status of its last command,
so a failed `migrate` followed by a passing `loaddata` is a successful Job, and Argo CD
goes on to sync code whose migrations did not run. The hardened script stops at the
failure instead, and the PreSync hook fails the sync.
"""

from collections.abc import Callable
from pathlib import Path

import pytest

from sample_django_app.harness import (
    HARDENED_SCRIPT,
    SEED_SCRIPT,
    Database,
    ReleaseTree,
    applied_migrations,
    loaddata,
    migrate,
    run_job_script,
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


def test_hardened_script_is_the_seed_script_after_strict_mode() -> None:
    """The two variants the manifests use differ only in the line that matters."""
    seed = SEED_SCRIPT.read_text().splitlines()
    hardened = HARDENED_SCRIPT.read_text().splitlines()
    prologue, rest = hardened[: -len(seed)], hardened[-len(seed) :]
    assert rest == seed
    assert [line for line in prologue if not line.startswith("#")] == ["set -euo pipefail"]
