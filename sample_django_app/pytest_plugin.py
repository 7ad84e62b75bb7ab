"""Fixtures for the app's tests: release trees and a database, on top of tests/conftest.py's
`postgresql` (a fresh database per test on a real PostgreSQL)."""

from collections.abc import Callable
from functools import cache

import psycopg
import pytest

from sample_django_app.harness import Database, ReleaseTree


@pytest.fixture(scope="session")
def release_tree(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], ReleaseTree]:
    """`release_tree("v2.0")`: that release's tree, materialized once per session."""
    root = tmp_path_factory.mktemp("releases")

    @cache
    def materialize(release: str) -> ReleaseTree:
        return ReleaseTree.materialize(release, root / release)

    return materialize


@pytest.fixture
def app_db(postgresql: psycopg.Connection) -> Database:
    """A fresh, empty database for the app, reached the way the Job reaches it."""
    return Database.of(postgresql)
