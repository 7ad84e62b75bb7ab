"""The application controller, not the hook, mid-migration: restarted, or out of time.

A controller restarted while a hook runs (a node drained, an OOM kill) picks the operation
up from the Application's status: "Resuming in-progress operation"
(controller/appcontroller.go, processRequestedAppOperation), and waits on the hook it had
created. Not at once: the informer's first list only queues a refresh
(newApplicationInformerAndLister, AddFunc); the operation is queued when the Application
is next updated or resynced (the informer resyncs every `timeout.reconciliation`, 120 s
by default). argoproj/argo-cd#29636 reports Applications that never auto-sync again after
a restart; the scenario commits once more to see.

Argo CD has no deadline for hooks, but the controller has one for whole operations,
`controller.sync.timeout.seconds` in argocd-cmd-params-cm (0, none, by default): past it,
the same function marks the operation Terminating ("operation is terminating due to
timeout"), the sync deletes its running hooks (gitops-engine/pkg/sync/sync_context.go,
Terminate and terminateHooksPreemptively), and a terminated operation is not retried,
whatever its retry strategy (processRequestedAppOperation: `!terminating && …`).

Both change the controller under every Application, so they run alone; the restart only
until the new controller is up (its wait to resume is this Application's alone).
"""

import datetime
import time
from collections.abc import Callable

import pytest

from e2e.bookshop import Bookshop
from e2e.conftest import Cluster
from e2e.controller import SYNC_TIMEOUT, Controller
from e2e.in_flight import (
    commit_and_let_its_migration_wait,
    ended_on_the_same_job,
    next_commit_auto_syncs_in_a_new_job,
)
from e2e.kubectl import Kubectl
from e2e.waits import Outcome, holds, pending, succeeded, wait_until
from e2e.workers import ArgoCDLock

pytestmark = [pytest.mark.scenario, pytest.mark.argocd, pytest.mark.reinstalls_argocd]

# Short: every other scenario waits while the controller has it (theirs would time out).
SYNC_TIMEOUT_S = 30
TIMED_OUT = "Operation terminated, triggered by controller sync timeout"


@pytest.fixture
def controller(cluster: Cluster, kubectl: Kubectl) -> Controller:
    return Controller(cluster.kube, kubectl)


@pytest.mark.cpu_budget(100)
@pytest.mark.reinstalls_argocd(shares_again=True)
def test_a_restarted_controller_resumes_the_sync_on_the_same_migration_job(
    deploy_bookshop: Callable[..., Bookshop],
    controller: Controller,
    argocd_lock: ArgoCDLock,
    record_property: Callable[[str, object], None],
) -> None:
    # Given v2.0 deployed with auto-sync on, and a transaction holding a lock that v3.1's
    # migration needs
    shop = deploy_bookshop("v2.0")
    shop.enable_auto_sync()
    with shop.holding_lock("bookshop_book"):
        # When v3.1 is committed, and auto-sync's migration waits on the lock, as the
        # Application's status says
        v3_1 = commit_and_let_its_migration_wait(shop, "v3.1")
        # And the application controller's pod is deleted (`kubectl delete pod`)
        controller.delete_pod()
        back = time.monotonic()
        argocd_lock.share_again()  # a new controller is up: the others' scenarios go on
        # Then the new controller resumes the same operation, on the same Job, though
        # only once the Application comes round again: the informer's first list queues a
        # refresh, not the operation (appcontroller.go, newApplicationInformerAndLister)
        wait_until(lambda: resumed(controller, shop), 300, "the new controller to resume")
        record_property("controller_resumed_after_s", round(time.monotonic() - back))
        state = shop.app.operation_state()
        assert (state["phase"], state["startedAt"]) == ("Running", v3_1.started), state
        assert shop.migration_job().metadata.uid == v3_1.job

    # When the lock is released
    # Then the sync ends Succeeded, with finishedAt set, having waited on that one Job
    ended_on_the_same_job(shop, v3_1)
    # And the next commit still auto-syncs, its migration in a new Job (#29636)
    next_commit_auto_syncs_in_a_new_job(shop, v3_1, "v4.0")


@pytest.mark.cpu_budget(45)
def test_the_controllers_sync_timeout_terminates_a_stuck_migration(
    deploy_bookshop: Callable[..., Bookshop], controller: Controller
) -> None:
    # Given v2.0 deployed, and a transaction holding a lock that v3.1's migration needs
    shop = deploy_bookshop("v2.0")
    generation, before = shop.deployment().metadata.generation, shop.fingerprint()
    # And the controller's sync timeout set (argocd-cmd-params-cm, the controller restarted)
    with (
        controller.configured({SYNC_TIMEOUT: str(SYNC_TIMEOUT_S)}),
        shop.holding_lock("bookshop_book"),
    ):
        # When v3.1 syncs, with retries asked for (`argocd app sync --retry-limit 2`)
        sync = shop.start_sync(shop.release("v3.1"), "--retry-limit", "2")
        wait_until(shop.migration_waiting, SYNC_TIMEOUT_S, "the migration to start and wait")
        pods = shop.migration_pods(shop.migration_job())
        # Then the controller ends the operation once its time is up, and does not retry it
        sync.wait(SYNC_TIMEOUT_S * 3)
        assert (sync.phase, sync.message) == ("Failed", TIMED_OUT), sync.state
        assert not sync.state.get("retryCount"), sync.state
        assert SYNC_TIMEOUT_S <= lasted(sync.state) < SYNC_TIMEOUT_S + 30, sync.state
        # And it deleted the hook Job, whose migration stopped (the hardened script passes
        # SIGTERM on)
        wait_until(lambda: shop.gone(pods), 60, "the migration pod to stop")
        wait_until(shop.migration_job_gone, 60, "the controller's deletion of the hook Job")
    # And the app was not rolled out, nothing migrated
    assert holds(shop.still_on("v2.0", generation))
    assert shop.fingerprint() == before


def resumed(controller: Controller, shop: Bookshop) -> Outcome:
    """The controller's log says it resumed this Application's operation."""
    lines = [
        line
        for line in controller.log().splitlines()
        if "Resuming in-progress operation" in line and shop.app.name in line
    ]
    if lines:
        return succeeded(lines[0])
    return pending(f"'Resuming in-progress operation' for {shop.app.name} in the controller's log")


def lasted(state: dict) -> float:
    """Seconds from an operation's startedAt to its finishedAt."""
    started, finished = (
        datetime.datetime.fromisoformat(state[key].replace("Z", "+00:00"))
        for key in ("startedAt", "finishedAt")
    )
    return (finished - started).total_seconds()
