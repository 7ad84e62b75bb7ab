"""The kind cluster: one per session, created from our config, always cleaned up.

pytest-kind-ng's KindCluster does the kind and kubectl calls; what it lacks is wrapped
here: its fixture passes no kind config (ours patches the kubelet and containerd for
this kind of host), and it downloads kind/kubectl unless given paths (we always give
them: built here on the source path, pinned downloads on the public path).
"""

import contextlib
import json
import logging
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from pytest_kind import KindCluster

from e2e.kube import Kube, deployment_available
from e2e.waits import Outcome, State, pending, succeeded, wait_until
from images import engine, hosttools, public, workloads

log = logging.getLogger(__name__)

NODE_LABEL = "io.x-k8s.kind.cluster"  # kind labels each node container with its cluster
KIND_NETWORK = "kind"  # the Docker network kind puts its nodes on


def folder(name: str) -> Path:
    """Where pytest-kind-ng's KindCluster keeps a cluster's kubeconfig (and our kind
    config): relative to the working directory, as it makes it."""
    return Path(".pytest-kind") / name


class ClusterError(RuntimeError):
    """A cluster could not be made or reached; the message is one line."""


def kind_config(cgroup_v1: bool) -> str:
    """kind's cluster config, with what nested nodes on cgroup v1 hosts need."""
    containerd = [
        # The node lacks CAP_SYS_RESOURCE, so runc cannot lower a pod's oom_score_adj
        # below containerd's own; clamping to it (as rootless kind does) avoids that.
        '[plugins."io.containerd.grpc.v1.cri"]\n  restrict_oom_score_adj = true\n',
    ]
    kubelet = "kind: KubeletConfiguration\n"
    if cgroup_v1:
        # Kubernetes >= 1.35 refuses cgroup v1 hosts unless told not to.
        kubelet += "failCgroupV1: false\n"
        # With the systemd driver on cgroup v1, runc freezes a starting container's
        # cgroup to apply its device rules, and on a busy host the freeze can time out:
        # the pod fails to start ("error setting cgroup config for procHooks process:
        # unable to freeze", kubernetes/kubernetes#131087), which fails a Job with
        # backoffLimit 0. The cgroupfs driver writes the rules without freezing (kind
        # used it for Kubernetes < 1.24); kubelet and containerd must agree.
        kubelet += "cgroupDriver: cgroupfs\n"
        containerd.append(
            '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n'
            "  SystemdCgroup = false\n"
        )
    if public.registry_mirror():
        # Where containerd looks for each registry's hosts.toml (kind's local-registry
        # guide; containerd 2 defaults to it, an older --kind-image may not).
        containerd.append(
            '[plugins."io.containerd.grpc.v1.cri".registry]\n'
            '  config_path = "/etc/containerd/certs.d"\n'
        )
    config = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "nodes": [{"role": "control-plane"}],
        "containerdConfigPatches": containerd,
        "kubeadmConfigPatches": [kubelet],
    }
    return yaml.safe_dump(config, sort_keys=False)


def host_has_cgroup_v1() -> bool:
    """Nodes share the host's cgroup version; Docker reports it."""
    return str(engine.client().info().get("CgroupVersion")) == "1"


@dataclass(frozen=True)
class Tools:
    kind: Path
    kubectl: Path
    node_image: str


def tools(image_path: str, node_image: str | None = None) -> Tools:
    """kind, kubectl and the node image: built here (source) or released ones (public).
    A node image the user names is not built (on the source path that is Kubernetes and
    its images: tens of minutes cold, for nothing)."""
    if image_path == "source":
        from images import kind_node

        node_image = node_image or kind_node.node_image()
    else:  # pulled here (through a registry mirror, if one is given), not by kind
        node_image = public.pull(node_image or workloads.node_public())
    return Tools(hosttools.kind(image_path), hosttools.kubectl(image_path), node_image)


def kubelet_config(kube: Kube) -> dict:
    """The configuration each node's kubelet really runs with (its /configz), which is
    what our kind config must have changed."""
    configs = {}
    for node in kube.core.list_node().items:
        name = node.metadata.name
        response = kube.core.connect_get_node_proxy_with_path(
            name, "configz", _preload_content=False
        )
        configs[name] = json.loads(response.data)["kubeletconfig"]
    return configs


def node_ready(kube: Kube) -> Outcome:
    nodes = kube.core.list_node().items
    if not nodes:
        return pending("a node to register")
    for node in nodes:
        ready = next((c for c in node.status.conditions if c.type == "Ready"), None)
        if not ready or ready.status != "True":
            return pending(f"node {node.metadata.name} Ready, is {ready and ready.reason}")
    return succeeded(f"{len(nodes)} node(s) Ready")


def kube_proxy_ready(kube: Kube) -> Outcome:
    proxy = kube.apps.read_namespaced_daemon_set("kube-proxy", "kube-system").status
    if proxy.desired_number_scheduled and proxy.number_ready == proxy.desired_number_scheduled:
        return succeeded("kube-proxy ready")
    return pending(f"kube-proxy ready on every node, is {proxy.number_ready}")


def system_ready(kube: Kube) -> Outcome:
    """What every pod relies on, and `kind create` does not wait for: the node Ready,
    CoreDNS answering, kube-proxy routing Service addresses. A pod started earlier can
    fail to resolve a name."""
    for outcome in (
        node_ready(kube),
        deployment_available(kube, "kube-system", "coredns"),
        kube_proxy_ready(kube),
    ):
        if outcome[0] is not State.SUCCEEDED:
            return outcome
    return succeeded("the node, CoreDNS and kube-proxy are ready")


def node_containers(name: str) -> list[dict]:
    """The Docker containers of a cluster's nodes (what `kind get clusters` looks at)."""
    return engine.client().api.containers(all=True, filters={"label": f"{NODE_LABEL}={name}"})


def check_name(name: str, *, keep: bool) -> bool:
    """Whether a cluster of that name exists; a taken name is an error unless kept.
    Asks Docker, not kind, so it comes before any build: the error comes at once (and
    so does the one for a Docker that is not running)."""
    exists = bool(node_containers(name))
    if exists and not keep:
        raise ClusterError(
            f"a kind cluster named {name!r} already exists: delete it "
            f"(kind delete cluster --name {name}), pick another --cluster-name, "
            "or pass --keep-cluster to reuse it"
        )
    return exists


@contextlib.contextmanager
def kind_cluster(
    name: str, tools: Tools, *, keep: bool, exists: bool | None = None
) -> Iterator[KindCluster]:
    """A kind cluster; reused only when kept, deleted after unless kept. `exists`: what
    check_name said, when the caller asked it before its builds."""
    if exists is None:
        exists = check_name(name, keep=keep)
    try:
        yield create(name, tools, reuse=exists)
    finally:
        if keep:
            log.info("keeping kind cluster %s (kind delete cluster --name %s)", name, name)
        else:
            delete_cluster(name, tools.kind)


def create(name: str, tools: Tools, *, reuse: bool) -> KindCluster:
    """`kind create cluster` with our config, or the kept cluster of that name."""
    cluster = attach(name, tools)
    config = cluster.path / "kind-config.yaml"
    config.write_text(kind_config(host_has_cgroup_v1()))
    if reuse:
        log.info("reusing kept kind cluster %s", name)
        adopt_kubeconfig(cluster, tools.kind)
    cluster.create(config)
    mirror = public.registry_mirror()
    if mirror:
        pull_through(name, mirror)
    return cluster


def pull_through(name: str, mirror: str) -> None:
    """Every node pulls each public registry's images through the mirror: a hosts.toml
    per registry (containerd's docs/hosts.md: the mirror's path for that registry, with
    override_path, since the mirror keeps each registry under its name)."""
    reachable = mirror_for_nodes(mirror).rstrip("/")
    script = ""
    for registry, server in public.REGISTRIES.items():
        hosts = (
            f'server = "https://{server}"\n\n'
            f'[host."{reachable}/v2/{registry}"]\n'
            '  capabilities = ["pull", "resolve"]\n'
            "  override_path = true\n"
        )
        folder = f"/etc/containerd/certs.d/{registry}"
        script += f"mkdir -p {folder} && printf '%s' '{hosts}' > {folder}/hosts.toml && "
    for node in node_containers(name):
        container = engine.client().containers.get(node["Id"])
        result = container.exec_run(["sh", "-c", script + "true"])
        if result.exit_code != 0:
            raise ClusterError(
                f"configuring the registry mirror in {container.name} failed: "
                f"{result.output.decode(errors='replace').strip()}"
            )


def mirror_for_nodes(mirror: str) -> str:
    """The mirror's URL as the nodes reach it. One on this machine's loopback (a registry
    container publishing a port there, as kind's local-registry guide runs it) is reached
    by its container's name on kind's network, which it joins."""
    parts = urllib.parse.urlsplit(mirror)
    if parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        return mirror
    for container in engine.client().containers.list():
        for exposed, bindings in (container.ports or {}).items():
            if any(int(b["HostPort"]) == parts.port for b in bindings or []):
                network = engine.client().networks.get(KIND_NETWORK)
                if container.id not in {c.id for c in network.containers}:
                    network.connect(container)
                return f"{parts.scheme}://{container.name}:{exposed.split('/')[0]}{parts.path}"
    raise ClusterError(
        f"the registry mirror {mirror} is on this machine's loopback, which kind's nodes "
        f"cannot reach, and no container publishes port {parts.port}"
    )


def attach(name: str, tools: Tools) -> KindCluster:
    """The handle of a cluster, created or not (its kubeconfig has a fixed path)."""
    return KindCluster(
        name, image=tools.node_image, kind_path=tools.kind, kubectl_path=tools.kubectl
    )


def adopt_kubeconfig(cluster: KindCluster, kind: Path) -> None:
    """A cluster kept by another checkout has its kubeconfig in that checkout's
    .pytest-kind/; pytest-kind-ng would read an empty file here (pykube's "argument of type
    'NoneType' is not iterable"). kind knows it: `kind get kubeconfig`."""
    path = cluster.kubeconfig_path
    if path.exists() and path.stat().st_size > 0:
        return
    got = subprocess.run(
        [str(kind), "get", "kubeconfig", "--name", cluster.name],
        capture_output=True,
        text=True,
        check=False,
    )
    if got.returncode != 0:
        raise ClusterError(
            f"kind has no kubeconfig for the kept cluster {cluster.name}: {got.stderr.strip()}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(0o600)
    path.write_text(got.stdout)
    log.info("took the kept cluster %s's kubeconfig from kind", cluster.name)


def delete_cluster(name: str, kind: Path, settle: float = 3.0) -> None:
    """`kind delete cluster`, until no node of it is left for `settle` seconds.

    Interrupted during `kind create`, kind dies but a `docker run` it started may still
    create the node a moment later; deleting once would leak that container.
    """
    quiet_since = time.monotonic()

    def nothing_left() -> Outcome:
        nonlocal quiet_since
        nodes = node_containers(name)
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
    shutil.rmtree(folder(name), ignore_errors=True)  # its kubeconfig names a dead cluster


def docker_objects() -> set[str]:
    """Every container, volume and network Docker has, to diff before/after a cluster
    (one list call each: objects may vanish while they are being listed)."""
    api = engine.client().api
    return (
        {f"container {c['Names'][0].lstrip('/')}" for c in api.containers(all=True)}
        | {f"volume {v['Name']}" for v in api.volumes().get("Volumes") or []}
        | {f"network {n['Name']}" for n in api.networks()}
    )


# kind's known issues ("Pod errors due to 'too many open files'"): every node's systemd,
# kubelet and containerd take inotify instances, charged to root on the host whoever runs
# the suite, and the default of 128 runs out with a few nodes.
INOTIFY_RECOMMENDED = {"max_user_instances": 512, "max_user_watches": 524288}
INOTIFY = Path("/proc/sys/fs/inotify")


def inotify_shortfall(settings: Path = INOTIFY) -> str | None:
    """What to raise, before a cluster starts, when the host's inotify limits are below
    what kind recommends (None when they are not, or on a host without them)."""
    low = []
    for name, wanted in INOTIFY_RECOMMENDED.items():
        try:
            value = int((settings / name).read_text())
        except (OSError, ValueError):
            return None
        if value < wanted:
            low.append((name, value, wanted))
    if not low:
        return None
    now = ", ".join(f"fs.inotify.{name} is {value}" for name, value, _ in low)
    fix = " ".join(f"fs.inotify.{name}={wanted}" for name, _, wanted in low)
    return (
        f"{now}, below what kind recommends: if pods fail with 'too many open files', "
        f"raise it (sudo sysctl {fix})"
    )


def check_reachable(api_client: object, kubeconfig: str) -> None:
    """Fail at once, in one line, when an existing cluster's API does not answer."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        client.VersionApi(api_client).get_code(_request_timeout=10)
    except (ApiException, OSError, Exception) as err:
        raise ClusterError(f"the cluster of {kubeconfig} is unreachable: {err}") from None
