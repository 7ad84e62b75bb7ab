"""Session fixtures of the end-to-end suite: one cluster, its images, per-test namespaces."""

import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_kind import KindCluster

from e2e import cluster as clusters
from e2e.kube import Kube, namespace, unique_name
from harness.plugin import Options
from images import workloads
from images.errors import BuildError
from images.pins import pins


def pytest_configure(config: pytest.Config) -> None:
    # CI cancels with SIGTERM: make it a Ctrl-C so fixtures tear the cluster down.
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


@dataclass(frozen=True)
class Cluster:
    name: str
    kube: Kube
    image_path: str
    kind: KindCluster | None  # None for an existing cluster given by --kubeconfig

    def load_images(self, *tags: str) -> None:
        """Make locally built images available to the node (kind skips ones present)."""
        if self.image_path != "source":
            return
        if self.kind is None:
            raise pytest.UsageError(
                "--images=source needs a kind cluster to load images into; "
                "an existing cluster (--kubeconfig) must be able to pull them"
            )
        for tag in tags:
            self.kind.load_docker_image(tag)


@pytest.fixture(scope="session")
def cluster_tools(options: Options, image_path: str) -> clusters.Tools:
    try:
        tools = clusters.tools(image_path)
    except BuildError as err:
        pytest.exit(f"building the cluster's images failed: {err}", returncode=1)
    return clusters.Tools(
        kind=Path(options.kind_bin) if options.kind_bin else tools.kind,
        kubectl=Path(options.kind_kubectl_bin) if options.kind_kubectl_bin else tools.kubectl,
        node_image=options.kind_image or tools.node_image,
    )


@pytest.fixture(scope="session")
def cluster(options: Options, image_path: str, cluster_tools: clusters.Tools) -> Iterator[Cluster]:
    """The session's cluster: a kind cluster we create, or the one --kubeconfig names."""
    if options.kubeconfig:
        kube = Kube.from_kubeconfig(Path(options.kubeconfig))
        clusters.check_reachable(kube.api, options.kubeconfig)
        yield Cluster("existing", kube, image_path, None)
        return
    try:
        with clusters.kind_cluster(
            options.cluster_name, cluster_tools, keep=options.keep_cluster
        ) as kind:
            yield Cluster(
                options.cluster_name, Kube.from_kubeconfig(kind.kubeconfig_path), image_path, kind
            )
    except clusters.ClusterError as err:
        pytest.exit(str(err), returncode=1)


@pytest.fixture(scope="session")
def tool_image(cluster: Cluster, image_path: str) -> str:
    """An image with Python in it, for pods that probe the cluster from inside."""
    image = (
        workloads.python_base() if image_path == "source" else pins()["workloads"]["python_public"]
    )
    cluster.load_images(image)
    return image


@pytest.fixture
def test_namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = unique_name(request.node.name.lower().replace("_", "-")[:40].strip("-"))
    with namespace(cluster.kube, name) as ns:
        yield ns
