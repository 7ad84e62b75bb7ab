"""The upgrade report: the same hook measurements on N-1 and on N, side by side.

What a platform team reads before it upgrades Argo CD: how soon a release rolls out once
its migration is done, how long a broken migration (`backoffLimit: 0`) holds the rollout,
how often `argocd app terminate-op` is lost (the controller writes back the operation
state it computed over the request: setOperationState in controller/appcontroller.go,
whose writing v3.6 changed, #28778), and the operation messages a user reads at each
step. Each version is measured on an app at v2.0, with Argo CD alone in the cluster, so
the figures compare; differences come first.
"""

import datetime
import json
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from e2e.application import Sync, hook_running_in
from e2e.bookshop import Bookshop
from e2e.timeline import Timeline, image_of, is_web, job_finished
from e2e.waits import Outcome, wait_until

TERMINATE_TRIES = 3
LOCKED_TABLE = "bookshop_book"  # every release's migration after v2.0 alters it
# Timings closer than this are the same, given one run of each on a busy machine.
SAME_WITHIN_S = 2.0
SAME_WITHIN_SHARE = 0.25


@dataclass
class HookMeasurements:
    version: str
    hook_done_to_replica_set_s: float  # the migration Job done → the new ReplicaSet
    time_to_fail_s: float  # a failing migration, backoffLimit 0: startedAt → finishedAt
    terminates_lost: int  # requests the controller wrote over, out of…
    terminate_tries: int
    messages: dict[str, str]  # the operation's message, by step


def measure(shop: Bookshop, version: str, tries: int = TERMINATE_TRIES) -> HookMeasurements:
    """On `shop` at v2.0 with the hardened Job: v3.0's migration fails, v3.1's runs and
    rolls out, then v4.0's waits on a lock and is terminated, `tries` times. On the way,
    the post's promises: the failing migration held the rollout and left the database as
    it was; the next release replaced the Job, and only the new one is left."""
    messages: dict[str, str] = {}
    database, generation = shop.fingerprint(), shop.deployment().metadata.generation
    failing = shop.deploy("v3.0")
    assert failing.phase == "Failed", failing.message
    assert failing.hook()["hookPhase"] == "Failed", failing.hook()
    assert shop.deployment().metadata.generation == generation
    assert shop.fingerprint() == database
    messages["sync failed"] = failing.message
    messages["hook failed (its resource)"] = failing.hook().get("message", "")
    time_to_fail = _seconds(failing.state["finishedAt"]) - _seconds(failing.state["startedAt"])

    before = shop.migration_job().metadata.uid
    with Timeline(shop.kube, shop.namespace) as timeline:
        fixed = shop.deploy("v3.1")
    assert fixed.phase == "Succeeded", fixed.message
    (replaced,) = shop.migration_jobs()  # and only the new one is left
    assert replaced.metadata.uid != before
    done = timeline.first("Job", lambda e: e.uid != before and job_finished(e))
    new_rs = timeline.first("ReplicaSet", lambda e: is_web(e) and image_of(e).endswith(":v3.1"))
    assert done and new_rs, f"v3.1's Job done {done}, its ReplicaSet {new_rs}"

    lost = 0
    revision = shop.release("v4.0")
    with shop.holding_lock(LOCKED_TABLE):
        for _ in range(tries):
            sync = shop.start_sync(revision)
            wait_until(partial(hook_waiting, sync), 180, "v4.0's migration to wait on the lock")
            messages["hook waiting"] = sync.current_state()["message"]
            sync.terminate()
            assert sync.phase == "Failed", sync.message
            messages["terminated"] = sync.message
            lost += sync.termination_requests > 1
    return HookMeasurements(
        version,
        round(new_rs.at - done.at, 2),
        time_to_fail,
        lost,
        tries,
        messages,
    )


def hook_waiting(sync: Sync) -> Outcome:
    """This sync is Running, its hook Running, as the Application's status says."""
    return hook_running_in(sync.current_state() or {})


def _seconds(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp).timestamp()


TIMINGS = (
    ("hook done → new ReplicaSet", "hook_done_to_replica_set_s"),
    ("time to fail, backoffLimit 0", "time_to_fail_s"),
)
Row = tuple[str, str, str, bool]  # what, on N-1, on N, whether they differ


def rows(before: HookMeasurements, after: HookMeasurements) -> list[Row]:
    """The table, differences first."""
    table: list[Row] = []
    for what, field in TIMINGS:
        x, y = getattr(before, field), getattr(after, field)
        far_apart = abs(x - y) > max(SAME_WITHIN_S, SAME_WITHIN_SHARE * max(x, y))
        table.append((what, f"{x:.1f} s", f"{y:.1f} s", far_apart))
    lost = [f"{m.terminates_lost} of {m.terminate_tries}" for m in (before, after)]
    table.append(("terminate-op lost", lost[0], lost[1], lost[0] != lost[1]))
    for step in sorted(before.messages.keys() | after.messages.keys()):
        a, b = before.messages.get(step, ""), after.messages.get(step, "")
        table.append((f"message: {step}", f"`{a}`", f"`{b}`", a != b))
    return sorted(table, key=lambda row: not row[3])


def write(before: HookMeasurements, after: HookMeasurements, folder: Path) -> Path:
    """artifacts/upgrade-report.md (and .json): what a team reads before it upgrades."""
    folder.mkdir(parents=True, exist_ok=True)
    table = rows(before, after)
    differing = sum(row[3] for row in table)
    lines = [
        f"## Upgrade report: Argo CD {before.version} → {after.version}",
        "",
        f"The same hook measurements on each, on an app at v2.0, Argo CD alone in the "
        f"cluster; one run each. {differing} of {len(table)} differ (timings: by more than "
        f"{SAME_WITHIN_S:.0f} s and {SAME_WITHIN_SHARE:.0%}); differences first.",
        "",
        f"| | {before.version} | {after.version} | |",
        "|---|---|---|---|",
        *(f"| {what} | {a} | {b} | {'differs' if d else 'same'} |" for what, a, b, d in table),
        "",
    ]
    report = folder / "upgrade-report.md"
    report.write_text("\n".join(lines))
    raw = {"before": asdict(before), "after": asdict(after)}
    (folder / "upgrade-report.json").write_text(json.dumps(raw, indent=2) + "\n")
    return report
