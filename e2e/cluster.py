"""The kind cluster: one per session, created from our config, always cleaned up.

pytest-kind-ng's KindCluster does the kind and kubectl calls; what it lacks is wrapped
here: its fixture passes no kind config (ours patches the kubelet and containerd for
this kind of host), and it downloads kind/kubectl unless given paths (we always give
them: built here on the source path, pinned downloads on the public path).
"""

import contextlib
import logging
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from pytest_kind import KindCluster

from e2e.waits import Outcome, pending, succeeded, wait_until
from images import engine, hosttools
from images.pins import pins

log = logging.getLogger(__name__)

NODE_LABEL = "io.x-k8s.kind.cluster"  # kind labels each node container with its cluster


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


def check_name(name: str, kind: Path, *, keep: bool) -> bool:
    """Whether a cluster of that name exists; a taken name is an error unless kept.
    Called before any slow step, so the error comes at once."""
    engine.client()  # fails at once, in one line, when Docker is not running
    exists = name in existing_clusters(kind)
    if exists and not keep:
        raise ClusterError(
            f"a kind cluster named {name!r} already exists: delete it "
            f"(kind delete cluster --name {name}), pick another --cluster-name, "
            "or pass --keep-cluster to reuse it"
        )
    return exists


@contextlib.contextmanager
def kind_cluster(name: str, tools: Tools, *, keep: bool) -> Iterator[KindCluster]:
    """A kind cluster for the session; reused only when kept, deleted after unless kept."""
    exists = check_name(name, tools.kind, keep=keep)
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


def delete_cluster(name: str, kind: Path, settle: float = 3.0) -> None:
    """`kind delete cluster`, until no node of it is left for `settle` seconds.

    Interrupted during `kind create`, kind dies but a `docker run` it started may still
    create the node a moment later; deleting once would leak that container.
    """
    quiet_since = time.monotonic()

    def nothing_left() -> Outcome:
        nonlocal quiet_since
        nodes = engine.client().api.containers(all=True, filters={"label": f"{NODE_LABEL}={name}"})
        if nodes:
            subprocess.run(
                [str(kind), "delete", "cluster", "--name", name], capture_output=True, check=False
            )
            quiet_since = time.monotonic()
            return pending(f"nodes of {name} to be gone: {[n['Names'] for n in nodes]}")
        if time.monotonic() - quiet_since < settle:
            return pending(f"no node of {name} to reappear for {settle:.0f}s")
        return succeeded(f"no node of {name} left")

    subprocess.run(
        [str(kind), "delete", "cluster", "--name", name], capture_output=True, check=False
    )
    wait_until(nothing_left, 120, f"kind cluster {name} to be deleted")


def docker_objects() -> set[str]:
    """Every container, volume and network Docker has, to diff before/after a cluster
    (one list call each: objects may vanish while they are being listed)."""
    api = engine.client().api
    return (
        {f"container {c['Names'][0].lstrip('/')}" for c in api.containers(all=True)}
        | {f"volume {v['Name']}" for v in api.volumes().get("Volumes") or []}
        | {f"network {n['Name']}" for n in api.networks()}
    )


def check_reachable(api_client: object, kubeconfig: str) -> None:
    """Fail at once, in one line, when an existing cluster's API does not answer."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        client.VersionApi(api_client).get_code(_request_timeout=10)
    except (ApiException, OSError, Exception) as err:
        raise ClusterError(f"the cluster of {kubeconfig} is unreachable: {err}") from None
