"""An Argo CD Application as the suite drives it: created from manifests/argocd (as the
post's Applications are applied), synced, rolled back, terminated and set with the
`argocd` CLI, read back from `status.operationState`.

Each sync is tagged with an info entry of its own (`argocd app sync --info`, which Argo CD
keeps in the operation), so "finished" always means *this* sync finished, never a
previous one whose state is still on the object.
"""

import copy
import datetime
import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from e2e.argocd import GROUP, NAMESPACE, VERSION
from e2e.cli import ArgoCDCLI, CommandFailed, Result
from e2e.kube import Kube
from e2e.waits import Outcome, failed, pending, succeeded, wait_until

log = logging.getLogger(__name__)

PLURAL = "applications"
FINISHED = ("Succeeded", "Failed", "Error")
TAG = "e2e-sync"  # the info entry that tells one sync from another
HISTORY_ROW = re.compile(r"^(\d+)\s+.*\((\w{7})\)\s*$", re.M)


@dataclass
class Sync:
    """One sync operation: who started it, when, and (once finished) how it ended."""

    app: "Application"
    tag: str  # the value of its `e2e-sync` info entry
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
        return next(iter(self.hooks(kind, name)), None)

    def hooks(self, kind: str = "Job", name: str = "db-migration") -> list[dict[str, Any]]:
        """The results of that hook, one per phase it ran in (a Helm hook for
        `post-install,pre-upgrade` runs as PreSync and as PostSync)."""
        resources = self.state.get("syncResult", {}).get("resources", [])
        return [
            r
            for r in resources
            if r.get("kind") == kind and r.get("name") == name and r.get("hookType")
        ]

    def current_state(self) -> dict[str, Any] | None:
        state = self.app.get().get("status", {}).get("operationState", {})
        if {"name": TAG, "value": self.tag} not in state.get("operation", {}).get("info", []):
            return None
        return state

    def finished(self) -> Outcome:
        state = self.current_state()
        if state is None:
            return pending(f"{self.app.name}: sync {self.tag} to start")
        phase = state.get("phase")
        if phase in FINISHED and "operation" not in self.app.get():
            self.state = state
            return succeeded(f"{self.app.name}: sync {phase}: {state.get('message', '')}")
        return pending(f"{self.app.name}: sync to finish, is {phase}: {state.get('message', '')}")

    def running(self) -> Outcome:
        state = self.current_state()
        if state is None:
            return pending(f"{self.app.name}: sync {self.tag} to start")
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
        """`argocd app terminate-op`, until it takes, and wait for the operation to end.

        A request can be lost. A controller already at work on the operation writes back
        the whole operationState it computed, phase Running included, with a JSON patch
        that has no precondition (setOperationState in controller/appcontroller.go), so a
        termination that lands meanwhile is overwritten and the sync runs on. Seen here:
        the hook then ran to the end. So a request that meets Running again is made
        again, as a user would; `termination_requests` counts them."""

        def ended() -> Outcome:
            state = self.current_state() or {}
            if state.get("phase") == "Running":
                # Refused when the operation ended meanwhile: the next look tells.
                self.app.argocd("app", "terminate-op", self.app.name, check=False)
                self.termination_requests += 1
                if self.termination_requests > 1:
                    log.warning("%s: termination request lost, made again", self.app.name)
                return pending(f"{self.app.name}: termination ({self.termination_requests})")
            return self.finished()

        wait_until(ended, timeout, f"the sync of {self.app.name} to end, terminated")
        return self


def hook_running_in(state: dict[str, Any]) -> Outcome:
    """The operation is Running, a hook of it Running, as this operation state says."""
    hooks = [r for r in state.get("syncResult", {}).get("resources", []) if r.get("hookType")]
    if state.get("phase") == "Running" and any(h.get("hookPhase") == "Running" for h in hooks):
        return succeeded(f"hook Running: {state.get('message')}")
    return pending(f"a running hook in the status, is {state.get('phase')}: {hooks}")


@dataclass
class Application:
    kube: Kube
    cli: ArgoCDCLI
    name: str
    commands: list[Result] = field(default_factory=list)  # what was typed, for diagnostics
    created: bool = False  # by this run (Helm itself installs the chart with none)

    def create(
        self, template: dict[str, Any], *, namespace: str, path: str, revision: str, repo_url: str
    ) -> "Application":
        app = copy.deepcopy(template)
        app["metadata"] = {"name": self.name, "namespace": NAMESPACE}
        app["spec"]["source"].update(repoURL=repo_url, path=path, targetRevision=revision)
        app["spec"]["destination"]["namespace"] = namespace
        self.kube.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, app)
        self.created = True
        return self

    def get(self) -> dict[str, Any]:
        return self.kube.custom.get_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, self.name
        )

    def argocd(self, *args: str, check: bool = True, timeout: float = 900) -> Result:
        """An `argocd` command about this app. A non-zero exit raises with the command
        line and its stderr, unless `check` is off (a refusal can be the finding)."""
        result = self.cli.run(*args, timeout=timeout)
        self.commands.append(result)
        if check and result.returncode != 0:
            raise CommandFailed(result)
        return result

    def start_sync(self, revision: str, *options: str) -> Sync:
        """`argocd app sync --async` of `revision` (hook strategy, no retries unless
        `options`, more `argocd app sync` flags, say so)."""
        self.wait_idle()
        tag = uuid.uuid4().hex[:8]
        started = datetime.datetime.now(datetime.UTC)
        sync = ("app", "sync", self.name, "--revision", revision, "--async")
        self.argocd(*sync, "--info", f"{TAG}={tag}", *options)
        return Sync(self, tag, revision, started)

    def sync(self, revision: str, *options: str, timeout: float = 300) -> Sync:
        return self.start_sync(revision, *options).wait(timeout)

    def history(self) -> dict[str, int]:
        """`argocd app history`, as a user reads it: the ID of each deployment, by the
        short commit it deployed (the table's "<targetRevision> (<sha>)")."""
        table = self.argocd("app", "history", self.name).stdout
        return {sha: int(id_) for id_, sha in HISTORY_ROW.findall(table)}

    def rollback(self, revision: str) -> Sync:
        """`argocd app rollback` to the deployment of `revision`, found in `argocd app
        history`. The command waits for the operation to end; so the state on the app
        then is the rollback's."""
        self.wait_idle()
        started = datetime.datetime.now(datetime.UTC)
        deployment = self.history()[revision[:7]]
        self.argocd("app", "rollback", self.name, str(deployment), "--timeout", "300")
        self.wait_idle()
        return Sync(self, "", revision, started, state=self.operation_state())

    def wait_idle(self, timeout: float = 120) -> None:
        """The next sync only after the previous one has finished (`.operation` cleared)."""

        def idle() -> Outcome:
            app = self.get()
            if "operation" in app:
                phase = app.get("status", {}).get("operationState", {}).get("phase")
                return pending(f"{self.name}: previous operation to finish, is {phase}")
            return succeeded(f"{self.name} idle")

        wait_until(idle, timeout, f"{self.name} to have no operation")

    def operation_ended(self, revision: str) -> Outcome:
        """The operation on `revision`, whoever started it (auto-sync too), has ended for
        good: no retry left, `.operation` cleared."""
        app = self.get()
        state = app.get("status", {}).get("operationState", {})
        syncing = state.get("operation", {}).get("sync", {}).get("revision")
        seen = f"{state.get('phase')} of {str(syncing)[:8]}, retry {state.get('retryCount', 0)}"
        if "operation" not in app and syncing == revision and state.get("phase") in FINISHED:
            return succeeded(f"{self.name}: operation ended: {seen}")
        return pending(f"{self.name}: the operation on {revision[:8]} to end, is {seen}")

    def refresh(self) -> None:
        """`argocd app get --hard-refresh`, which returns once the controller has compared
        the app against Git again."""
        self.argocd("app", "get", self.name, "--hard-refresh")

    def status(self) -> dict[str, Any]:
        return self.get().get("status", {})

    def operation_state(self) -> dict[str, Any]:
        """The last operation's state, whoever started it (empty before the first)."""
        return self.status().get("operationState", {})

    def hook_running(self) -> Outcome:
        """The operation's status has a hook (the migration Job) running: what a controller
        that starts now reads back. (Killed within seconds of creating the Job, before it
        had written that, the next controller started the operation over: it deleted the
        running Job, BeforeHookCreation, and ran the migration again in a new one.)"""
        return hook_running_in(self.operation_state())

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
