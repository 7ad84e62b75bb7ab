"""How long a broken release holds the rollout before its sync fails.

The post's Job leaves backoffLimit unset, so Kubernetes retries a failed migration six
times with exponential back-off; Argo CD's PreSync phase waits for the Job all along.
The hardened Job fails at the first error. Both legs: v2.0 deployed, broken v3.0 synced.
"""

from pathlib import Path

import pytest

from e2e import timetofail
from harness.plugin import Options

pytestmark = [pytest.mark.scenario, pytest.mark.argocd, pytest.mark.starts_early]


def test_how_long_a_failing_migration_holds_the_rollout(
    time_to_fail_legs: dict[str, timetofail.Leg], options: Options
) -> None:
    for leg in time_to_fail_legs.values():
        leg.join(timeout=timetofail.TIMEOUT)
        assert not leg.is_alive(), f"{leg.label}: still running after {timetofail.TIMEOUT}s"
        if leg.error:
            raise leg.error
    timetofail.report(time_to_fail_legs, Path(options.artifacts_dir))
    default, hardened = time_to_fail_legs["default (6)"], time_to_fail_legs["hardened (0)"]
    for leg in (default, hardened):
        print(f"\n{leg.label}: rollout held {leg.held:.0f} s by {leg.failed_pods} failed pod(s)")
        # Then each sync failed, and the old version stayed
        assert leg.phase == "Failed" and leg.still_on_v2
    # And the default retried (6 failed attempts counted when the Job failed, against 1),
    # holding the rollout many times longer
    assert hardened.failed_pods == 1
    assert default.failed_pods >= 6
    assert default.held > 5 * hardened.held
