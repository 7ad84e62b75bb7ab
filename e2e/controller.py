"""The application controller, handled the way an operator handles it: with kubectl.

Its pod is deleted (a node drained, an OOM kill, an upgrade) and its StatefulSet starts
another; its parameters live in argocd-cmd-params-cm and are read when it starts, so the
docs say to restart it after a change (`kubectl rollout restart`). Both touch every
Application, so the scenarios that use this run alone (`reinstalls_argocd`).
"""

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

from kubernetes.client.exceptions import ApiException

from e2e.argocd import NAMESPACE, forget_installed
from e2e.kube import Kube, condition
from e2e.kubectl import Kubectl
from e2e.waits import Outcome, pending, succeeded, wait_until

STATEFULSET = "argocd-application-controller"
POD = f"{STATEFULSET}-0"
PARAMS = "argocd-cmd-params-cm"
SYNC_TIMEOUT = "controller.sync.timeout.seconds"


@dataclass
class Controller:
    kube: Kube
    kubectl: Kubectl

    def pod_uid(self) -> str | None:
        try:
            return self.kube.core.read_namespaced_pod(POD, NAMESPACE).metadata.uid
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def delete_pod(self, timeout: float = 180) -> None:
        """`kubectl delete pod argocd-application-controller-0`; back once a new one is Ready."""
        before = self.pod_uid()
        self.kubectl("delete", "pod", POD, "-n", NAMESPACE, "--wait=false")
        wait_until(lambda: self._ready_since(before), timeout, "a new controller pod, Ready")

    @contextlib.contextmanager
    def configured(self, params: dict[str, str]) -> Iterator[None]:
        """The controller restarted with these argocd-cmd-params-cm entries; afterwards,
        restarted again with the entries as they were, whatever happened."""
        before = self.params()
        self.set_params(params)
        try:
            yield
        finally:
            self.set_params({key: before.get(key) for key in params})

    def set_params(self, params: dict[str, str | None], timeout: float = 180) -> None:
        """Set (or, for None, remove) argocd-cmd-params-cm entries, then restart the
        controller and wait for its rollout, as the docs say to."""
        forget_installed(self.kube)  # no longer what the manifest says
        patch = json.dumps({"data": params})
        self.kubectl("patch", "configmap", PARAMS, "-n", NAMESPACE, "--type=merge", "-p", patch)
        workload = f"statefulset/{STATEFULSET}"
        self.kubectl("rollout", "restart", workload, "-n", NAMESPACE)
        self.kubectl("rollout", "status", workload, "-n", NAMESPACE, f"--timeout={timeout:.0f}s")

    def log(self) -> str:
        return self.kube.core.read_namespaced_pod_log(POD, NAMESPACE)

    def params(self) -> dict[str, str]:
        return self.kube.core.read_namespaced_config_map(PARAMS, NAMESPACE).data or {}

    def _ready_since(self, before: str | None) -> Outcome:
        try:
            pod = self.kube.core.read_namespaced_pod(POD, NAMESPACE)
        except ApiException as err:
            if err.status == 404:
                return pending("the StatefulSet to create the pod again")
            raise
        ready = condition(pod, "Ready")
        if pod.metadata.uid == before:
            return pending(f"the old pod to go, is {pod.status.phase}")
        if ready is None or ready.status != "True":
            return pending(f"the new pod Ready, is {pod.status.phase}")
        return succeeded(f"new pod {pod.metadata.uid[:8]} Ready")
