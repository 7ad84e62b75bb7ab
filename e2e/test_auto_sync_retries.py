"""Auto-sync and a broken release: how often the migration runs, and when a fix gets in.

Auto-sync retries a failed sync even with no `retry` in the Application: the controller
gives its operation `RetryStrategy{Limit: 5}` unless `syncPolicy.retry` says otherwise
(controller/appcontroller.go, autoSync; argoproj/argo-cd#3997, #15624), with the default
back-off of 5 s doubling each time (5+10+20+40+80 s). Each attempt is a hook sync: the
migration runs again, in a new Job. A fix committed meanwhile waits until the retries are
spent, unless `syncPolicy.retry.refresh` is set (#11494, PR #23038): then the next
attempt syncs the branch's newest commit instead (appcontroller.go,
processRequestedAppOperation: "The latest revision from the source will be used").
"""

from collections.abc import Callable

import pytest

from e2e.bookshop import Bookshop
from e2e.kube import job_ended
from e2e.timeline import Timeline, image_of
from e2e.waits import Outcome, holds, pending, succeeded, wait_until

pytestmark = [pytest.mark.scenario, pytest.mark.argocd, pytest.mark.long]

DEFAULT_LIMIT = 5
DEFAULT_BACKOFF_S = 5 + 10 + 20 + 40 + 80


@pytest.mark.cpu_budget(220)
def test_auto_sync_retries_a_broken_release_five_times_by_default(
    deploy_bookshop, record_property: Callable[[str, object], None]
) -> None:
    # Given v2.0 deployed, and auto-sync on as `argocd app set --sync-policy automated`
    # leaves it: no retry stanza
    shop: Bookshop = deploy_bookshop("v2.0")
    shop.enable_auto_sync()
    assert "retry" not in shop.app.get()["spec"]["syncPolicy"]
    v2_job, generation = shop.migration_job().metadata.uid, shop.deployment().metadata.generation

    # When broken v3.0 is committed, while clients keep calling v2.0
    with Timeline(shop.kube, shop.namespace) as timeline, shop.probing() as probe:
        broken = shop.release("v3.0")
        shop.app.refresh()
        wait_until(lambda: shop.app.operation_ended(broken), 900, "the retries to be spent")

    # Then the automated sync failed after five retries, with a limit nobody set
    state = shop.app.operation_state()
    assert state["operation"]["retry"] == {"limit": DEFAULT_LIMIT}, state["operation"]
    assert (state["phase"], state.get("retryCount")) == ("Failed", DEFAULT_LIMIT), state
    # And the migration ran six times, each time in a new Job, for minutes
    attempts = timeline.appeared("Job", besides=v2_job)
    assert len(attempts) == DEFAULT_LIMIT + 1, [e.name for e in attempts]
    last = timeline.first("Job", lambda e: e.uid == attempts[-1].uid and job_ended(e.obj))
    assert last is not None
    spent = last.at - attempts[0].at
    record_property("auto_sync_retries_s", round(spent))
    assert spent >= DEFAULT_BACKOFF_S, spent
    # And v2.0 served all along
    assert holds(shop.still_on("v2.0", generation))
    assert probe.statuses == {"200"}, probe.answers


@pytest.mark.cpu_budget(100)
@pytest.mark.parametrize("refresh", [True, False], ids=["with-retry-refresh", "without"])
def test_a_fix_committed_while_a_broken_release_retries(deploy_bookshop, refresh: bool) -> None:
    # Given v2.0 deployed, auto-sync on with two retries, 15 s and 30 s after a failure
    # (and retry.refresh or not)
    shop: Bookshop = deploy_bookshop("v2.0")
    retry = ("--sync-retry-limit", "2", "--sync-retry-backoff-duration", "15s")
    shop.enable_auto_sync(*retry, *(["--sync-retry-refresh"] if refresh else []))

    with Timeline(shop.kube, shop.namespace) as timeline:
        # When broken v3.0 is committed, and its first attempt fails
        broken = shop.release("v3.0")
        shop.app.refresh()
        wait_until(lambda: retry_due(shop, broken), 300, "v3.0's first attempt to fail")
        # And the fix v3.1 is committed before the retry
        fix = shop.release("v3.1")
        shop.app.refresh()
        wait_until(lambda: shop.rolled_out("v3.1"), 600, "v3.1 to roll out")

    broken_runs = [e for e in timeline.appeared("Job") if image_of(e).endswith(":v3.0")]
    state = shop.app.operation_state()
    assert state["phase"] == "Succeeded" and state["syncResult"]["revision"] == fix, state
    if refresh:
        # Then the retry synced the fix: v3.0's migration ran once, and the same operation,
        # on its first retry, deployed v3.1
        assert len(broken_runs) == 1, [e.name for e in broken_runs]
        assert state.get("retryCount") == 1, state
    else:
        # Then the fix waited until v3.0's retries were spent: its migration ran three
        # times, and a new operation deployed v3.1
        assert len(broken_runs) == 3, [e.name for e in broken_runs]
        assert not state.get("retryCount"), state


def retry_due(shop: Bookshop, revision: str) -> Outcome:
    """`revision`'s sync has failed once and waits for its first retry."""
    state = shop.app.operation_state()
    syncing = state.get("operation", {}).get("sync", {}).get("revision")
    if syncing == revision and state.get("retryCount", 0) >= 1:
        return succeeded(f"retry due: {state.get('message')}")
    return pending(f"a failed attempt of {revision[:8]}, is {state.get('phase')} of {syncing}")
