"""A migration in flight when its controller changes hands (a restart, an upgrade).

The controller that takes over finds the operation in the Application's status and waits
on the hook the other one created ("Resuming in-progress operation", controller/
appcontroller.go, processRequestedAppOperation). What the scenarios commit before, and
what they then expect of it, whoever took over.
"""

from dataclasses import dataclass

from e2e.bookshop import Bookshop
from e2e.waits import wait_until


@dataclass(frozen=True)
class InFlight:
    tag: str
    revision: str
    job: str  # the hook Job's uid
    started: str  # the operation's startedAt


def commit_and_let_its_migration_wait(shop: Bookshop, tag: str) -> InFlight:
    """With auto-sync on and the lock the migration needs held: `tag` committed, and its
    migration running (waiting), as the Application's status says."""
    revision = shop.release(tag)
    shop.app.refresh()
    wait_until(shop.app.hook_running, 180, f"{tag}'s migration to run, in the status")
    started = shop.app.operation_state()["startedAt"]
    return InFlight(tag, revision, shop.migration_job().metadata.uid, started)


def ended_on_the_same_job(shop: Bookshop, flight: InFlight, timeout: float = 300) -> None:
    """The operation ends Succeeded, with finishedAt set, having waited on that one Job,
    and the release rolls out."""
    wait_until(lambda: shop.app.operation_ended(flight.revision), timeout, "the sync to end")
    state = shop.app.operation_state()
    assert (state["phase"], state["startedAt"]) == ("Succeeded", flight.started), state
    assert state.get("finishedAt"), state
    assert shop.migration_job().metadata.uid == flight.job
    wait_until(lambda: shop.rolled_out(flight.tag), 300, f"{flight.tag} to roll out")


def next_commit_auto_syncs_in_a_new_job(shop: Bookshop, flight: InFlight, tag: str) -> None:
    """Auto-sync goes on after the takeover (#29636 reports apps that never auto-sync
    again after a restart), the migration in a Job of its own."""
    revision = shop.release(tag)
    shop.app.refresh()
    wait_until(lambda: shop.app.operation_ended(revision), 300, f"auto-sync of {tag} to end")
    assert shop.app.operation_state()["phase"] == "Succeeded", shop.app.operation_state()
    assert shop.migration_job().metadata.uid != flight.job
    wait_until(lambda: shop.rolled_out(tag), 300, f"{tag} to roll out")
