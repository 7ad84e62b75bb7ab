"""One Postgres server for the session's scenarios, with a database and a role of its own
for each: the way a platform's apps often meet their database (a server they do not run,
its address and their credentials in the app's Secret).

A Postgres of each scenario's own, synced through Argo CD, started and initialised, was
about a third of what a scenario cost the node. The hook meets the same things either
way: a real, separate database, reached through the settings Secret, whose schema only
the scenario's migrations change. A scenario about Postgres itself (its data across a
restart) still gets a server of its own, as manifests/postgres deploys it.

The server is deployed from manifests/postgres too, by an Argo CD Application of its own
in the namespace `e2e-postgres`, once per session, and a kept cluster keeps it for the
next run; its superuser's password lives in its `postgres-credentials` Secret.
"""

import base64
import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from psycopg import sql

from e2e.kube import Kube
from e2e.kubectl import Kubectl
from sample_django_app import harness

NAMESPACE = "e2e-postgres"
HOST = f"postgres.{NAMESPACE}"  # as the scenarios' pods reach it
PREFIX = "e2e_"  # every scenario's database and role; what is not ours is never dropped
SUPERUSER = "postgres"


def name_for(namespace: str) -> str:
    """A scenario's database and role, after its namespace (e2e-…)."""
    return PREFIX + namespace.removeprefix("e2e-").replace("-", "_")


def namespace_of(database: str) -> str:
    return "e2e-" + database.removeprefix(PREFIX).replace("_", "-")


@dataclass
class SharedPostgres:
    kube: Kube
    kubectl: Kubectl
    password: str  # the superuser's

    @contextlib.contextmanager
    def admin(self) -> Iterator[harness.Database]:
        with self.kubectl.port_forward(NAMESPACE, "service/postgres", 5432) as port:
            yield harness.Database("127.0.0.1", port, "postgres", SUPERUSER, self.password)

    def create(self, namespace: str, password: str) -> str:
        """A role and a database of the scenario's own, the role owning it; its name."""
        name = name_for(namespace)
        with self.admin() as db:
            db.query(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(password)
                )
            )
            db.query(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(name)
                )
            )
        return name

    def drop(self, *names: str) -> None:
        """Databases and their roles, whoever is still connected (WITH (FORCE))."""
        if not names:
            return
        with self.admin() as db:
            for name in names:
                db.query(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
                db.query(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))

    def drop_orphans(self) -> list[str]:
        """The databases of namespaces that are gone (a run interrupted, kept failures
        freed since): a kept cluster's server would fill up with them."""
        with self.admin() as db:
            ours = [
                row[0]
                for row in db.query(
                    "SELECT datname FROM pg_database WHERE datname LIKE %s", (PREFIX + "%",)
                )
            ]
        live = {
            ns.metadata.name
            for ns in self.kube.core.list_namespace().items
            if ns.metadata.deletion_timestamp is None  # on its way out: gone
        }
        orphans = [name for name in ours if namespace_of(name) not in live]
        self.drop(*orphans)
        return orphans


def credentials(password: str) -> dict[str, str]:
    """The server's `postgres-credentials` Secret (the official image's variables)."""
    return {"POSTGRES_USER": SUPERUSER, "POSTGRES_DB": "postgres", "POSTGRES_PASSWORD": password}


def existing_password(kube: Kube) -> str | None:
    """The superuser's password, if a server (of a kept cluster) is there already."""
    try:
        secret = kube.core.read_namespaced_secret("postgres-credentials", NAMESPACE)
    except ApiException as err:
        if err.status == 404:
            return None
        raise
    return base64.b64decode(secret.data["POSTGRES_PASSWORD"]).decode()


def new_password() -> str:
    return secrets.token_urlsafe(16)


def namespace_object() -> client.V1Namespace:
    return client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE))
