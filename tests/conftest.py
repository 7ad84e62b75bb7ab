"""A real PostgreSQL for the app's tests: one container per session, one database per test.

The server runs in a container (the public `postgres` image, or the same contract built
from Debian's packages on the source path) because PostgreSQL refuses to run as root,
which CI is; pytest-postgresql then creates and drops a fresh database for each test.
"""

from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import psycopg
import pytest
from pytest_postgresql import factories
from pytest_postgresql.executors.noop import NoopExecutor
from pytest_postgresql.janitor import DatabaseJanitor
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from images import engine, hosttools, workloads

POSTGRES_USER = "tests"
POSTGRES_PASSWORD = "tests-only-password"


@pytest.fixture(scope="session")
def kustomize(image_path: str) -> Path:
    """The kustomize the suite renders manifests with (tests/rendered.py)."""
    return hosttools.kustomize(image_path)


@pytest.fixture(scope="session")
def postgres_image(image_path: str) -> str:
    return workloads.postgres() if image_path == "source" else workloads.postgres_public()


@pytest.fixture(scope="session")
def postgres_container(postgres_image: str) -> Iterator[NoopExecutor]:
    """A running PostgreSQL on a free loopback port, removed after the session."""
    container = engine.client().containers.run(
        postgres_image,
        detach=True,
        environment={"POSTGRES_USER": POSTGRES_USER, "POSTGRES_PASSWORD": POSTGRES_PASSWORD},
        ports={"5432/tcp": ("127.0.0.1", None)},
        labels={"io.argocd-migration-e2e.role": "tests-postgres"},
    )
    try:
        container.reload()
        port = int(container.ports["5432/tcp"][0]["HostPort"])
        server = NoopExecutor(
            host="127.0.0.1",
            port=port,
            user=POSTGRES_USER,
            options="",
            dbname="postgres",
            password=POSTGRES_PASSWORD,
        )
        _wait_until_accepting(server, container)
        # The empty template every test database is cloned from.
        with DatabaseJanitor(
            user=server.user,
            host=server.host,
            port=server.port,
            password=server.password,
            dbname=server.template_dbname,
            as_template=True,
        ):
            yield server
    finally:
        container.remove(force=True, v=True)


def _wait_until_accepting(
    server: NoopExecutor, container: docker.models.containers.Container
) -> None:
    @retry(
        retry=retry_if_exception_type(psycopg.OperationalError),
        stop=stop_after_delay(60),
        wait=wait_exponential(multiplier=0.1, max=1),
        reraise=True,
    )
    def connect() -> None:
        container.reload()
        if container.status == "exited":
            raise RuntimeError(f"postgres exited: {container.logs(tail=20).decode()}")
        psycopg.connect(
            host=server.host,
            port=server.port,
            user=server.user,
            password=server.password,
            dbname="postgres",
            connect_timeout=2,
        ).close()

    connect()


postgres_server = factories.postgresql_noproc(depends_on="postgres_container")
# A fresh, empty database per test (created and dropped by pytest-postgresql's janitor).
postgresql = factories.postgresql("postgres_server", dbname="app_tests")
