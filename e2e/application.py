"""An Argo CD Application as the suite drives it: created from manifests/argocd, synced by
patching `.operation`, read back from `status.operationState`.

Each sync is tagged with its own `initiatedBy.username`, so "finished" always means
*this* sync finished, never a previous one whose state is still on the object.
"""

import copy
import datetime
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from e2e.argocd import GROUP, NAMESPACE, VERSION
from e2e.kube import Kube
from e2e.waits import Outcome, failed, pending, succeeded, wait_until

log = logging.getLogger(__name__)

PLURAL = "applications"
FINISHED = ("Succeeded", "Failed", "Error")


@dataclass
class Sync:
    """One sync operation: who started it, when, and (once finished) how it ended."""

    app: "Application"
    initiator: str
    revision: str
    started: datetime.datetime
    state: dict[str, Any] = field(default_factory=dict)
    # Observed from the hook Job and the Deployment, for the timings report.
    hook_started: datetime.datetime | None = None
    hook_finished: datetime.datetime | None = None
    rolled_out: datetime.datetime | None = None
    termination_requests: int = 0

    @property
    def phase(self) -> str:
        return self.state.get("phase", "")

    @property
    def message(self) -> str:
        return self.state.get("message", "")

    def hook(self, kind: str = "Job", name: str = "db-migration") -> dict[str, Any] | None:
        resources = self.state.get("syncResult", {}).get("resources", [])
        return next(
            (
                r
                for r in resources
                if r.get("kind") == kind and r.get("name") == name and r.get("hookType")
            ),
            None,
        )

    def current_state(self) -> dict[str, Any] | None:
        state = self.app.get().get("status", {}).get("operationState", {})
        if state.get("operation", {}).get("initiatedBy", {}).get("username") != self.initiator:
            return None
        return state

    def finished(self) -> Outcome:
        state = self.current_state()
        if state is None:
            return pending(f"{self.app.name}: sync {self.initiator} to start")
        phase = state.get("phase")
        if phase in FINISHED and "operation" not in self.app.get():
            self.state = state
            return succeeded(f"{self.app.name}: sync {phase}: {state.get('message', '')}")
        return pending(f"{self.app.name}: sync to finish, is {phase}: {state.get('message', '')}")

    def running(self) -> Outcome:
        state = self.current_state()
        if state is None:
            return pending(f"{self.app.name}: sync {self.initiator} to start")
        phase = state.get("phase")
        if phase == "Running":
            return succeeded(f"{self.app.name}: sync Running: {state.get('message', '')}")
        return failed(
            f"{self.app.name}: sync should be Running, is {phase}: {state.get('message')}"
        )

    def wait(self, timeout: float = 300) -> "Sync":
        wait_until(self.finished, timeout, f"sync of {self.app.name} to {self.revision[:8]}")
        return self

    def terminate(self, timeout: float = 120) -> "Sync":
        """What `argocd app terminate-op` does, until it takes: ask the controller to stop
        the operation (the Application CRD has no status subresource, so status is patched
        in place), and wait for the operation to end.

        A request can be lost. A controller already at work on the operation writes back
        the whole operationState it computed, phase Running included, with a JSON patch
        that has no precondition (setOperationState in controller/appcontroller.go), so a
        request that lands meanwhile is overwritten and the sync runs on. Seen here: the
        hook then ran to the end. So a request that meets Running again is made again;
        `termination_requests` counts them."""

        def ended() -> Outcome:
            state = self.current_state() or {}
            if state.get("phase") == "Running":
                self.app.patch({"status": {"operationState": {"phase": "Terminating"}}})
                self.termination_requests += 1
                if self.termination_requests > 1:
                    log.warning("%s: termination request lost, made again", self.app.name)
                return pending(f"{self.app.name}: termination ({self.termination_requests})")
            return self.finished()

        wait_until(ended, timeout, f"the sync of {self.app.name} to end, terminated")
        return self


@dataclass
class Application:
    kube: Kube
    name: str

    def create(
        self, template: dict[str, Any], *, namespace: str, path: str, revision: str, repo_url: str
    ) -> "Application":
        app = copy.deepcopy(template)
        app["metadata"] = {"name": self.name, "namespace": NAMESPACE}
        app["spec"]["source"].update(repoURL=repo_url, path=path, targetRevision=revision)
        app["spec"]["destination"]["namespace"] = namespace
        self.kube.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, app)
        return self

    def get(self) -> dict[str, Any]:
        return self.kube.custom.get_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, self.name
        )

    def patch(self, body: dict[str, Any]) -> None:
        self.kube.custom.patch_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, self.name, body
        )

    def start_sync(self, revision: str, retry: dict[str, Any] | None = None) -> Sync:
        """Hard refresh and sync `revision` with hook strategy; no retries unless `retry`
        (a sync's retry strategy: limit and backoff, as in `syncPolicy.retry`) says so."""
        self.wait_idle()
        initiator = f"e2e-{uuid.uuid4().hex[:8]}"
        started = datetime.datetime.now(datetime.UTC)
        self.patch(
            {
                "metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard"}},
                "operation": {
                    "initiatedBy": {"username": initiator},
                    "sync": {"revision": revision, "syncStrategy": {"hook": {}}},
                    "retry": retry or {"limit": 0},
                },
            }
        )
        return Sync(self, initiator, revision, started)

    def sync(self, revision: str, timeout: float = 300) -> Sync:
        return self.start_sync(revision).wait(timeout)

    def wait_idle(self, timeout: float = 120) -> None:
        """The next sync only after the previous one has finished (`.operation` cleared)."""

        def idle() -> Outcome:
            app = self.get()
            if "operation" in app:
                phase = app.get("status", {}).get("operationState", {}).get("phase")
                return pending(f"{self.name}: previous operation to finish, is {phase}")
            return succeeded(f"{self.name} idle")

        wait_until(idle, timeout, f"{self.name} to have no operation")

    def refresh(self, timeout: float = 120) -> None:
        """Hard refresh, waited on: the controller drops the annotation once it has
        compared the app against Git again."""
        annotation = "argocd.argoproj.io/refresh"
        self.patch({"metadata": {"annotations": {annotation: "hard"}}})

        def refreshed() -> Outcome:
            annotations = self.get()["metadata"].get("annotations") or {}
            if annotation in annotations:
                return pending(f"{self.name}: controller to take the refresh request")
            return succeeded(f"{self.name} refreshed")

        wait_until(refreshed, timeout, f"a hard refresh of {self.name}")

    def status(self) -> dict[str, Any]:
        return self.get().get("status", {})

    def healthy_and_synced(self) -> Outcome:
        status = self.status()
        health = status.get("health", {}).get("status")
        sync = status.get("sync", {}).get("status")
        if health == "Healthy" and sync == "Synced":
            return succeeded(f"{self.name} Synced/Healthy")
        return pending(f"{self.name} Synced/Healthy, is {sync}/{health}")

    def delete(self) -> None:
        try:
            self.kube.custom.delete_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, PLURAL, self.name
            )
        except ApiException as err:
            if err.status != 404:
                raise
