"""The sample app's release history on a real PostgreSQL, migrated the way the Job does it.

v1.0 → v2.0 (a schema change plus a data migration) → v3.0 (a migration that fails) →
v3.1 (the fix) → v4.0 and v4.1 (a column dropped in two steps), each release's
`manage.py migrate` run as a subprocess of its own tree.
"""

import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sample_django_app.harness import (
    Database,
    ReleaseTree,
    applied_migrations,
    loaddata,
    manage,
    migrate,
    nullable_columns,
    serve,
    snapshot,
)
from sample_django_app.releases import apply

pytest_plugins = ("sample_django_app.pytest_plugin",)

Releases = Callable[[str], ReleaseTree]

# The latest migration of each release: the schema its code needs.
SCHEMA = {
    "v1.0": "0001_initial",
    "v2.0": "0003_fill_book_slugs",
    "v3.0": "0004_unique_book_slugs",
    "v3.1": "0004_unique_book_slugs",
    "v4.0": "0005_book_year_leaves_the_code",
    "v4.1": "0006_drop_book_year",
}
# Releases whose migrate and loaddata both pass on an empty database. v3.0's constraint
# goes in on an empty table, then its own fixtures (two "the-stranger") violate it.
DEPLOYABLE = ("v1.0", "v2.0", "v3.1", "v4.0", "v4.1")
BOOKS = 5


def deploy(tree: ReleaseTree, db: Database) -> None:
    """What the hardened Job does: migrate, then load the fixtures; both must succeed."""
    for step in (migrate, loaddata):
        result = step(tree, db)
        assert result.returncode == 0, f"{step.__name__} {tree.release}:\n{result.stderr}"


def slugs(db: Database) -> list[tuple[int, str, str]]:
    return db.query("SELECT id, title, slug FROM bookshop_book ORDER BY id")


def test_release_history_on_one_database(release_tree: Releases, app_db: Database) -> None:
    # given v1.0, deployed
    deploy(release_tree("v1.0"), app_db)
    assert applied_migrations(app_db) == ["0001_initial"]

    # when v2.0 migrates, its data migration gives the books already there their slugs
    assert migrate(release_tree("v2.0"), app_db).returncode == 0
    assert applied_migrations(app_db) == ["0001_initial", "0002_book_slug", SCHEMA["v2.0"]]
    assert [slug for _, _, slug in slugs(app_db)] == [
        "pride-and-prejudice", "dune", "the-left-hand-of-darkness", "the-stranger", "the-stranger",
    ]  # fmt: skip
    assert loaddata(release_tree("v2.0"), app_db).returncode == 0

    # when v3.0 migrates, it fails (its own test below shows it changes nothing)
    assert migrate(release_tree("v3.0"), app_db).returncode != 0
    assert applied_migrations(app_db)[-1] == SCHEMA["v2.0"]

    # when v3.1 deploys, the fix dedupes the slugs and then adds the constraint
    deploy(release_tree("v3.1"), app_db)
    assert applied_migrations(app_db)[-1] == SCHEMA["v3.1"]
    assert slugs(app_db)[3:] == [
        (4, "The Stranger", "the-stranger"),
        (5, "The Stranger", "the-stranger-5"),
    ]
    assert _unique_constraints_on_slug(app_db) == 1

    # when v4.0 deploys, its code forgets `year` and the column stays, nullable
    deploy(release_tree("v4.0"), app_db)
    assert nullable_columns(app_db, "bookshop_book")["year"] is True

    # when v4.1 deploys, the column goes
    deploy(release_tree("v4.1"), app_db)
    assert "year" not in nullable_columns(app_db, "bookshop_book")


def test_broken_release_fails_and_leaves_schema_and_rows_unchanged(
    release_tree: Releases, app_db: Database
) -> None:
    # given v2.0, deployed: two books share the slug "the-stranger"
    deploy(release_tree("v2.0"), app_db)
    before = snapshot(app_db)

    # when v3.0's migrate adds the unique constraint
    result = migrate(release_tree("v3.0"), app_db)

    # then it fails loudly, and its transaction took everything with it
    assert result.returncode != 0
    assert "django.db.utils.IntegrityError" in result.stderr
    assert "Key (slug)=(the-stranger) is duplicated" in result.stderr
    assert snapshot(app_db) == before


def test_migrate_commits_each_migration_on_its_own(
    release_tree: Releases, app_db: Database
) -> None:
    """Django wraps each migration, not the whole `migrate`, in a transaction: skipping a
    release, v1.0 → v3.0 keeps v2.0's migrations and rolls back only the failing 0004.
    (That is why v3.0 has a single migration; v3.1 dedupes inside the same one.)"""
    # given v1.0, deployed
    deploy(release_tree("v1.0"), app_db)

    # when v3.0 migrates straight from it
    result = migrate(release_tree("v3.0"), app_db)

    # then v2.0's migrations stay applied, with their data
    assert result.returncode != 0
    assert applied_migrations(app_db) == ["0001_initial", "0002_book_slug", SCHEMA["v2.0"]]
    assert all(slug for _, _, slug in slugs(app_db))


def test_syncing_back_past_the_constraint_fails_at_the_old_fixtures(
    release_tree: Releases, app_db: Database
) -> None:
    """Syncing an old revision runs the old release's Job on the new schema (`argocd app
    rollback` runs none): its migrate has nothing to do (no down-migrations run), and its
    fixtures hold the duplicate slug again."""
    # given v2.0, then v3.1, deployed
    deploy(release_tree("v2.0"), app_db)
    deploy(release_tree("v3.1"), app_db)
    before = snapshot(app_db)

    # when v2.0's Job runs again
    migrated = migrate(release_tree("v2.0"), app_db)
    loaded = loaddata(release_tree("v2.0"), app_db)

    # then migrate changes nothing, and loaddata fails on v3.1's constraint, in one transaction
    assert migrated.returncode == 0, migrated.stderr
    assert "No migrations to apply" in migrated.stdout
    assert loaded.returncode != 0
    assert "Key (slug)=(the-stranger) already exists" in loaded.stderr
    assert snapshot(app_db) == before


@pytest.mark.parametrize("release", DEPLOYABLE)
def test_fixtures_load_twice_without_duplicates(
    release: str, release_tree: Releases, app_db: Database
) -> None:
    # given the release, deployed on an empty database
    tree = release_tree(release)
    deploy(tree, app_db)
    once = snapshot(app_db)

    # when the next deploy loads the fixtures again
    result = loaddata(tree, app_db)

    # then the fixed primary keys made it an update of the same rows
    assert result.returncode == 0, result.stderr
    assert snapshot(app_db) == once
    assert app_db.query("SELECT count(*) FROM bookshop_book") == [(BOOKS,)]


@pytest.mark.parametrize("release", DEPLOYABLE)
def test_healthz_names_the_release_and_its_schema(
    release: str, release_tree: Releases, app_db: Database, tmp_path: Path
) -> None:
    # given the release, deployed
    tree = release_tree(release)
    deploy(tree, app_db)

    # when gunicorn serves it
    with serve(tree, app_db, tmp_path / "gunicorn.log") as server:
        health = server.get_json("/healthz")
        books = server.get_json("/api/books")
        page = server.get("/")

    # then /healthz tells which code runs against which schema, and the shop works
    assert health == (200, {"release": release, "migrations": {"bookshop": SCHEMA[release]},
                            "pending": []})  # fmt: skip
    assert books[0] == 200
    assert len(books[1]["books"]) == BOOKS
    assert page[0] == 200
    assert b"The Left Hand of Darkness by Ursula K. Le Guin" in page[1]


def test_v2_code_against_v1_schema_fails_visibly(
    release_tree: Releases, app_db: Database, tmp_path: Path
) -> None:
    """What the PreSync hook prevents: new code serving before its migrations ran."""
    # given v1.0, deployed
    deploy(release_tree("v1.0"), app_db)

    # when v2.0's code serves without v2.0's migrations
    with serve(release_tree("v2.0"), app_db, tmp_path / "gunicorn.log") as server:
        health = server.get_json("/healthz")
        status, _ = server.get("/api/books")

    # then /healthz says so, and the API fails on the missing column
    assert health == (200, {
        "release": "v2.0",
        "migrations": {"bookshop": "0001_initial"},
        "pending": ["bookshop.0002_book_slug", "bookshop.0003_fill_book_slugs"],
    })  # fmt: skip
    assert status == 500
    log = server.log.read_text()
    assert "django.db.utils.ProgrammingError: column bookshop_book.slug does not exist" in log


def test_v3_1_code_serves_on_after_v4_0s_migration(
    release_tree: Releases, app_db: Database, tmp_path: Path
) -> None:
    """What a PreSync hook does to the release still serving: its code meets the next
    release's schema. Step 1 of dropping a column keeps it, so v3.1 goes on."""
    # given v3.1, deployed, and v4.0's hook run
    deploy(release_tree("v3.1"), app_db)
    deploy(release_tree("v4.0"), app_db)

    # when v3.1's code serves (as it does until v4.0 has rolled out)
    with serve(release_tree("v3.1"), app_db, tmp_path / "gunicorn.log") as server:
        status, body = server.get_json("/api/books")

    # then the books still come with their years
    assert status == 200
    assert len(body["books"]) == BOOKS
    assert {book["title"]: book["year"] for book in body["books"]}["Dune"] == 1965


def test_v3_1_code_fails_after_v4_1s_migration(
    release_tree: Releases, app_db: Database, tmp_path: Path
) -> None:
    """v4.1 deployed straight over v3.1: its hook drops the column v3.1's code reads."""
    # given v3.1, deployed, and v4.1's hook run (v4.0 skipped)
    deploy(release_tree("v3.1"), app_db)
    deploy(release_tree("v4.1"), app_db)

    # when v3.1's code serves
    with serve(release_tree("v3.1"), app_db, tmp_path / "gunicorn.log") as server:
        health = server.get_json("/healthz")
        status, _ = server.get("/api/books")

    # then it is healthy by its probe, yet every request that reads books fails
    assert health[0] == 200
    assert status == 500
    log = server.log.read_text()
    assert "django.db.utils.ProgrammingError: column bookshop_book.year does not exist" in log


def test_healthz_fails_without_a_database(release_tree: Releases, tmp_path: Path) -> None:
    # given nothing listening where the database should be
    with _refusing_port() as port:
        nowhere = Database("127.0.0.1", port, "bookshop", "bookshop", "unused")

        # when the app serves
        with serve(release_tree("v1.0"), nowhere, tmp_path / "gunicorn.log") as server:
            status, body = server.get_json("/healthz")

    # then /healthz is not 200 (a readiness probe keeps the pod out of the Service)
    assert status == 503
    assert body["release"] == "v1.0"
    assert "Connection refused" in body["database"]


@pytest.mark.parametrize("release", apply.releases())
def test_each_release_has_the_migrations_its_models_need(
    release: str, release_tree: Releases, app_db: Database
) -> None:
    result = manage(release_tree(release), app_db, "makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to cross-check patch-ng")
@pytest.mark.parametrize("release", apply.releases()[1:])
def test_patch_ng_applies_each_release_as_git_does(
    release: str, release_tree: Releases, tmp_path: Path
) -> None:
    """patch-ng has quirks (it strips created files' paths twice at strip=1); `git apply` is
    the reference for what the patches say."""
    # given the v1.0 tree
    reference = tmp_path / "git"
    shutil.copytree(apply.BASE_TREE, reference, ignore=shutil.ignore_patterns("__pycache__"))

    # when git applies the same patches
    for patch in apply.series()[: apply.releases().index(release)]:
        subprocess.run(["git", "apply", str(patch)], cwd=reference, check=True)

    # then patch-ng's tree is the same, file for file
    assert _files(release_tree(release).path) == _files(reference)


def test_unknown_release_is_one_line_listing_the_known_ones(tmp_path: Path) -> None:
    script = Path(apply.__file__)
    result = subprocess.run(
        [sys.executable, str(script), "v9.9", str(tmp_path / "tree")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    known = "v1.0, v2.0, v3.0, v3.1, v4.0, v4.1"
    assert result.stderr == f"error: unknown release 'v9.9'; known: {known}\n"
    assert not (tmp_path / "tree").exists()


@contextmanager
def _refusing_port() -> Iterator[int]:
    """A loopback port held (bound, never listening), so connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _unique_constraints_on_slug(db: Database) -> int:
    [(count,)] = db.query(
        "SELECT count(*) FROM pg_constraint "
        "WHERE conrelid = 'bookshop_book'::regclass AND contype = 'u'"
    )
    return count


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
