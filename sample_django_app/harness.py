"""Run a release of the sample app from the host, the way its Job and Deployment run it.

A release's tree is materialized on disk (releases/apply.py); `manage.py migrate`, the
Job's scripts and gunicorn then run as subprocesses of this Python, pointed at a database
by the environment variables the committed settings.py reads.
"""

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from sample_django_app.releases import apply

SCRIPTS = Path(__file__).resolve().parent / "job-scripts"
SEED_SCRIPT = SCRIPTS / "seed.sh"  # the seed's Job script, verbatim (no `set -e`)
HARDENED_SCRIPT = SCRIPTS / "hardened.sh"  # the same with `set -euo pipefail`, SIGTERM passed on
TIMEOUT = 120  # seconds for any one manage.py command or script


@dataclass(frozen=True)
class Database:
    host: str
    port: int
    name: str
    user: str
    password: str

    @classmethod
    def of(cls, conn: psycopg.Connection) -> "Database":
        info = conn.info
        return cls(info.host, info.port, info.dbname, info.user, info.password)

    def environment(self) -> dict[str, str]:
        """What settings.py reads (and what the Secret's settings.py holds as literals)."""
        return {
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_DB": self.name,
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
        }

    def query(
        self, query: str | sql.Composable, params: tuple[Any, ...] = ()
    ) -> list[tuple[Any, ...]]:
        """Rows of one statement, in its own autocommitted connection (holding no locks a
        migration would wait for)."""
        with self._connect() as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    @contextmanager
    def holding_lock(self, table: str) -> Iterator[None]:
        """An open transaction holding a SHARE lock on `table`, as a long report or a
        forgotten psql session would: writes to it, and DDL on it, wait."""
        with self._connect() as conn:
            conn.autocommit = False
            try:
                conn.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(sql.Identifier(table)))
                yield
            finally:
                conn.rollback()

    def sessions(self, application: str) -> list[tuple[str, str | None]]:
        """The sessions a client named `application` has open here: (state, what it
        waits for)."""
        rows = self.query(
            "SELECT state, wait_event_type FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            (application,),
        )
        return [(state, wait) for state, wait in rows]

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(
            host=self.host, port=self.port, dbname=self.name, user=self.user,
            password=self.password, autocommit=True, connect_timeout=5,
        )  # fmt: skip


@dataclass(frozen=True)
class ReleaseTree:
    """One release's /var/www/django, on the host."""

    release: str
    path: Path

    @classmethod
    def materialize(cls, release: str, dest: Path) -> "ReleaseTree":
        return cls(release, apply.materialize(release, dest))

    @property
    def fixtures(self) -> list[str]:
        """The Job's `my-project/fixtures/*.yaml`, as bash expands it."""
        return sorted(str(p.relative_to(self.path)) for p in self.fixtures_dir.glob("*.yaml"))

    @property
    def fixtures_dir(self) -> Path:
        return self.path / "my-project" / "fixtures"


def environment(tree: ReleaseTree, db: Database) -> dict[str, str]:
    """A clean environment (nothing of the caller's Django settings leaks in) in which
    `python3` is this Python, as the image's PATH makes it the app's virtualenv."""
    path = os.environ.get("PATH", "/usr/bin:/bin")
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{path}",
        "APP_RELEASE": tree.release,
        "SECRET_KEY": "tests-only-secret-key",
        "PYTHONDONTWRITEBYTECODE": "1",
        **db.environment(),
    }


def manage(tree: ReleaseTree, db: Database, *args: str) -> subprocess.CompletedProcess[str]:
    """`python3 manage.py <args>` in the release's tree; the caller checks the result."""
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=tree.path, env=environment(tree, db),
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip


def migrate(tree: ReleaseTree, db: Database) -> subprocess.CompletedProcess[str]:
    return manage(tree, db, "migrate")


def loaddata(tree: ReleaseTree, db: Database) -> subprocess.CompletedProcess[str]:
    return manage(tree, db, "loaddata", *tree.fixtures)


def run_job_script(
    script: Path, tree: ReleaseTree, db: Database
) -> subprocess.CompletedProcess[str]:
    """The Job's container command: `/bin/bash -c <script>` in the image's working dir."""
    return subprocess.run(
        ["/bin/bash", "-c", script.read_text()], cwd=tree.path, env=environment(tree, db),
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip


JOB_APPLICATION = "job-script"  # the Postgres application_name of a started script's sessions


def start_job_script(script: Path, tree: ReleaseTree, db: Database, log: Path) -> subprocess.Popen:
    """The same, left running (to be stopped, as a pod is); its output goes to `log`, and
    its sessions are named JOB_APPLICATION (libpq reads PGAPPNAME)."""
    env = {**environment(tree, db), "PGAPPNAME": JOB_APPLICATION}
    with log.open("w") as out:
        return subprocess.Popen(
            ["/bin/bash", "-c", script.read_text()], cwd=tree.path, env=env,
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


@dataclass(frozen=True)
class Server:
    url: str
    log: Path

    def get(self, path: str) -> tuple[int, bytes]:
        """Status and body of a GET; error statuses are answers too, not exceptions."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def get_json(self, path: str) -> tuple[int, Any]:
        status, body = self.get(path)
        return status, json.loads(body)


@contextmanager
def serve(tree: ReleaseTree, db: Database, log: Path) -> Iterator[Server]:
    """gunicorn, as the image's CMD runs it, on a socket opened here and handed over.

    No port to race for, and the first request simply waits in the listen backlog until a
    worker is up; once gunicorn exits, the socket closes and requests fail fast.
    """
    with socket.create_server(("127.0.0.1", 0)) as sock, log.open("wb") as out:
        fd = sock.fileno()
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"fd://{fd}", "--workers", "1"],
            cwd=tree.path, env=environment(tree, db), pass_fds=(fd,),
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield Server(url, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def applied_migrations(db: Database, app: str = "bookshop") -> list[str]:
    return [name for (name,) in db.query(
        "SELECT name FROM django_migrations WHERE app = %s ORDER BY id", (app,)
    )]  # fmt: skip


def nullable_columns(db: Database, table: str) -> dict[str, bool]:
    """Each column of `table`, and whether it takes NULL."""
    return {name: nullable == "YES" for name, nullable in db.query(
        "SELECT column_name, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = %s", (table,)
    )}  # fmt: skip


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a failed migration must leave as it was: every column, constraint and
    index of the public schema, and every row of every table (django_migrations too)."""
    tables = [table for (table,) in db.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "ORDER BY 1"
    )]  # fmt: skip
    state = {
        "columns": db.query(
            "SELECT table_name, column_name, data_type, character_maximum_length, "
            "is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2"
        ),
        "constraints": db.query(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2"
        ),
        "indexes": db.query(
            "SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = 'public' ORDER BY 1, 2"
        ),
    }
    for table in tables:
        rows = sql.SQL("SELECT t::text FROM {} AS t ORDER BY 1").format(sql.Identifier(table))
        state[f"rows of {table}"] = db.query(rows)
    return state


def render_settings(db: Database, secret_key: str) -> str:
    """A settings.py with literal values, the shape of the Secret the Job mounts over
    /var/www/django/my-project/settings.py."""
    database = {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": db.host,
        "PORT": str(db.port),
        "NAME": db.name,
        "USER": db.user,
        "PASSWORD": db.password,
        "OPTIONS": {"connect_timeout": 5},
    }
    return (
        '"""This deployment\'s settings (from a Secret): the shared defaults plus its secrets."""\n'
        "\n"
        "from bookshop.defaults import *  # noqa: F403\n"
        "\n"
        f"SECRET_KEY = {secret_key!r}\n"
        f"DATABASES = {{'default': {database!r}}}\n"
    )
