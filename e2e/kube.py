"""Small helpers over the official kubernetes client: clients, namespaces, one-shot pods."""

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from e2e.waits import Outcome, failed, pending, succeeded, wait_until


@dataclass(frozen=True)
class Kube:
    """API clients of one cluster, built from its kubeconfig (no global config)."""

    kubeconfig: Path
    api: client.ApiClient

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Path) -> "Kube":
        return cls(kubeconfig, config.new_client_from_config(config_file=str(kubeconfig)))

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)


def condition(obj: Any, *types: str) -> Any | None:
    """The first of an object's conditions of these types that holds (status "True"):
    a Job's Complete or Failed, a pod's or a node's Ready."""
    conditions = obj.status.conditions or []
    return next((c for c in conditions if c.type in types and c.status == "True"), None)


def unscheduled(pods: list[client.V1Pod]) -> str:
    """Why pods wait Pending, as the scheduler says it ("0/1 nodes are available: 1
    Insufficient cpu"), for a wait's last-seen message; empty when none waits on it."""
    said = [
        f"{pod.metadata.name} Pending: {c.reason}: {c.message}"
        for pod in pods
        for c in pod.status.conditions or []
        if c.type == "PodScheduled" and c.status == "False"
    ]
    return f" ({'; '.join(said)})" if said else ""


def job_ended(job: client.V1Job) -> client.V1JobCondition | None:
    return condition(job, "Complete", "Failed")


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@contextlib.contextmanager
def namespace(kube: Kube, name: str, *, keep: bool = False) -> Iterator[str]:
    """A namespace for one test, deleted afterwards (kept on request, for inspection)."""
    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        if not keep:
            with contextlib.suppress(ApiException):
                kube.core.delete_namespace(name)


def pod_finished(kube: Kube, namespace: str, name: str) -> Outcome:
    pod = kube.core.read_namespaced_pod(name, namespace)
    phase = pod.status.phase
    if phase == "Succeeded":
        return succeeded(f"pod {name} succeeded")
    if phase == "Failed":
        ended = [
            f"{s.name} {t.reason} (exit {t.exit_code}){': ' + t.message if t.message else ''}"
            for s in pod.status.container_statuses or []
            if s.state and (t := s.state.terminated)
        ]
        logs = kube.core.read_namespaced_pod_log(name, namespace, tail_lines=20)
        return failed(f"pod {name} failed: {'; '.join(ended) or pod.status.reason}; logs: {logs}")
    waiting = [
        f"{s.name}: {s.state.waiting.reason}"
        for s in pod.status.container_statuses or []
        if s.state and s.state.waiting
    ]
    return pending(f"pod {name} to finish, is {phase} {waiting or ''}".strip())


def run_pod(
    kube: Kube,
    namespace: str,
    name: str,
    image: str,
    command: list[str],
    *,
    volumes: list[client.V1Volume] | None = None,
    mounts: list[client.V1VolumeMount] | None = None,
    timeout: float = 120,
) -> str:
    """Run `command` in a one-shot pod and return its output; raise if it fails."""
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            restart_policy="Never",
            containers=[
                client.V1Container(
                    name="main",
                    image=image,
                    command=command,
                    volume_mounts=mounts,
                    image_pull_policy="IfNotPresent",
                )
            ],
            volumes=volumes,
        ),
    )
    kube.core.create_namespaced_pod(namespace, pod)
    wait_until(lambda: pod_finished(kube, namespace, name), timeout, f"pod {name} to finish")
    return kube.core.read_namespaced_pod_log(name, namespace)


def deployment_available(kube: Kube, namespace: str, name: str) -> Outcome:
    try:
        deployment = kube.apps.read_namespaced_deployment(name, namespace)
    except ApiException as err:
        if err.status == 404:
            return pending(f"deployment {namespace}/{name} to exist")
        raise
    status = deployment.status
    want = deployment.spec.replicas or 0
    ready = status.ready_replicas or 0
    updated = status.updated_replicas or 0
    if (
        ready >= want
        and updated >= want
        and status.observed_generation == deployment.metadata.generation
    ):
        return succeeded(f"deployment {namespace}/{name} available ({ready}/{want})")
    return pending(
        f"deployment {namespace}/{name} available, has {ready}/{want} ready, {updated} updated"
    )


def namespace_gone(kube: Kube, name: str) -> Outcome:
    try:
        namespace = kube.core.read_namespace(name)
    except ApiException as err:
        if err.status == 404:
            return succeeded(f"namespace {name} is gone")
        raise
    return pending(f"namespace {name} to be gone, is {namespace.status.phase}")
