"""What a scenario costs in CPU: the kind node's (its pods, and the kubelet, containerd and
runc starting and stopping them) and the suite's own (the pytest worker with the kubectl,
git, kustomize and argocd processes it runs).

The node's CPU is its container's cgroup counter (Docker's stats, cumulative), read at
each scenario's start and end in every worker. Scenarios run side by side: between two
consecutive readings (any worker's) the node's CPU is shared equally among the scenarios
running then, and a scenario's cost is the sum of its shares. With one worker that is its
whole cost, the idle cluster's included (Argo CD and the API server at rest, about 0.3 of
a core).
"""

import itertools
import statistics
import time
from dataclasses import dataclass
from typing import Any

import psutil
from docker.errors import DockerException

from images import engine

# What a scenario may cost, node and suite together, before the report says so: the
# dearest plain scenario (one to three syncs) cost about 20 s in CI here with the shared
# Postgres, the median 15 s. A scenario that waits minutes on Argo CD's back-off, a Job's
# deadline or a new controller pays the cluster's share all along, or makes more apps,
# so it says what it needs (@pytest.mark.cpu_budget(seconds)), about 1.5 times what it
# cost then.
BUDGET_S = 25.0


def node_counter(node: str | None) -> int | None:
    """The node container's CPU so far, in nanoseconds; None without one (--kubeconfig)."""
    if node is None:
        return None
    try:
        stats = engine.client().api.stats(node, stream=False, one_shot=True)
    except DockerException:
        return None
    return stats["cpu_stats"]["cpu_usage"]["total_usage"]


def own_seconds() -> float:
    """This process's CPU and its finished children's."""
    times = psutil.Process().cpu_times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass
class Meter:
    """Readings at a scenario's start and end, as timings.jsonl keeps them."""

    node: str | None
    started: float = 0.0
    node_start: int | None = None
    own_start: float = 0.0

    def start(self) -> "Meter":
        self.started, self.node_start = time.time(), node_counter(self.node)
        self.own_start = own_seconds()
        return self

    def stop(self) -> dict[str, Any]:
        node_end = node_counter(self.node)
        return {
            "start": self.started,
            "end": time.time(),
            "node_start": self.node_start,
            "node_end": node_end,
            "own_s": round(own_seconds() - self.own_start, 2),
        }


def node_shares(readings: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Each scenario's share of the node's CPU, in seconds, from every scenario's
    readings (by test name)."""
    metered = {t: r for t, r in readings.items() if r.get("node_start") is not None}
    ends = ("start", "end")
    points = sorted((r[end], r[f"node_{end}"]) for r in metered.values() for end in ends)
    shares = dict.fromkeys(metered, 0.0)
    for (t0, n0), (t1, n1) in itertools.pairwise(points):
        running = [t for t, r in metered.items() if r["start"] <= t0 and t1 <= r["end"]]
        for test in running:
            shares[test] += max(n1 - n0, 0) / 1e9 / len(running)
    return {test: round(share, 1) for test, share in shares.items()}


def summary(costs: dict[str, float]) -> str:
    """One line for the run: the scenarios' CPU, summed and their median."""
    if not costs:
        return ""
    total, median = sum(costs.values()), statistics.median(costs.values())
    return (
        f"CPU of {len(costs)} scenarios (node share + suite): {total:.0f} s in all, "
        f"median {median:.1f} s a scenario"
    )
