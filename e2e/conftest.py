"""Session fixtures of the end-to-end suite: one cluster, its images, per-test namespaces."""

import contextlib
import dataclasses
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client
from kubernetes.config.config_exception import ConfigException
from pytest_kind import KindCluster

from e2e import argocd as argocd_install
from e2e import (
    bookshop,
    cli,
    cpu,
    diagnostics,
    gitserver,
    kept,
    recording,
    report,
    shared_postgres,
    timetofail,
    timings,
    workers,
)
from e2e import cluster as clusters
from e2e.cli import ArgoCDCLI
from e2e.helm import Helm
from e2e.kube import Kube, namespace, namespace_gone, unique_name
from e2e.kubectl import Kubectl
from e2e.running import RunningTests
from e2e.waits import State, wait_until
from e2e.workers import ArgoCDLock, Share
from harness.plugin import OPTIONS_KEY, TERMINAL_KEY, Options, progress_to_terminal, status_line
from images import argocd as argocd_images
from images import argocd_refs, engine, hosttools, progress, session, upstream
from images.errors import BuildError
from images.pins import pins
from images.registry import resolve_image_path
from images.session import SessionImages, make_all
from images.session import targets as session_targets

T = TypeVar("T")


@dataclass(frozen=True)
class Cluster:
    name: str
    kube: Kube
    kind: KindCluster | None  # None for an existing cluster given by --kubeconfig
    artifacts: Path  # where the session's phases are timed (timings.jsonl)
    preloaded: frozenset[str] = frozenset()  # images its node image already holds

    @property
    def node(self) -> str | None:
        """Its node's container (kind names it so); None for one given by --kubeconfig."""
        return f"{self.name}-control-plane" if self.kind else None

    def load_images(self, *tags: str) -> None:
        """Make images built on this machine available to the node, on both paths, since
        the app's images are always built here; a preloaded node has them all. One `kind
        load` for all: the app's releases share most layers, which one `docker save` writes
        once (pytest-kind-ng's load_docker_image takes one image)."""
        tags = tuple(tag for tag in tags if tag not in self.preloaded)
        if not tags:
            return
        if self.kind is None:
            raise pytest.UsageError(
                f"images built here ({', '.join(tags)}) need a kind cluster to load them into; "
                "an existing cluster (--kubeconfig) must be able to pull them"
            )
        load = [str(self.kind.kind_path), "load", "docker-image", "--name", self.name, *tags]
        with timings.phase("image load", self.artifacts):
            subprocess.run(load, check=True)


@pytest.fixture(scope="session")
def share(pytestconfig: pytest.Config) -> Share:
    """What this worker's session shares with the others of a distributed run."""
    return Share(workers.share_dir(pytestconfig))


@pytest.fixture(scope="session")
def argocd_lock(share: Share, pytestconfig: pytest.Config) -> ArgoCDLock:
    lock = pytestconfig.stash[ARGOCD_LOCK] = ArgoCDLock(share)
    return lock


def timed(phase: str, artifacts: Path, make: Callable[[], T]) -> Callable[[], T]:
    """`make`, timed as a phase of the session's setup when it runs."""

    def run() -> T:
        with timings.phase(phase, artifacts):
            return make()

    return run


@pytest.fixture(scope="session")
def cluster_tools(
    options: Options, image_path: str, share: Share, request: pytest.FixtureRequest
) -> clusters.Tools:
    build = timed(
        "image build",
        Path(options.artifacts_dir),
        lambda: clusters.tools(image_path, options.kind_image),
    )
    tools = workers.set_up(request, share, "building the cluster's tools", build)
    return clusters.Tools(
        kind=Path(options.kind_bin) if options.kind_bin else tools.kind,
        kubectl=Path(options.kind_kubectl_bin) if options.kind_kubectl_bin else tools.kubectl,
        node_image=tools.node_image,
    )


@pytest.fixture(scope="session")
def cluster(options: Options, request: pytest.FixtureRequest, share: Share) -> Iterator[Cluster]:
    """The session's cluster: a kind cluster we create, or the one --kubeconfig names.
    Every test needs it, so failing to make it stops the run in one line."""
    artifacts = Path(options.artifacts_dir)
    made = False
    try:
        if options.kubeconfig:
            kube = Kube.from_kubeconfig(Path(options.kubeconfig))
            clusters.check_reachable(kube.api, options.kubeconfig)
            yield Cluster("existing", kube, None, artifacts)
        elif share.folder is None:
            exists = clusters.check_name(options.cluster_name, keep=options.keep_cluster)
            new = _new_cluster(options, request, exists=exists, keep=options.keep_cluster)
            with new as (kind, preloaded):
                kube, made = Kube.from_kubeconfig(kind.kubeconfig_path), True
                yield Cluster(options.cluster_name, kube, kind, artifacts, preloaded)
        else:
            tools, preloaded = workers.set_up(
                request, share, "making the cluster", lambda: _cluster_for_all(options, request)
            )
            kind = clusters.attach(options.cluster_name, tools)
            kube = Kube.from_kubeconfig(kind.kubeconfig_path)
            yield Cluster(options.cluster_name, kube, kind, artifacts, preloaded)
    except (clusters.ClusterError, workers.SharedStepFailed) as err:
        workers.stop(request, str(err))
    except ConfigException as err:
        workers.stop(request, f"the kubeconfig {options.kubeconfig} is not usable: {err}")
    except Exception as err:
        if made:  # deleting it afterwards failed: that is no reason to stop
            raise
        workers.stop(request, f"making the cluster failed: {err}")


@contextlib.contextmanager
def _new_cluster(
    options: Options, request: pytest.FixtureRequest, *, exists: bool, keep: bool
) -> Iterator[tuple[KindCluster, frozenset[str]]]:
    """A kind cluster from the session's node image, ready for pods; deleted afterwards
    unless kept. Times creating it, not the session it serves."""
    tools: clusters.Tools = request.getfixturevalue("cluster_tools")
    if exists:  # kept: its node has what earlier runs loaded, which `kind load` skips
        node_image, preloaded = tools.node_image, frozenset[str]()
    else:
        node_image, preloaded = request.getfixturevalue("session_node_image")
    tools = dataclasses.replace(tools, node_image=node_image)
    with contextlib.ExitStack() as stack:
        with timings.phase("cluster create", Path(options.artifacts_dir)):
            kind = stack.enter_context(
                clusters.kind_cluster(options.cluster_name, tools, keep=keep, exists=exists)
            )
            kube = Kube.from_kubeconfig(kind.kubeconfig_path)
            wait_until(
                lambda: clusters.system_ready(kube),
                180,
                "the new cluster's node, CoreDNS and kube-proxy to be ready",
            )
        yield kind, preloaded


def _cluster_for_all(
    options: Options, request: pytest.FixtureRequest
) -> tuple[clusters.Tools, frozenset[str]]:
    """The first worker makes the cluster for every worker, and leaves deleting it to the
    controller (unless kept), which does it once every worker is done with it."""
    exists = clusters.check_name(options.cluster_name, keep=options.keep_cluster)
    share: Share = request.getfixturevalue("share")
    tools: clusters.Tools = request.getfixturevalue("cluster_tools")
    if not exists and not options.keep_cluster:
        share.at_end("delete cluster", (options.cluster_name, tools.kind))
    with _new_cluster(options, request, exists=exists, keep=True) as (kind, preloaded):
        return dataclasses.replace(tools, node_image=kind.image), preloaded


@pytest.fixture(scope="session")
def session_images(
    options: Options,
    image_path: str,
    argocd_version: str,
    upgrade_from: str | None,
    share: Share,
    request: pytest.FixtureRequest,
) -> SessionImages:
    build = timed(
        "image build",
        Path(options.artifacts_dir),
        lambda: session.build(image_path == "source", argocd_version, upgrade_from),
    )
    return workers.set_up(request, share, "building the session's images", build)


@pytest.fixture(scope="session")
def session_node_image(
    cluster_tools: clusters.Tools,
    options: Options,
    image_path: str,
    request: pytest.FixtureRequest,
) -> tuple[str, frozenset[str]]:
    """On the source path the session's cluster starts from a node image that already
    holds every image the session runs, so a new cluster loads nothing. Clusters that
    tests make on the side, and a node image the user names, stay plain. Returns the
    node image and the images in it."""
    if image_path != "source" or options.kind_image:
        return cluster_tools.node_image, frozenset()
    images: SessionImages = request.getfixturevalue("session_images")
    with timings.phase("node image preload", Path(options.artifacts_dir)):
        node = session.preloaded_node(cluster_tools.node_image, images)
    return node, frozenset(images.built_here())


@pytest.fixture(scope="session")
def tool_image(
    cluster: Cluster, session_images: SessionImages, share: Share, request: pytest.FixtureRequest
) -> str:
    """An image with Python in it, for pods that probe the cluster from inside."""
    if session_images.source:  # the public image the node pulls itself
        workers.set_up(
            request,
            share,
            "loading the tool image",
            lambda: cluster.load_images(session_images.python),
        )
    return session_images.python


@pytest.fixture
def test_namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = unique_name(request.node.name.lower().replace("_", "-")[:40].strip("-"))
    with namespace(cluster.kube, name) as ns:
        yield ns


@pytest.fixture(scope="session")
def kubectl(cluster: Cluster, cluster_tools: clusters.Tools) -> Kubectl:
    return Kubectl(cluster_tools.kubectl, cluster.kube.kubeconfig)


@pytest.fixture(scope="session")
def helm(image_path: str, share: Share, request: pytest.FixtureRequest, cluster: Cluster) -> Helm:
    """The helm CLI the default Argo CD release carries (versions.toml [tools])."""
    binary = workers.set_up(request, share, "getting helm", lambda: hosttools.helm(image_path))
    return Helm(binary, cluster.kube.kubeconfig)


@pytest.fixture(scope="session")
def kustomize(image_path: str, share: Share, request: pytest.FixtureRequest) -> Path:
    return workers.set_up(
        request, share, "getting kustomize", lambda: hosttools.kustomize(image_path)
    )


@pytest.fixture(scope="session")
def argocd_version(options: Options, image_path: str) -> str:
    return session_argocd_version(options, image_path)


def session_argocd_version(options: Options, image_path: str) -> str:
    """On the source path, a branch or commit becomes the module version it resolves to."""
    wanted = options.argocd_version or pins()["argocd"]["default"]
    return argocd_refs.release(wanted).version if image_path == "source" else wanted


@pytest.fixture(scope="session")
def upgrade_from(options: Options, image_path: str, argocd_version: str) -> str | None:
    return session_upgrade_from(options, image_path, argocd_version)[0]


def session_upgrade_from(
    options: Options, image_path: str, argocd_version: str
) -> tuple[str | None, str]:
    """Where the upgrade test starts: --upgrade-from, else the minor before the session's;
    and a notice if the source path cannot build that one with what it was given (then
    the upgrade test starts from the patch release before, as before v3.5 was pinned)."""
    if options.upgrade_from:
        wanted = options.upgrade_from
        return argocd_refs.release(wanted).version if image_path == "source" else wanted, ""
    previous = argocd_refs.upgrade_from(argocd_version, image_path)
    if not (
        image_path == "source"
        and previous
        and argocd_refs.needs_given_source(previous)
        and not upstream.given_paths()
    ):
        return previous, ""
    instead = argocd_refs.upgrade_from(argocd_version, image_path, across_minors=False)
    return instead, (
        f"Argo CD {previous} is built with its gitops-engine source, which was not given "
        f"(--gitops-engine-source): the upgrade test starts from {instead} instead"
    )


@pytest.fixture(scope="session")
def argocd(
    cluster: Cluster,
    install_argocd: Callable[..., None],
    kubectl: Kubectl,
    argocd_version: str,
    image_path: str,
    request: pytest.FixtureRequest,
) -> str:
    """Argo CD installed (once per session) from its release's core-install.yaml. While
    its pods start, the Git server and the app's images, which every scenario needs too,
    are put in place."""

    def meanwhile() -> None:
        request.getfixturevalue("git_server")
        request.getfixturevalue("app_images")

    def install() -> None:
        with timings.phase("Argo CD install+ready", cluster.artifacts):
            install_argocd(argocd_version, meanwhile)
            argocd_install.apply_project(kubectl, bookshop.MANIFESTS / "argocd/project.yaml")

    share: Share = request.getfixturevalue("share")
    workers.set_up(request, share, "installing Argo CD", install)
    report.write_session(
        cluster.artifacts,
        argocd=argocd_version,
        kubernetes=client.VersionApi(cluster.kube.api).get_code().git_version,
        image_path=image_path,
        cluster=cluster.name,
    )
    return argocd_version


@pytest.fixture(scope="session")
def argocd_cli(
    cluster: Cluster,
    argocd_version: str,
    upgrade_from: str | None,
    image_path: str,
    tmp_path_factory: pytest.TempPathFactory,
    options: Options,
) -> ArgoCDCLI:
    """The `argocd` CLI of each release the session installs (made before the workers
    started), in core mode against the session's cluster."""
    home = tmp_path_factory.mktemp("argocd-cli")
    versions = session.argocd_versions(argocd_version, upgrade_from)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return ArgoCDCLI(
        {v: argocd_images.cli(v, image_path) for v in versions},
        cli.core_mode_kubeconfig(cluster.kube.kubeconfig, home / "kubeconfig"),
        Path(options.artifacts_dir) / f"argocd-cli-{worker}.log",
        argocd_version,
    )


@pytest.fixture(scope="session")
def install_argocd(
    cluster: Cluster,
    kubectl: Kubectl,
    kustomize: Path,
    argocd_cli: ArgoCDCLI,
    request: pytest.FixtureRequest,
) -> Callable[..., None]:
    """Installs a release over whatever runs (`kubectl apply --server-side`, as Argo CD's
    upgrade docs say) and waits until it has rolled out; `install(version, meanwhile)`.
    The CLI follows: it is the release's own."""

    def install(version: str, meanwhile: Callable[[], None] = lambda: None) -> None:
        images: SessionImages = request.getfixturevalue("session_images")
        _install_argocd(cluster, kubectl, kustomize, images, version, meanwhile)
        argocd_cli.version = version

    return install


def _install_argocd(
    cluster: Cluster,
    kubectl: Kubectl,
    kustomize: Path,
    images: SessionImages,
    version: str,
    meanwhile: Callable[[], None],
) -> None:
    if images.source:
        with timings.phase("image build", cluster.artifacts):
            built = images.argocd_release(version)
        cluster.load_images(built.argocd, built.redis)
        public = argocd_images.public_images(version)
        source = argocd_install.InstallSource(
            version,
            built.install_manifest,
            {public["argocd"]: built.argocd, public["redis"]: built.redis},
        )
    else:
        source = argocd_install.InstallSource(version, argocd_images.public_manifest(version), {})
    manifest = argocd_install.render(source, kustomize)
    argocd_install.install(cluster.kube, kubectl, manifest, meanwhile=meanwhile)


@pytest.fixture(scope="session")
def git_server(
    cluster: Cluster,
    kubectl: Kubectl,
    session_images: SessionImages,
    share: Share,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    def deploy() -> None:
        with timings.phase("Git server ready", cluster.artifacts):
            image = session_images.git_server
            cluster.load_images(image)
            gitserver.deploy(cluster.kube, image, engine.client().images.get(image).id)
            worktree = tmp_path_factory.mktemp("git-default-branch") / "tree"
            gitserver.publish_default_branch(kubectl, worktree)

    workers.set_up(request, share, "deploying the Git server", deploy)
    return gitserver.URL_IN_CLUSTER


@pytest.fixture(scope="session")
def app_images(
    cluster: Cluster, session_images: SessionImages, share: Share, request: pytest.FixtureRequest
) -> bookshop.ImageNames:
    """Every release of the app, built once and loaded once; Postgres beside them."""
    from sample_django_app import build

    images = session_images
    loaded = (*images.app_releases, *([images.postgres] if images.source else []))
    workers.set_up(request, share, "loading the app's images", lambda: cluster.load_images(*loaded))
    return bookshop.ImageNames(build.IMAGE_REPOSITORY, images.postgres)


@dataclass
class Bookshops:
    """Makes the app under test, each in a namespace and Applications of its own, its
    database on the session's shared Postgres server (e2e/shared_postgres.py), or on a
    Postgres of its own when the scenario is about Postgres itself (durable_database).

    The next scenario's namespace is made in the background while the current one runs
    (it is then named e2e-shop-…, annotated with the scenario)."""

    kube: Kube
    kubectl: Kubectl
    cli: ArgoCDCLI
    images: bookshop.ImageNames
    workdir: Path
    artifacts: Path
    argocd_lock: ArgoCDLock
    session: str  # labels its namespaces, so a later run on a kept cluster can tell them
    shared: shared_postgres.SharedPostgres | None = None  # once shared_server() is up
    _spare: Future[bookshop.Bookshop] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _provisioner: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="spare-bookshop")
    )

    def make(
        self,
        hint: str,
        release: str = "v1.0",
        *,
        variant: str = "hardened",
        deploy: bool = True,
        spare_for_next: bool = False,
        durable_database: bool = False,
        chart_values: dict[str, Any] | None = None,
        application: bool = True,
    ) -> bookshop.Bookshop:
        """`variant="chart"`: the app from its Helm chart, with `chart_values` committed
        in each release's values besides its image.tag. `application=False`: only the
        namespace, its settings Secret and database (Helm itself installs the chart)."""
        if durable_database:  # the spare's database is not
            shop = self._with_database(hint, durable=True)
        else:
            shop = self._take_spare() or self._with_database(hint)
        self.kube.core.patch_namespace(
            shop.namespace, {"metadata": {"annotations": {SCENARIO_ANNOTATION: hint}}}
        )
        shop.recorder = recording.Recorder(self.kube, shop.namespace, shop.app.name).start()
        if spare_for_next:
            self.provision_spare()
        shop.variant, shop.chart_values = variant, chart_values or {}
        if not application:
            return shop
        revision = shop.add_app(release)
        if deploy:
            sync = shop.sync(revision)
            if sync.phase != "Succeeded":
                # Not the scenario's own failure, so no report hook collects it: do it here.
                folder = diagnostics.folder_for_given(self.artifacts, shop.namespace)
                summary = diagnostics.collect(shop, folder)
                raise AssertionError(
                    f"deploying {release} as a given: {sync.phase}: {sync.message}\n{summary}"
                )
            wait_until(lambda: shop.rolled_out(release), 300, f"{release} to roll out")
        return shop

    def remove(self, shop: bookshop.Bookshop) -> None:
        if shop.recorder is not None:
            shop.recorder.stop()
        if shop.applications():  # they go through Argo CD; Helm's need not wait for it
            with self.argocd_lock.shared():
                shop.tear_down()
        self.kube.core.delete_namespace(shop.namespace)
        if self.shared and shop.db_namespace == shared_postgres.NAMESPACE:
            self.shared.drop(shop.db_name)

    def provision_spare(self) -> None:
        with self._lock:
            if self._spare is None:
                self._spare = self._provisioner.submit(self._with_database, "shop")

    def close(self) -> None:
        """The spare nobody took goes too."""
        with self._lock:
            spare, self._spare = self._spare, None
        self._provisioner.shutdown(wait=True)
        if spare is not None and spare.exception() is None:
            self.remove(spare.result())

    def _take_spare(self) -> bookshop.Bookshop | None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        try:
            return spare.result()
        except Exception as err:
            raise RuntimeError(
                f"provisioning this scenario's Postgres ahead failed: {err}"
            ) from err

    def _with_database(self, hint: str, *, durable: bool = False) -> bookshop.Bookshop:
        name = unique_name(f"e2e-{hint[:24]}".rstrip("-_")).replace("_", "-").lower()
        labels = kept.label(self.session)
        self.kube.core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels))
        )
        branch = gitserver.Branch(self.kubectl, self.workdir / name, name)
        shop = self._bookshop(name, branch, durable_database=durable)
        if durable:
            with self.argocd_lock.shared():  # its Postgres is an Application of its own
                shop.provision_database()
        else:
            assert self.shared, "the shared Postgres server is set up with the bookshops"
            shop.use_shared_database(self.shared)
        return shop

    def _bookshop(self, name: str, branch: gitserver.Branch, **fields: Any) -> bookshop.Bookshop:
        return bookshop.Bookshop(
            self.kube, self.kubectl, self.cli, name, "hardened", self.images, branch, **fields
        )

    def shared_server(self) -> str:
        """The scenarios' Postgres server, Synced and Healthy: a kept cluster's, or one
        deployed now (its Application in e2e-postgres, as a scenario's own would be); the
        superuser's password."""
        password = shared_postgres.existing_password(self.kube)
        server = self._server(password or shared_postgres.new_password())
        if password is not None:
            if server.postgres.healthy_and_synced()[0] is State.SUCCEEDED:
                return password
            kept.remove(self.kube, shared_postgres.NAMESPACE)  # half made: anew
            wait_until(
                lambda: namespace_gone(self.kube, shared_postgres.NAMESPACE),
                180,
                "the half-made shared Postgres' namespace to be gone",
            )
            server = self._server(shared_postgres.new_password())
        self.kube.core.create_namespace(shared_postgres.namespace_object())
        with self.argocd_lock.shared():
            server.provision_database()
        return server.password

    def _server(self, password: str) -> bookshop.Bookshop:
        name = shared_postgres.NAMESPACE
        return self._bookshop(
            name,
            gitserver.Branch(self.kubectl, self.workdir / name, name, force=True),
            password=password,
            db_name=shared_postgres.SUPERUSER,
            db_user=shared_postgres.SUPERUSER,
        )


@pytest.fixture(scope="session")
def bookshops(
    cluster: Cluster,
    kubectl: Kubectl,
    argocd_cli: ArgoCDCLI,
    argocd: str,
    git_server: str,
    app_images: bookshop.ImageNames,
    tmp_path_factory: pytest.TempPathFactory,
    options: Options,
    argocd_lock: ArgoCDLock,
    share: Share,
    testrun_uid: str,
) -> Iterator[Bookshops]:
    """On a kept cluster, what earlier runs left there goes first (e2e/kept.py), and the
    scenarios' Postgres server is there (e2e/shared_postgres.py), with no database of a
    namespace that is gone."""
    free = partial(kept.free_earlier_runs, cluster.kube, testrun_uid)
    share.once("freeing what earlier runs left", free)
    shops = Bookshops(
        cluster.kube,
        kubectl,
        argocd_cli,
        app_images,
        tmp_path_factory.mktemp("git"),
        Path(options.artifacts_dir),
        argocd_lock,
        testrun_uid,
    )
    password = share.once("the scenarios' Postgres server", shops.shared_server)
    shops.shared = shared_postgres.SharedPostgres(cluster.kube, kubectl, password)
    share.once("dropping the databases of namespaces gone", shops.shared.drop_orphans)
    yield shops
    shops.close()


@pytest.fixture
def deploy_bookshop(
    request: pytest.FixtureRequest, bookshops: Bookshops, options: Options, cluster: Cluster
) -> Iterator[Callable[..., bookshop.Bookshop]]:
    """Given: the app at a first release (deployed unless deploy=False), as
    `deploy_bookshop(release="v1.0", variant="hardened", deploy=True)` (variant="chart":
    from the Helm chart, with `chart_values=`). Timed, and its CPU
    measured (e2e/cpu.py), from here to the end of its teardown's record."""
    made: list[bookshop.Bookshop] = request.node.stash.setdefault(BOOKSHOPS, [])
    started = time.monotonic()
    meter = cpu.Meter(cluster.node).start()

    items = request.session.items
    later = items[items.index(request.node) + 1 :] if request.node in items else []
    more_to_come = any("deploy_bookshop" in getattr(item, "fixturenames", ()) for item in later)

    def make(release: str = "v1.0", **kwargs: Any) -> bookshop.Bookshop:
        hint = request.node.name.removeprefix("test_")
        shop = bookshops.make(hint, release, spare_for_next=more_to_come, **kwargs)
        made.append(shop)
        return shop

    yield make
    budget = request.node.get_closest_marker("cpu_budget")
    timings.record(
        made,
        request.node.name,
        time.monotonic() - started,
        Path(options.artifacts_dir),
        cpu=meter.stop(),
        budget=budget.args[0] if budget else cpu.BUDGET_S,
    )
    failed = request.node.stash.get(FAILED, False)
    outcome = request.node.stash.get(OUTCOME, "error")  # no call: its given failed
    story = recording.story_of(getattr(request.node, "function", None))
    for shop in made:
        if shop.recorder is not None:
            shop.recorder.stop()
            shop.recorder.write(Path(options.artifacts_dir), request.node.name, story, outcome)
        if failed and options.keep_cluster:  # kept for inspection, within bounds
            kept.keep(shop.kube, shop.namespace, request.node.name, Path(options.artifacts_dir))
        else:
            bookshops.remove(shop)


@pytest.fixture(scope="session")
def time_to_fail_legs(
    bookshops: Bookshops,
    argocd_lock: ArgoCDLock,
    options: Options,
    request: pytest.FixtureRequest,
) -> Iterator[dict[str, timetofail.Leg]]:
    """The time-to-fail legs, running in the background from the session's start; their
    timelines go in the report under the test that measures them."""
    measuring = [
        item.name
        for item in request.session.items
        if item.get_closest_marker("measures_time_to_fail")
    ]
    legs = timetofail.start(
        lambda label: bookshops.make(f"time-to-fail-{label.split()[0]}", "v2.0"),
        argocd_lock.shared,
    )
    yield legs
    for label, leg in legs.items():
        leg.join(timeout=timetofail.TIMEOUT)
        if leg.shop is not None and leg.shop.recorder is not None:
            leg.shop.recorder.stop()
            story = [f"Given v2.0 deployed, When broken v3.0 syncs with backoffLimit {label}"]
            test = measuring[0] if measuring else leg.name
            outcome = "error" if leg.error else "measured"
            leg.shop.recorder.write(Path(options.artifacts_dir), test, story, outcome)
        if leg.shop is not None:
            bookshops.remove(leg.shop)


@pytest.fixture(scope="session", autouse=True)
def _start_slow_scenarios_early(request: pytest.FixtureRequest, share: Share) -> None:
    """Scenarios marked `starts_early` (minutes of waiting) start with the session and
    overlap with the others; their tests, moved last, collect the results. On several
    workers they are simply handed out first instead."""
    if share.folder is None and any(
        item.get_closest_marker("starts_early") for item in request.session.items
    ):
        request.getfixturevalue("time_to_fail_legs")


@pytest.fixture(autouse=True)
def _argocd_in_use(request: pytest.FixtureRequest) -> Iterator[None]:
    """A scenario uses Argo CD alongside the others; one that reinstalls it, alone."""
    if not request.node.get_closest_marker("argocd"):
        yield
        return
    lock: ArgoCDLock = request.getfixturevalue("argocd_lock")
    if not _reinstalls_argocd(request.node):
        with lock.shared():
            yield
        return
    # kept for the worker's next test if that one has it alone too: the alone block, one
    # test after another, no scenario in between (pytest_runtest_protocol lets go)
    with lock.exclusive(keep=True):
        yield


ARGOCD_LOCK = pytest.StashKey[ArgoCDLock]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Argo CD, kept alone after a test, goes unless the next test has it alone too."""
    try:
        return (yield)
    finally:
        lock = item.config.stash.get(ARGOCD_LOCK, None)
        if lock is not None and not _reinstalls_argocd(nextitem):
            lock.let_go()


def _reinstalls_argocd(item: pytest.Item | None) -> bool:
    return bool(item and item.get_closest_marker("reinstalls_argocd"))


MEASURE_TIME_TO_FAIL = "--measure-time-to-fail"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("argocd-migration-e2e").addoption(
        MEASURE_TIME_TO_FAIL,
        action="store_true",
        help="also measure how long the default back-off holds a broken release's rollout "
        "(about 11 minutes, beside the other scenarios)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The 11-minute measurement only when asked for. In one process: the cluster's own
    tests first, as a smoke test; the slow scenarios' results late; whatever reinstalls
    Argo CD last, once nothing else (not even a background leg) depends on the controller.
    On workers: what reinstalls or restarts Argo CD heads one worker's share, at once,
    while the tests that need no Argo CD head the others' (later, the others would wait
    for it, idle, at ArgoCDLock's turnstile); the slow and the long
    scenarios come next in the others' heads, so that none is left to the end alone."""
    if not config.getoption(MEASURE_TIME_TO_FAIL):
        unasked = [item for item in items if item.get_closest_marker("measures_time_to_fail")]
        if unasked:
            config.hook.pytest_deselected(items=unasked)
            items[:] = [item for item in items if item not in unasked]
    early = [item for item in items if item.get_closest_marker("starts_early")]
    alone = [item for item in items if item.get_closest_marker("reinstalls_argocd")]
    # one that shares Argo CD again comes after the others: they would wait for its end
    alone.sort(key=_shares_argocd_again)
    count = workers.worker_count(config)
    if count > 1:
        no_argocd = [item for item in items if not item.get_closest_marker("argocd")]
        long = [item for item in items if item.get_closest_marker("long")]
        meanwhile = no_argocd + early + long
        items[:] = workers.dealt(items, count, first=alone, meanwhile=meanwhile)
    else:  # one process, or one worker: one test after another
        last = early + alone
        items[:] = [item for item in items if item not in last] + last


def _shares_argocd_again(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("reinstalls_argocd")
    return bool(marker and marker.kwargs.get("shares_again"))


@pytest.hookimpl(trylast=True)  # after the harness has read the options
def pytest_configure(config: pytest.Config) -> None:
    """Artifacts are per run: the previous run's go (in the controller of a distributed
    run, before any worker writes). A worker's progress goes to the controller."""
    folder = workers.share_dir(config)
    if folder is None:
        diagnostics.clear_previous(Path(config.stash[OPTIONS_KEY].artifacts_dir))
        config.pluginmanager.register(report.Verdicts(), report.Verdicts.NAME)
    else:
        progress.use(workers.progress_writer(folder, config.workerinput["workerid"]))


SHARE_FOLDER = pytest.StashKey[Path]()
RELAY = pytest.StashKey[workers.ProgressRelay]()
RUNNING = pytest.StashKey[RunningTests]()


def _share_folder(config: pytest.Config) -> Path:
    if SHARE_FOLDER not in config.stash:
        config.stash[SHARE_FOLDER] = Path(tempfile.mkdtemp(prefix="argocd-migration-e2e-"))
    return config.stash[SHARE_FOLDER]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """The controller of a distributed run hands each worker the session's share."""
    node.workerinput[workers.SHARE_DIR] = str(_share_folder(node.config))


def pytest_sessionstart(session: pytest.Session) -> None:
    """In the controller (or the one process), before any worker starts: check what can
    be checked at once, then build or download everything the session needs, showing the
    progress here. So a cold run is never silent, no worker waits on another's build, and
    a failed build stops the run before any test starts."""
    config = session.config
    if workers.share_dir(config) is not None or config.option.collectonly:
        return
    running = RunningTests(progress_to_terminal(config))
    config.pluginmanager.register(running, "running-tests")
    config.stash[RUNNING] = running.start()
    if config.pluginmanager.has_plugin("dsession"):  # xdist's controller
        relay = workers.ProgressRelay(_share_folder(config), running.heard)
        config.stash[RELAY] = relay.start()
    options: Options = config.stash[OPTIONS_KEY]
    terminal = config.stash[TERMINAL_KEY]
    progress.use(running.heard, status_line(terminal))
    try:
        reusing = _check_at_once(options)
        path, notice = resolve_image_path(options.images)
        if notice:
            progress.say(f"notice: {notice}")
        version = session_argocd_version(options, path)
        upgrade, upgrade_notice = session_upgrade_from(options, path, version)
        if upgrade_notice:
            progress.say(f"notice: {upgrade_notice}")
        if path == "source" and upgrade:
            argocd_refs.release(upgrade)  # its sources at hand, or one line now
        plan = session_targets(path, version, upgrade, options.kind_image, new_cluster=not reusing)
        make_all(plan)
    except (BuildError, clusters.ClusterError, ConfigException) as err:
        pytest.exit(str(err), returncode=1)
    finally:
        progress.use(running.heard)


def _check_at_once(options: Options) -> bool:
    """What fails in one line before anything is built: Docker, the cluster's name, an
    existing cluster that does not answer. Returns whether the session reuses a cluster."""
    engine.client()
    if options.kubeconfig:
        kube = Kube.from_kubeconfig(Path(options.kubeconfig))
        clusters.check_reachable(kube.api, options.kubeconfig)
        return True
    exists = clusters.check_name(options.cluster_name, keep=options.keep_cluster)
    shortfall = clusters.inotify_shortfall()
    if shortfall:
        progress.say(f"notice: {shortfall}")
    return exists


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controller, after its workers are gone: delete the cluster one of them made."""
    relay = session.config.stash.get(RELAY, None)
    if relay is not None:
        relay.stop()
    running = session.config.stash.get(RUNNING, None)
    if running is not None:
        running.stop()
    folder = session.config.stash.get(SHARE_FOLDER, None)
    if folder is None:
        return
    made = Share(folder).left_at_end("delete cluster")
    if made is not None:
        name, kind = made
        clusters.delete_cluster(name, kind)
    shutil.rmtree(folder, ignore_errors=True)


BOOKSHOPS = pytest.StashKey[list]()
SCENARIO_ANNOTATION = "migration-e2e/scenario"
FAILED = pytest.StashKey[bool]()
OUTCOME = pytest.StashKey[str]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """On a failed scenario: evidence to the artifacts folder, a summary into the report."""
    report = yield
    if report.when == "call":
        item.stash[OUTCOME] = report.outcome
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
        crash = getattr(report.longrepr, "reprcrash", None)
        for shop in item.stash.get(BOOKSHOPS, []):
            if shop.recorder is not None and crash is not None:
                shop.recorder.mark(crash.lineno, crash.message.splitlines()[0], failed=True)
        artifacts = Path(item.config.stash[OPTIONS_KEY].artifacts_dir)
        for shop in item.stash.get(BOOKSHOPS, []):
            folder = diagnostics.folder_for(artifacts, item.name, shop.namespace)
            try:
                summary = diagnostics.collect(shop, folder)
            except Exception as err:
                summary = f"collecting diagnostics failed: {err!r}"
            report.sections.append((f"diagnostics {shop.namespace}", summary))
    return report


def pytest_assertion_pass(item: pytest.Item, lineno: int, orig: str, expl: str) -> None:
    """Where a scenario's assertions looked, for its timeline in the report."""
    for shop in item.stash.get(BOOKSHOPS, []):
        if shop.recorder is not None:
            shop.recorder.mark(lineno, orig)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    if workers.share_dir(terminalreporter.config):
        return  # the controller writes the table of every worker's timings
    if not terminalreporter.config.getoption(MEASURE_TIME_TO_FAIL):
        terminalreporter.write_line(
            f"time to fail with the default back-off not measured: {MEASURE_TIME_TO_FAIL} "
            "measures it (about 11 minutes)"
        )
    options = terminalreporter.config.stash[OPTIONS_KEY]
    artifacts = Path(options.artifacts_dir)
    table = timings.markdown(artifacts)
    if table:
        (artifacts / "timings.md").write_text(table)
        terminalreporter.write_sep("-", f"timings (also {artifacts / 'timings.md'})")
        terminalreporter.write(table)
    for line in kept.summary(artifacts, options.cluster_name):
        terminalreporter.write_line(line)
    verdicts = terminalreporter.config.pluginmanager.get_plugin(report.Verdicts.NAME)
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    try:
        page = report.write(
            artifacts, verdicts.results if verdicts else {}, interrupted=interrupted
        )
    except Exception as err:  # the run's verdicts stand; the report's fault is said loudly
        terminalreporter.write_line(f"ERROR: the report was not written: {err!r}", red=True)
    else:
        terminalreporter.write_line(f"report: {page}")
