"""The kind cluster: one per session, created from our config, always cleaned up.

pytest-kind-ng's KindCluster does the kind and kubectl calls; what it lacks is wrapped
here: its fixture passes no kind config (ours patches the kubelet and containerd for
this kind of host), and it downloads kind/kubectl unless given paths (we always give
them: built here on the source path, pinned downloads on the public path).
"""

import contextlib
import logging
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from pytest_kind import KindCluster

from images import engine, hosttools
from images.pins import pins

log = logging.getLogger(__name__)


class ClusterError(RuntimeError):
    """A cluster could not be made or reached; the message is one line."""


def kind_config() -> str:
    """kind's cluster config, with what nested nodes on cgroup v1 hosts need."""
    config = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "nodes": [{"role": "control-plane"}],
        "containerdConfigPatches": [
            # The node lacks CAP_SYS_RESOURCE, so runc cannot lower a pod's oom_score_adj
            # below containerd's own; clamping to it (as rootless kind does) avoids that.
            '[plugins."io.containerd.grpc.v1.cri"]\n  restrict_oom_score_adj = true\n',
        ],
        "kubeadmConfigPatches": [
            # Kubernetes >= 1.35 refuses cgroup v1 hosts unless told not to.
            "kind: KubeletConfiguration\nfailCgroupV1: false\n",
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


@dataclass(frozen=True)
class Tools:
    kind: Path
    kubectl: Path
    node_image: str


def tools(image_path: str) -> Tools:
    """kind, kubectl and the node image: built here (source) or released ones (public)."""
    if image_path == "source":
        from images import kind_node

        node_image = kind_node.node_image()
    else:
        node_image = pins()["kind"]["public_node_image"]
    return Tools(hosttools.kind(image_path), hosttools.kubectl(image_path), node_image)


def existing_clusters(kind: Path) -> list[str]:
    out = subprocess.run(
        [str(kind), "get", "clusters"], capture_output=True, text=True, check=True
    ).stdout
    return out.split()


@contextlib.contextmanager
def kind_cluster(name: str, tools: Tools, *, keep: bool) -> Iterator[KindCluster]:
    """A kind cluster for the session; reused only when kept, deleted after unless kept."""
    engine.client()  # fails at once, in one line, when Docker is not running
    exists = name in existing_clusters(tools.kind)
    if exists and not keep:
        raise ClusterError(
            f"a kind cluster named {name!r} already exists: delete it "
            f"(kind delete cluster --name {name}), pick another --cluster-name, "
            "or pass --keep-cluster to reuse it"
        )
    cluster = KindCluster(
        name, image=tools.node_image, kind_path=tools.kind, kubectl_path=tools.kubectl
    )
    config = cluster.path / "kind-config.yaml"
    config.write_text(kind_config())
    try:
        if exists:
            log.info("reusing kept kind cluster %s", name)
        cluster.create(config)
        yield cluster
    finally:
        if keep:
            log.info("keeping kind cluster %s (kind delete cluster --name %s)", name, name)
        else:
            delete_cluster(name, tools.kind)


def delete_cluster(name: str, kind: Path) -> None:
    subprocess.run(
        [str(kind), "delete", "cluster", "--name", name], capture_output=True, check=False
    )


def docker_objects() -> set[str]:
    """Every container, volume and network Docker has, to diff before/after a cluster."""
    client = engine.client()
    return (
        {f"container {c.name}" for c in client.containers.list(all=True)}
        | {f"volume {v.name}" for v in client.volumes.list()}
        | {f"network {n.name}" for n in client.networks.list()}
    )


def check_reachable(api_client: object, kubeconfig: str) -> None:
    """Fail at once, in one line, when an existing cluster's API does not answer."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        client.VersionApi(api_client).get_code(_request_timeout=10)
    except (ApiException, OSError, Exception) as err:
        raise ClusterError(f"the cluster of {kubeconfig} is unreachable: {err}") from None
