"""The sample app deployed through Argo CD in a namespace of its own: the thing every
scenario gives, changes and checks.

A release is a commit on the scenario's branch (the overlay's `images:` tag, and any Job
patch; for the Helm chart, its values file's `image.tag` and any other value), a deploy
is a sync of that commit; the database is read through a port-forward.
"""

import collections
import contextlib
import datetime
import json
import secrets
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from e2e import gitserver, shared_postgres
from e2e.application import Application, Sync
from e2e.cli import ArgoCDCLI
from e2e.kube import Kube, condition, job_ended, unscheduled
from e2e.kubectl import Kubectl
from e2e.recording import Recorder
from e2e.shared_postgres import SharedPostgres
from e2e.waits import Outcome, failed, pending, succeeded, wait_until
from harness import ROOT
from sample_django_app import harness

MANIFESTS = ROOT / "manifests"
APPLICATIONS = MANIFESTS / "argocd/applications.yaml"
# The variant that deploys the app from its Helm chart, not from an overlay of manifests/app.
CHART = "chart"
CHART_PATH = "manifests/chart/bookshop"
DB_NAME = DB_USER = "bookshop"
ONE_SECOND = datetime.timedelta(seconds=1)  # object timestamps have second resolution
# The tag committed while only Postgres is synced: the app's Application does not exist yet.
POSTGRES_ONLY = "v1.0"
CPU_10M = {"requests": {"cpu": "10m"}}
# And room for the session's scenarios on the shared server (e2e/shared_postgres.py).
POSTGRES_CONTAINER = {
    "name": "postgres",
    "resources": CPU_10M,
    "args": ["postgres", "-c", "max_connections=200"],
}
POSTGRES_CPU = {
    "apiVersion": "apps/v1",
    "kind": "StatefulSet",
    "metadata": {"name": "postgres"},
    "spec": {"template": {"spec": {"containers": [POSTGRES_CONTAINER]}}},
}
# The scenarios' databases live as long as their pod: persistence is not what they prove,
# and manifests/postgres' PersistentVolumeClaim costs the node local-path-provisioner's
# helper pods at each create and delete. A scenario about Postgres' own restarts asks for
# the claim (Bookshop.durable_database).
DATA_IN_AN_EMPTY_DIR = [
    {"op": "remove", "path": "/spec/volumeClaimTemplates"},
    {
        "op": "add",
        "path": "/spec/template/spec/volumes",
        "value": [{"name": "data", "emptyDir": {}}],
    },
]
# The web pods and their ReplicaSets (the migration pod is labelled `app: django` too).
WEB = "app=django,component=web"


def merged_values(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Values `over` on `base`: maps merged key by key, anything else replaced (null
    too, which the chart reads as "not set")."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merged_values(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class ImageNames:
    """Where the manifests' images come from in this cluster."""

    app_repository: str  # e.g. migration-e2e.local/my-django-app
    postgres: str  # e.g. postgres:15-bookworm or migration-e2e.local/postgres:15


@dataclass
class Bookshop:
    kube: Kube
    kubectl: Kubectl
    cli: ArgoCDCLI
    namespace: str
    # "seed" or "hardened": which migration Job the app's overlay has; "chart": the app
    # from its Helm chart (manifests/chart/bookshop), its Job a Helm hook
    variant: str
    images: ImageNames
    branch: gitserver.Branch
    app: Application = field(init=False)
    postgres: Application = field(init=False)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    syncs: list[Sync] = field(default_factory=list)
    durable_database: bool = False  # Postgres' data on its claim, as in manifests/postgres
    recorder: Recorder | None = None  # the scenario's, once it has the namespace
    # Its database: on a Postgres of its own (the Service `postgres` in its namespace), or
    # on the session's shared server (e2e/shared_postgres.py; use_shared_database).
    db_name: str = DB_NAME
    db_user: str = DB_USER
    db_host: str = "postgres"  # as its pods reach the server
    db_namespace: str = ""  # where the server's Service is: its own namespace by default
    # The chart's values every release commits (the chart variant), besides image.tag.
    chart_values: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.app = Application(self.kube, self.cli, self.namespace)
        self.postgres = Application(self.kube, self.cli, f"{self.namespace}-postgres")
        self.db_namespace = self.db_namespace or self.namespace

    # -- given ---------------------------------------------------------------------------

    def set_up(self, first_release: str) -> str:
        """The database, then the app's Application at its first release; returns that
        release's revision (not yet synced to the app)."""
        self.provision_database()
        return self.add_app(first_release)

    def provision_database(self) -> None:
        """Secrets (never in Git), and Postgres in an Application of its own, synced and
        Healthy before the app's first PreSync hook needs it."""
        credentials = {
            "POSTGRES_USER": self.db_user,
            "POSTGRES_DB": self.db_name,
            "POSTGRES_PASSWORD": self.password,
        }
        self._create_secret("postgres-credentials", credentials)
        self._create_settings()
        revision = self.release(POSTGRES_ONLY)
        self._create_application(self.postgres, "bookshop-postgres")
        self.postgres.sync(revision)
        wait_until(self.postgres.healthy_and_synced, 180, "Postgres to be Synced and Healthy")

    def add_app(self, first_release: str) -> str:
        revision = self.release(first_release)
        if self.variant == CHART:
            self._create_application(self.app, "bookshop-chart")
        else:
            overlay = f"manifests/app/overlays/{self.variant}"
            self._create_application(self.app, "bookshop", overlay)
        return revision

    def _create_application(
        self, application: Application, template: str, path: str | None = None
    ) -> None:
        """From the Application of that name in applications.yaml, for this namespace."""
        templates = {a["metadata"]["name"]: a for a in yaml.safe_load_all(APPLICATIONS.read_text())}
        chosen = templates[template]
        application.create(
            chosen,
            namespace=self.namespace,
            path=path or chosen["spec"]["source"]["path"],
            revision=self.branch.name,
            repo_url=gitserver.URL_IN_CLUSTER,
        )

    def applications(self) -> list[Application]:
        """Those this run made for the app (none when Helm itself installs it)."""
        return [application for application in (self.app, self.postgres) if application.created]

    def tear_down(self) -> None:
        for application in self.applications():
            application.delete()

    def use_shared_database(self, shared: "SharedPostgres") -> None:
        """A database and role of its own on the session's server, and the app's
        settings Secret pointing at them: no Postgres in its namespace."""
        self.db_name = self.db_user = shared.create(self.namespace, self.password)
        self.db_host, self.db_namespace = shared_postgres.HOST, shared_postgres.NAMESPACE
        self._create_settings()

    def _create_settings(self) -> None:
        """The settings.py the app and its Job mount (never in Git)."""
        db = harness.Database(self.db_host, 5432, self.db_name, self.db_user, self.password)
        settings = harness.render_settings(db, secrets.token_urlsafe(32))
        self._create_secret("django-settings", {"settings.py": settings})

    def _create_secret(self, name: str, data: dict[str, str]) -> None:
        self.kube.core.create_namespaced_secret(
            self.namespace,
            client.V1Secret(metadata=client.V1ObjectMeta(name=name), string_data=data),
        )

    # -- when ----------------------------------------------------------------------------

    def release(
        self,
        tag: str,
        *,
        job_patch: dict[str, Any] | None = None,
        deployment_patch: dict[str, Any] | None = None,
        resources: Sequence[dict[str, Any]] = (),
        values: dict[str, Any] | None = None,
    ) -> str:
        """Commit the manifests at `tag` to the branch, with patches of the Job and the
        Deployment and more resources of the app, if any (the chart variant: its values,
        `chart_values` and then `values` over the chart's own); the sha."""
        with tempfile.TemporaryDirectory() as tmp:
            tree = Path(tmp)
            shutil.copytree(MANIFESTS, tree / "manifests")
            if self.variant == CHART:
                if job_patch or deployment_patch or resources:
                    raise ValueError("the chart is released by its values, not by patches")
                self._commit_chart_values(tree / CHART_PATH / "values.yaml", tag, values or {})
            else:
                self._kustomize_release(tree, tag, job_patch, deployment_patch, resources)
            self._postgres_release(tree)
            return self.branch.commit(tree, f"release {tag} ({self.variant} Job)")

    def _commit_chart_values(self, path: Path, tag: str, values: dict[str, Any]) -> None:
        """The chart's values.yaml as a release commits it (what users do, or their CI:
        image.tag bumped in Git, any other value beside it)."""
        merged = self.chart_release(tag, values, base=yaml.safe_load(path.read_text()))
        path.write_text(yaml.safe_dump(merged, sort_keys=False))

    def chart_release(
        self, tag: str, values: dict[str, Any], base: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The chart's values for release `tag`: `chart_values`, then `values`, then the
        release's image, over `base`."""
        image = {"image": {"repository": self.images.app_repository, "tag": tag}}
        merged = base or {}
        for layer in (self.chart_values, values, image):
            merged = merged_values(merged, layer)
        return merged

    def _kustomize_release(
        self,
        tree: Path,
        tag: str,
        job_patch: dict[str, Any] | None,
        deployment_patch: dict[str, Any] | None,
        resources: Sequence[dict[str, Any]],
    ) -> None:
        """The overlay at `tag`, with its patches and more resources."""
        overlay = tree / "manifests/app/overlays" / self.variant
        kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
        kustomization["images"] = [
            {"name": "my-django-app", "newName": self.images.app_repository, "newTag": tag}
        ]
        for (api_version, kind, name), patch in (
            (("batch/v1", "Job", "db-migration"), job_patch),
            (("apps/v1", "Deployment", "django"), deployment_patch),
        ):
            if patch:
                target = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}}
                metadata = {**target["metadata"], **patch.get("metadata", {})}
                path = f"{kind.lower()}-patch.yaml"
                (overlay / path).write_text(
                    yaml.safe_dump({**patch, **target, "metadata": metadata})
                )
                kustomization.setdefault("patches", []).append({"path": path})
        for number, resource in enumerate(resources):
            path = f"resource-{number}.yaml"
            (overlay / path).write_text(yaml.safe_dump(resource))
            kustomization["resources"].append(path)
        (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))

    def _postgres_release(self, tree: Path) -> None:
        """manifests/postgres as the scenarios run it."""
        postgres = tree / "manifests/postgres/kustomization.yaml"
        pg = yaml.safe_load(postgres.read_text())
        name, _, pg_tag = self.images.postgres.rpartition(":")
        pg["images"] = [{"name": "postgres", "newName": name, "newTag": pg_tag}]
        # Postgres is the app's infrastructure here, not under test: a CPU request of
        # its own 10m rather than 100m, so that the scenarios' and the spares' seven or
        # so databases leave the 2-CPU node room for the pods that are under test (at
        # 100m, migration pods waited Pending: "Insufficient cpu").
        (postgres.parent / "cpu-request.yaml").write_text(yaml.safe_dump(POSTGRES_CPU))
        pg["patches"] = [{"path": "cpu-request.yaml"}]
        if not self.durable_database:
            (postgres.parent / "data.yaml").write_text(yaml.safe_dump(DATA_IN_AN_EMPTY_DIR))
            target = {"kind": "StatefulSet", "name": "postgres"}
            pg["patches"].append({"path": "data.yaml", "target": target})
        postgres.write_text(yaml.safe_dump(pg))

    def deploy(self, tag: str, *, timeout: float = 300, **release: Any) -> Sync:
        """Release `tag`, sync it to the end and, if the sync succeeded, wait for the
        rollout (a sync ends once its resources are applied, not once they are ready)."""
        sync = self.sync(self.release(tag, **release), timeout=timeout)
        if sync.phase == "Succeeded":
            wait_until(lambda: self.rolled_out(tag), timeout, f"{tag} to roll out")
            sync.rolled_out = datetime.datetime.now(datetime.UTC)
        return sync

    def sync(self, revision: str, *options: str, timeout: float = 300) -> Sync:
        """`argocd app sync` of `revision` (and `options`, more of its flags), to the end."""
        sync = self.start_sync(revision, *options).wait(timeout)
        self._observe_hook(sync)
        return sync

    def _observe_hook(self, sync: Sync) -> None:
        """When this sync's migration Job ran (if it is still there to tell)."""
        job = self.migration_job()
        if job is None or job.metadata.creation_timestamp < sync.started - ONE_SECOND:
            return
        sync.hook_started = job.status.start_time
        ended = job_ended(job)
        sync.hook_finished = job.status.completion_time or (ended and ended.last_transition_time)

    def start_sync(self, revision: str, *options: str) -> Sync:
        sync = self.app.start_sync(revision, *options)
        self.syncs.append(sync)
        return sync

    def evict(self, pod: client.V1Pod) -> None:
        """Evict `pod` through the Eviction API, as `kubectl drain` does: the pod gets
        the DisruptionTarget condition a plain delete does not give it."""
        self.kube.core.create_namespaced_pod_eviction(
            pod.metadata.name,
            self.namespace,
            client.V1Eviction(
                metadata=client.V1ObjectMeta(name=pod.metadata.name, namespace=self.namespace)
            ),
        )

    def enable_auto_sync(self, *options: str) -> None:
        """`argocd app set --sync-policy automated` (and `options`: --self-heal, …)."""
        self.app.argocd("app", "set", self.app.name, "--sync-policy", "automated", *options)

    def disable_auto_sync(self) -> None:
        """`argocd app set --sync-policy none`."""
        self.app.argocd("app", "set", self.app.name, "--sync-policy", "none")

    def refresh_and_wait(self) -> None:
        """Ask for a hard refresh and wait until the controller has reconciled after it."""
        self.app.wait_idle()
        self.app.refresh()

    # -- then: the cluster ---------------------------------------------------------------

    def migration_jobs(self) -> list[client.V1Job]:
        return self.kube.batch.list_namespaced_job(self.namespace).items

    def migration_job(self) -> client.V1Job | None:
        try:
            return self.kube.batch.read_namespaced_job("db-migration", self.namespace)
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def deployment(self) -> client.V1Deployment | None:
        try:
            return self.kube.apps.read_namespaced_deployment("django", self.namespace)
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def replica_sets(self) -> list[client.V1ReplicaSet]:
        return self.kube.apps.list_namespaced_replica_set(self.namespace, label_selector=WEB).items

    def web_pods(self) -> list[client.V1Pod]:
        return self.kube.core.list_namespaced_pod(self.namespace, label_selector=WEB).items

    def serving_pods(self, tag: str) -> list[client.V1Pod]:
        """The web pods of `tag` that are Ready and not on their way out (a rollout's old
        pods linger while they shut down)."""
        return [
            pod
            for pod in self.web_pods()
            if pod.spec.containers[0].image.endswith(f":{tag}")
            and pod.metadata.deletion_timestamp is None
            and condition(pod, "Ready") is not None
        ]

    def job_logs(self) -> str:
        pods = self.kube.core.list_namespaced_pod(
            self.namespace, label_selector="job-name=db-migration"
        ).items
        return "\n".join(
            self.kube.core.read_namespaced_pod_log(p.metadata.name, self.namespace) for p in pods
        )

    def rolled_out(self, tag: str) -> Outcome:
        deployment = self.deployment()
        if deployment is None:
            return pending("the django Deployment to exist")
        image = deployment.spec.template.spec.containers[0].image
        status = deployment.status
        done = (
            image.endswith(f":{tag}")
            and status.observed_generation == deployment.metadata.generation
            and (status.updated_replicas or 0) == (status.ready_replicas or 0) == status.replicas
        )
        if done:
            return succeeded(f"rolled out {tag}")
        seen = f"{image}, {status.ready_replicas or 0}/{status.replicas} ready"
        return pending(f"rollout of {tag}, is {seen}{unscheduled(self.web_pods())}")

    def still_on(self, tag: str, generation: int) -> Outcome:
        """The Deployment as it was: no new image, no new generation."""
        deployment = self.deployment()
        image = deployment.spec.template.spec.containers[0].image
        if image.endswith(f":{tag}") and deployment.metadata.generation == generation:
            return succeeded(f"Deployment still on {tag}")
        return failed(f"Deployment changed: {image}, generation {deployment.metadata.generation}")

    # -- then: the app and its database --------------------------------------------------

    @contextlib.contextmanager
    def web(self) -> Iterator[harness.Server]:
        with self.kubectl.port_forward(self.namespace, "service/django", 80) as port:
            yield harness.Server(f"http://127.0.0.1:{port}", Path("/dev/null"))

    def health(self) -> dict[str, Any]:
        """The app's /healthz: which release serves, on which schema (and what is pending)."""
        with self.web() as web:
            _, health = web.get_json("/healthz")
        return health

    @contextlib.contextmanager
    def pod_web(self, pod: str) -> Iterator[harness.Server]:
        with self.kubectl.port_forward(self.namespace, f"pod/{pod}", 8000) as port:
            yield harness.Server(f"http://127.0.0.1:{port}", Path("/dev/null"))

    def event_messages(self, reason: str) -> list[str]:
        """What the namespace's events of this reason said (FailedMount: why a pod never
        started, still there once the pod is gone)."""
        events = self.kube.core.list_namespaced_event(
            self.namespace, field_selector=f"reason={reason}"
        ).items
        return [event.message for event in events]

    def secrets(self) -> list[client.V1Secret]:
        return self.kube.core.list_namespaced_secret(self.namespace).items

    def failed_health_answers(self, pod: str) -> list[str]:
        """Readiness probes the pod answered with an error status (not the refused
        connections of gunicorn still starting): what a stale schema would cause."""
        events = self.kube.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={pod}"
        ).items
        return [e.message for e in events if e.reason == "Unhealthy" and "statuscode" in e.message]

    @contextlib.contextmanager
    def following_logs(self, pod: client.V1Pod) -> Iterator["Log"]:
        """The pod's log as it is written, kept after the pod is gone (a replaced web
        pod's log goes with it)."""
        response = self.kube.core.read_namespaced_pod_log(
            pod.metadata.name, self.namespace, follow=True, _preload_content=False
        )
        log = Log()

        def follow() -> None:
            with contextlib.suppress(Exception):  # the stream closed under it, at the end
                for chunk in response.stream(4096, decode_content=True):
                    log.chunks.append(chunk.decode(errors="replace"))

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        try:
            yield log
        finally:
            response.release_conn()
            response.close()
            reader.join(timeout=10)

    @contextlib.contextmanager
    def database(self) -> Iterator[harness.Database]:
        with self.kubectl.port_forward(self.db_namespace, "service/postgres", 5432) as port:
            yield harness.Database("127.0.0.1", port, self.db_name, self.db_user, self.password)

    @contextlib.contextmanager
    def holding_lock(self, table: str) -> Iterator[None]:
        """A transaction holding a lock on `table` (harness.Database.holding_lock)."""
        with self.database() as db, db.holding_lock(table):
            yield

    def migration_pods(self, job: client.V1Job) -> list[client.V1Pod]:
        return self.kube.core.list_namespaced_pod(
            self.namespace, label_selector=f"batch.kubernetes.io/controller-uid={job.metadata.uid}"
        ).items

    def gone(self, pods: list[client.V1Pod]) -> Outcome:
        left = [
            p.metadata.name
            for p in self.kube.core.list_namespaced_pod(self.namespace).items
            if p.metadata.uid in {q.metadata.uid for q in pods}
        ]
        return pending(f"pods {left} to be gone") if left else succeeded("pods gone")

    def pods_succeeded(self, pods: list[client.V1Pod]) -> Outcome:
        live = {
            p.metadata.uid: p.status.phase
            for p in self.kube.core.list_namespaced_pod(self.namespace).items
        }
        phases = [live.get(pod.metadata.uid, "gone") for pod in pods]
        if phases and all(phase == "Succeeded" for phase in phases):
            return succeeded("the pods succeeded")
        return pending(f"the pods to succeed, are {phases}")

    def migration_job_gone(self) -> Outcome:
        """No Job left: one being deleted stays until its pods and finalizers are gone."""
        job = self.migration_job()
        if job is None:
            return succeeded("the migration Job is gone")
        deleting = "being deleted" if job.metadata.deletion_timestamp else "not deleted"
        return pending(f"the migration Job to be gone, is {deleting}")

    def migration_waiting(self) -> Outcome:
        """The migration's pod is running (and so, with the lock held, waiting)."""
        job = self.migration_job()
        if job is None or not job.status.active:
            return pending("the migration Job to have a running pod")
        pods = self.migration_pods(job)
        if any(p.status.phase == "Running" for p in pods):
            return succeeded("the migration pod is running")
        phases = [p.status.phase for p in pods]
        return pending(f"the migration pod to run, pods: {phases}{unscheduled(pods)}")

    def served(self) -> "Served":
        """What a release that fails must leave as it was."""
        return Served(
            self.deployment().metadata.generation,
            frozenset(rs.metadata.uid for rs in self.replica_sets()),
            self.fingerprint(),
        )

    def fingerprint(self) -> str:
        """A checksum of the schema and every row (the app's tables and Django's)."""
        with self.database() as db:
            return json.dumps(harness.snapshot(db), sort_keys=True, default=str)

    @contextlib.contextmanager
    def probing(self, path: str = "/api/books") -> Iterator["Probe"]:
        """Keeps requesting `path` through the Service while the block runs."""
        with self.web() as server:
            probe = Probe(server.url + path)
            if self.recorder is not None:
                self.recorder.probes.append(probe)
            probe.start()
            try:
                yield probe
            finally:
                probe.stop()


@dataclass(frozen=True)
class Served:
    """The Deployment's generation, its ReplicaSets, and every row of the database."""

    generation: int
    replica_sets: frozenset[str]
    fingerprint: str


@dataclass
class Log:
    chunks: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.chunks)


class Probe(threading.Thread):
    """Requests a URL back to back; counts answers by status ("error" when none came)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.errors: list[str] = []
        self.seen: list[tuple[float, str]] = []  # (time.time(), outcome) of each answer
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    outcome = str(response.status)
            except urllib.error.HTTPError as err:
                outcome = str(err.code)
                self.errors.append(f"{err.code}: {err.read()[:200]!r}")
            except OSError as err:
                outcome = "error"
                self.errors.append(str(err))
            self.seen.append((time.time(), outcome))
            self._stop_event.wait(0.2)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)

    @property
    def answers(self) -> dict[str, int]:
        """How many answers came with each outcome."""
        return dict(collections.Counter(outcome for _, outcome in self.seen))

    @property
    def total(self) -> int:
        return len(self.seen)

    @property
    def statuses(self) -> set[str]:
        """The HTTP statuses answered (not the requests that got no answer)."""
        return set(self.answers) - {"error"}

    def times(self, outcome: str) -> list[float]:
        return [at for at, seen in self.seen if seen == outcome]
