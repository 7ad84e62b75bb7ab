"""Argo CD installed once per session from its release's own core-install.yaml.

core-install has the application controller, repo-server, Redis and the ApplicationSet
controller, no API server and no UI: the `argocd` CLI in core mode (e2e/cli.py) runs the
API server's code itself, which is how the suite drives it.
"""

import contextlib
import hashlib
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client.exceptions import ApiException

from e2e.kube import Kube
from e2e.kubectl import Kubectl
from e2e.waits import Outcome, State, failed, pending, succeeded, wait_until

NAMESPACE = "argocd"
# Argo CD 3.x puts it on hook objects while they run, so that it sees how they end.
HOOK_FINALIZER = "argocd.argoproj.io/hook-finalizer"
# On the argocd namespace: the sha256 of the manifest last applied whole, so a kept
# cluster already running it is not installed again.
INSTALLED = "migration-e2e/installed-manifest"
GROUP, VERSION = "argoproj.io", "v1alpha1"


@dataclass(frozen=True)
class InstallSource:
    version: str
    manifest: Path
    # public name in the manifest -> image to run instead (empty on the public path)
    rewrites: dict[str, str]


def render(source: InstallSource, kustomize: Path) -> str:
    """The release's manifest with our images (kustomize `images:`) and, for images that
    exist only locally, `imagePullPolicy: IfNotPresent` (some containers say Always,
    which would make the kubelet try a registry that is not there)."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "core-install.yaml").write_text(source.manifest.read_text())
        images = []
        for public, local in source.rewrites.items():
            name, _, tag = local.rpartition(":")
            images.append({"name": public.rpartition(":")[0], "newName": name, "newTag": tag})
        (workdir / "kustomization.yaml").write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "namespace": NAMESPACE,
                    "resources": ["core-install.yaml"],
                    "images": images,
                }
            )
        )
        rendered = subprocess.run(
            [str(kustomize), "build", str(workdir)], capture_output=True, text=True, check=True
        ).stdout
    if not source.rewrites:
        return rendered
    # libyaml's safe loader and dumper: the CRDs make this a 2 MB manifest, seconds of CPU
    # in pure Python for each install.
    docs = [d for d in yaml.load_all(rendered, Loader=yaml.CSafeLoader) if d]
    for doc in docs:
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            container["imagePullPolicy"] = "IfNotPresent"
    return yaml.dump_all(docs, Dumper=yaml.CSafeDumper)


def install(
    kube: Kube,
    kubectl: Kubectl,
    manifest: str,
    timeout: float = 300,
    meanwhile: Callable[[], None] = lambda: None,
) -> None:
    """Apply (server-side: a CRD is over client-side apply's 262 KB), do `meanwhile`
    while the pods start, and wait for Ready. On a kept cluster that runs this very
    manifest, untouched since, and Ready, there is nothing to apply."""
    digest = hashlib.sha256(manifest.encode()).hexdigest()
    if installed(kube) == digest and workloads_ready(kube)[0] is State.SUCCEEDED:
        meanwhile()
        return
    if NAMESPACE not in {n.metadata.name for n in kube.core.list_namespace().items}:
        kubectl("create", "namespace", NAMESPACE)
    forget_installed(kube)
    kubectl.apply_server_side(manifest, NAMESPACE)
    meanwhile()
    wait_until(lambda: workloads_ready(kube), timeout, "every Argo CD workload to be Ready")
    _mark_installed(kube, digest)


def installed(kube: Kube) -> str | None:
    """The sha256 of the manifest last applied whole, unless something changed since."""
    try:
        namespace = kube.core.read_namespace(NAMESPACE)
    except ApiException as err:
        if err.status == 404:
            return None
        raise
    return (namespace.metadata.annotations or {}).get(INSTALLED)


def forget_installed(kube: Kube) -> None:
    """Before Argo CD is changed other than by `install` (its controller's parameters):
    the next install applies the manifest again."""
    _mark_installed(kube, None)


def _mark_installed(kube: Kube, digest: str | None) -> None:
    with contextlib.suppress(ApiException):
        kube.core.patch_namespace(NAMESPACE, {"metadata": {"annotations": {INSTALLED: digest}}})


def workloads_ready(kube: Kube) -> Outcome:
    """Ready when every Deployment and StatefulSet has rolled out its current spec (after
    an upgrade, the old pods being Ready is not enough); names the pod that is not, with
    its last event, so a failed install says why."""
    workloads = _workloads(kube)
    if not workloads:
        return pending("Argo CD workloads to exist")
    for workload in workloads:
        want, status = workload.spec.replicas or 0, workload.status
        rolled_out = (
            status.observed_generation == workload.metadata.generation
            and (status.updated_replicas or 0) == want
            and (status.ready_replicas or 0) == want
            and (status.replicas or 0) == want
        )
        if not rolled_out:
            return _pod_trouble(kube, workload.metadata.name)
    return succeeded(f"{len(workloads)} Argo CD workloads Ready")


def running_versions(kube: Kube) -> set[str]:
    """The tags of the Argo CD images the workloads run (one, unless mid-upgrade)."""
    return {
        container.image.rpartition(":")[2]
        for workload in _workloads(kube)
        for container in workload.spec.template.spec.containers
        if container.image.rpartition(":")[0].endswith("/argocd")
    }


def _workloads(kube: Kube) -> list[Any]:
    return [
        *kube.apps.list_namespaced_deployment(NAMESPACE).items,
        *kube.apps.list_namespaced_stateful_set(NAMESPACE).items,
    ]


def _pod_trouble(kube: Kube, workload: str) -> Outcome:
    pods = [
        p
        for p in kube.core.list_namespaced_pod(NAMESPACE).items
        if p.metadata.name.startswith(workload)
    ]
    if not pods:
        return pending(f"{workload}: no pod yet")
    pod = pods[0]
    events = kube.core.list_namespaced_event(
        NAMESPACE, field_selector=f"involvedObject.name={pod.metadata.name}"
    ).items
    last = max(events, key=lambda e: e.last_timestamp or e.event_time or 0, default=None)
    said = f"; last event: {last.reason}: {last.message}" if last else ""
    for status in (pod.status.container_statuses or []) + (
        pod.status.init_container_statuses or []
    ):
        waiting = status.state.waiting if status.state else None
        if waiting and waiting.reason in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName"):
            return failed(f"pod {pod.metadata.name}: {waiting.reason} {waiting.message}{said}")
    return pending(f"{workload} Ready, pod {pod.metadata.name} is {pod.status.phase}{said}")


def apply_project(kubectl: Kubectl, project_yaml: Path) -> None:
    kubectl.apply_server_side(project_yaml.read_text(), NAMESPACE)
