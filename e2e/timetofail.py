"""How long a failing migration holds a rollout, by backoffLimit.

With the Kubernetes default (6, what the seed's Job gets by leaving it unset) the Job
retries with 10 s, 20 s, 40 s ... back-off before it fails, and Argo CD's sync waits on
it all along; with backoffLimit 0 (hardened) the first failure fails the sync. The two
legs run side by side, started early in the session, so the slow one overlaps with the
other scenarios instead of adding ten minutes to the run.
"""

import contextlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from e2e.bookshop import Bookshop
from e2e.waits import holds

DEFAULT_BACKOFF = {"spec": {"backoffLimit": None}}  # unset, as in the post: Kubernetes' 6
LEGS = {"default (6)": DEFAULT_BACKOFF, "hardened (0)": None}
TIMEOUT = 20 * 60  # 7 attempts with back-off 10+20+40+80+160+320 s: about 11 minutes


class Leg(threading.Thread):
    def __init__(
        self,
        label: str,
        job_patch: dict | None,
        make: Callable[[str], Bookshop],
        using_argocd: Callable[[], contextlib.AbstractContextManager],
    ) -> None:
        super().__init__(name=f"time-to-fail {label}", daemon=True)
        self.label, self.job_patch, self.make = label, job_patch, make
        self.using_argocd = using_argocd
        self.shop: Bookshop | None = None
        self.held: float | None = None
        self.failed_pods = 0
        self.phase = ""
        self.still_on_v2 = False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.using_argocd():
                self.shop = shop = self.make(self.label)
                started = time.monotonic()
                sync = shop.sync(shop.release("v3.0", job_patch=self.job_patch), timeout=TIMEOUT)
                self.held = time.monotonic() - started
                self.phase = sync.phase
                job = shop.migration_job()
                self.failed_pods = (job.status.failed or 0) if job else 0
                self.still_on_v2 = holds(shop.rolled_out("v2.0"))
        except BaseException as err:
            self.error = err


def start(
    make: Callable[[str], Bookshop], using_argocd: Callable[[], contextlib.AbstractContextManager]
) -> dict[str, Leg]:
    """Both legs, each in a thread that holds `using_argocd()` while it runs."""
    legs = {label: Leg(label, patch, make, using_argocd) for label, patch in LEGS.items()}
    for leg in legs.values():
        leg.start()
    return legs


def report(legs: dict[str, Leg], folder: Path) -> None:
    """The measurement, for the benchmark table and the README."""
    folder.mkdir(parents=True, exist_ok=True)
    result = {
        label: {
            "held_s": round(leg.held or 0, 1),
            "failed_pods": leg.failed_pods,
            "phase": leg.phase,
        }
        for label, leg in legs.items()
    }
    (folder / "time-to-fail.json").write_text(json.dumps(result, indent=2) + "\n")
