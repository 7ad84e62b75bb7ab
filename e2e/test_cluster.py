"""The cluster itself works: what every scenario silently relies on.

On the source path every piece of it (kind, kubelet, etcd, CoreDNS, containerd, runc,
the CNI plugins, local-path-provisioner) was built on this machine, so these are the
tests that prove those builds, not just their compilation.
"""

import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from e2e import cluster as clusters
from e2e import nested
from e2e.conftest import Cluster
from e2e.kube import deployment_available, run_pod, unique_name
from e2e.waits import Outcome, failed, pending, succeeded, wait_until
from e2e.workers import Share
from harness import ROOT
from harness.plugin import Options

pytestmark = pytest.mark.cluster


@pytest.fixture
def alone_with_docker(share: Share) -> Iterator[None]:
    """Tests that diff all of Docker's objects before and after run one at a time, also on
    several workers (pytest-xdist's xdist_group does not group on pytest 9.2)."""
    with share.exclusively("Docker's objects"):
        yield


def test_the_node_is_ready(cluster: Cluster) -> None:
    wait_until(lambda: clusters.node_ready(cluster.kube), 120, "the node to be Ready")


def test_the_kubelet_uses_the_cgroup_driver_the_host_needs(cluster: Cluster) -> None:
    """On a cgroup v1 host, kind's default systemd driver freezes each starting
    container's cgroup, and under load the freeze times out and fails the pod (a
    backoffLimit-0 hook Job with it): our kind config switches the node to cgroupfs."""
    if cluster.kind is None:
        pytest.skip("an existing cluster (--kubeconfig): its nodes are not ours to configure")
    wanted = "cgroupfs" if clusters.host_has_cgroup_v1() else "systemd"
    configs = clusters.kubelet_config(cluster.kube)
    drivers = {node: config["cgroupDriver"] for node, config in configs.items()}
    assert drivers and set(drivers.values()) == {wanted}, drivers


def test_a_pod_resolves_a_service_name_through_coredns(
    cluster: Cluster, test_namespace: str, tool_image: str
) -> None:
    output = run_pod(
        cluster.kube,
        test_namespace,
        "resolver",
        tool_image,
        [
            "python3",
            "-c",
            "import socket; print(socket.gethostbyname('kubernetes.default.svc.cluster.local'))",
        ],
    )
    service_ip = cluster.kube.core.read_namespaced_service("kubernetes", "default").spec.cluster_ip
    assert output.strip() == service_ip


def test_a_claim_on_the_default_storage_class_binds_and_takes_writes(
    cluster: Cluster, test_namespace: str, tool_image: str
) -> None:
    cluster.kube.core.create_namespaced_persistent_volume_claim(
        test_namespace,
        client.V1PersistentVolumeClaim(
            metadata=client.V1ObjectMeta(name="data"),
            spec=client.V1PersistentVolumeClaimSpec(
                access_modes=["ReadWriteOnce"],
                resources=client.V1VolumeResourceRequirements(requests={"storage": "10Mi"}),
            ),
        ),
    )
    volume = client.V1Volume(
        name="data",
        persistent_volume_claim=client.V1PersistentVolumeClaimVolumeSource(claim_name="data"),
    )
    mount = client.V1VolumeMount(name="data", mount_path="/data")
    run_pod(
        cluster.kube,
        test_namespace,
        "writer",
        tool_image,
        ["python3", "-c", "open('/data/proof', 'w').write('written')"],
        volumes=[volume],
        mounts=[mount],
    )
    output = run_pod(
        cluster.kube,
        test_namespace,
        "reader",
        tool_image,
        ["python3", "-c", "print(open('/data/proof').read())"],
        volumes=[volume],
        mounts=[mount],
    )
    claim = cluster.kube.core.read_namespaced_persistent_volume_claim("data", test_namespace)
    assert claim.status.phase == "Bound"
    assert output.strip() == "written"


def test_a_pod_reaches_another_pods_service(
    cluster: Cluster, test_namespace: str, tool_image: str
) -> None:
    labels = {"app": "echo"}
    cluster.kube.apps.create_namespaced_deployment(
        test_namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="echo"),
            spec=client.V1DeploymentSpec(
                replicas=1,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(
                        containers=[
                            client.V1Container(
                                name="http",
                                image=tool_image,
                                image_pull_policy="IfNotPresent",
                                command=["python3", "-m", "http.server", "8080", "-d", "/etc"],
                                readiness_probe=client.V1Probe(
                                    tcp_socket=client.V1TCPSocketAction(port=8080), period_seconds=1
                                ),
                            )
                        ]
                    ),
                ),
            ),
        ),
    )
    cluster.kube.core.create_namespaced_service(
        test_namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="echo"),
            spec=client.V1ServiceSpec(
                selector=labels, ports=[client.V1ServicePort(port=80, target_port=8080)]
            ),
        ),
    )
    wait_until(
        lambda: deployment_available(cluster.kube, test_namespace, "echo"),
        120,
        "the echo deployment",
    )
    output = run_pod(
        cluster.kube,
        test_namespace,
        "client",
        tool_image,
        [
            "python3",
            "-c",
            "import urllib.request; print(urllib.request.urlopen('http://echo/hostname').read().decode())",
        ],
    )
    pod = cluster.kube.core.list_namespaced_pod(test_namespace, label_selector="app=echo").items[0]
    assert output.strip() == pod.metadata.name


@pytest.mark.usefixtures("alone_with_docker")
def test_deleting_a_cluster_leaves_nothing_behind(
    cluster: Cluster, cluster_tools: clusters.Tools
) -> None:
    """A second, throwaway cluster: created, deleted, and no trace of it left in Docker."""
    name = unique_name("throwaway")
    before = clusters.docker_objects()
    with clusters.kind_cluster(name, cluster_tools, keep=False):
        created = clusters.docker_objects() - before
        assert any(name in obj for obj in created), f"no container of {name} among {created}"
    assert clusters.docker_objects() - before == set()
    assert not clusters.folder(name).exists(), "the deleted cluster's kubeconfig is left"


def run_pytest_in_background(
    artifacts: Path, outer: Options, image_path: str, *args: str
) -> subprocess.Popen:
    """A session as the user starts one, with this session's choices of what to build."""
    return subprocess.Popen(
        nested.command(artifacts, *nested.passed_on(outer, image_path), *args),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


@nested.SESSIONS
def test_a_taken_cluster_name_fails_at_once(
    cluster: Cluster, options: Options, image_path: str, tmp_path: Path, workers: str
) -> None:
    run = run_pytest_in_background(
        tmp_path, options, image_path, workers, "--cluster-name", cluster.name
    )
    output, _ = run.communicate(timeout=120)
    assert run.returncode != 0
    nested.assert_one_reason(output, f"a kind cluster named {cluster.name!r} already exists")
    assert "images: " not in output, "it looked at its images before checking the name"


def test_a_kept_cluster_is_used_from_another_checkout(
    cluster: Cluster, options: Options, image_path: str, tmp_path: Path
) -> None:
    """A user keeps a cluster in one clone and reproduces a scenario from a second: that
    one has no kubeconfig of it in its .pytest-kind/, and takes it from kind."""
    if cluster.kind is None:
        pytest.skip("the session's cluster is not a kind cluster of the suite's (--kubeconfig)")
    second = copy_of_the_checkout(tmp_path / "second-clone")
    args = [*nested.passed_on(options, image_path), "-n0", "--keep-cluster"]
    run = subprocess.run(
        nested.command(tmp_path / "artifacts", *args, "--cluster-name", cluster.name),
        cwd=second, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    assert output.splitlines()[-1].count("1 passed"), output[-3000:]
    assert (second / clusters.folder(cluster.name) / "kubeconfig").stat().st_size > 0


def copy_of_the_checkout(to: Path) -> Path:
    """What a fresh clone holds: the files git tracks (and new ones not ignored), as they
    are in this checkout; none of its .pytest-kind/, .tox/ or artifacts/."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (to / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, to / name)
    return to


@nested.SESSIONS
@pytest.mark.usefixtures("alone_with_docker")
def test_ctrl_c_while_the_cluster_starts_leaves_nothing_behind(
    cluster: Cluster, options: Options, image_path: str, tmp_path: Path, workers: str
) -> None:
    name = unique_name("ctrl-c")
    before = clusters.docker_objects()
    run = run_pytest_in_background(tmp_path, options, image_path, workers, "--cluster-name", name)

    def node_container_started() -> Outcome:
        if run.poll() is not None:
            return failed(f"pytest exited early: {run.stdout.read()[-2000:]}")
        created = clusters.docker_objects() - before
        if any(f"container {name}-control-plane" == obj for obj in created):
            return succeeded("the node container is up")
        return pending(f"the node container of {name} to start")

    wait_until(node_container_started, 120, "the interrupted run's cluster to start")
    run.send_signal(signal.SIGINT)
    output, _ = run.communicate(timeout=120)
    assert run.returncode != 0, output[-2000:]
    assert clusters.docker_objects() - before == set(), output[-2000:]
    assert not (ROOT / clusters.folder(name)).exists(), "the deleted cluster's kubeconfig is left"


@nested.SESSIONS
@pytest.mark.usefixtures("alone_with_docker")
def test_a_cluster_that_cannot_be_made_stops_the_run_in_one_line(
    cluster: Cluster, options: Options, image_path: str, tmp_path: Path, workers: str
) -> None:
    """The setup every test needs failed: each worker stops after the test it was setting
    up for, rather than erroring every test it holds (and the ones it steals)."""
    name = unique_name("no-node")
    cluster_tests = "node_is_ready or cgroup_driver or resolves_a_service or storage_class"
    run = run_pytest_in_background(
        tmp_path, options, image_path, workers, "--cluster-name", name,
        "--kind-image=migration-e2e.local/no-such-node:v0", "-k", cluster_tests,
    )  # fmt: skip
    output, _ = run.communicate(timeout=300)
    assert run.returncode != 0, output[-3000:]
    summary = [line for line in output.splitlines() if line.startswith(("ERROR ", "FAILED "))]
    assert len(summary) <= 2, "\n".join(summary)  # at most the test each worker set up for
    assert "making the cluster failed" in output, output[-3000:]
    assert " passed" not in output.splitlines()[-1], output.splitlines()[-1]
    if workers != "-n0":  # the controller had everything built before any worker started
        assert output.index("images: all ") < output.index("created: 2/2 workers"), output
