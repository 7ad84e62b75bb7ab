"""How long each step of each sync took: sync start -> hook start -> hook end -> rollout
done or failure detected, and how long the session's own phases (image build, cluster
create, ...) took before the scenarios could start. Written as JSON (for tools, such as
e2e/benchmark.py) and Markdown (for people)."""

import contextlib
import datetime
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from time import monotonic
from typing import Any

from e2e import cpu
from e2e.bookshop import Bookshop
from images import progress

# Phases that are cache checks once the controller has built everything: a build they do
# after all announces itself, step by step.
QUIET = frozenset({"image build", "node image preload"})


def _parse(stamp: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def of_sync(shop: Bookshop, index: int) -> dict[str, Any]:
    sync = shop.syncs[index]
    start = sync.started
    state = sync.state

    def since(moment: datetime.datetime | None) -> float | None:
        return round((moment - start).total_seconds(), 1) if moment else None

    hook = sync.hook() or {}
    return {
        "namespace": shop.namespace,
        "revision": sync.revision[:8],
        "phase": sync.phase,
        "hook": hook.get("hookPhase"),
        "hook_started_s": since(sync.hook_started),
        "hook_finished_s": since(sync.hook_finished),
        "sync_finished_s": since(_parse(state.get("finishedAt"))),
        "rolled_out_s": since(sync.rolled_out),
    }


def record(
    shops: list[Bookshop],
    test: str,
    duration: float,
    folder: Path,
    *,
    cpu: dict[str, Any] | None = None,
    budget: float | None = None,
) -> None:
    """A scenario's syncs, and (metered) its CPU readings and budget (e2e/cpu.py)."""
    rows = [{"test": test, **of_sync(shop, i)} for shop in shops for i in range(len(shop.syncs))]
    entry = {"test": test, "duration_s": round(duration, 1), "syncs": rows}
    if cpu is not None:
        entry |= {"cpu": cpu, "cpu_budget_s": budget}
    _append(folder, entry)


_open = threading.local()  # .inner: per phase this thread times, innermost last: inner time


@contextlib.contextmanager
def phase(name: str, folder: Path) -> Iterator[None]:
    """Time one step of the session's setup (`with phase("cluster create", folder):`), so
    a run shows what its scenarios waited for. A phase inside another counts only in its
    own row (the Git server's image build is "image build", not "Git server ready"), and
    phases of one name add up. A step that fails records nothing: that is no measurement."""
    inner: list[float] = _open.__dict__.setdefault("inner", [])
    started = monotonic()
    inner.append(0.0)
    try:
        with contextlib.nullcontext() if name in QUIET else progress.step(name):
            yield
        took = monotonic() - started
        own = took - inner[-1]
    finally:
        inner.pop()
    if inner:
        inner[-1] += took
    _append(folder, {"phase": name, "duration_s": round(own, 1)})


def _append(folder: Path, entry: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "timings.jsonl").open("a") as out:
        out.write(json.dumps(entry) + "\n")


def read(folder: Path) -> list[dict[str, Any]]:
    """Every entry of a run's timings.jsonl, in order; none when the run wrote none."""
    path = folder / "timings.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def phases(entries: list[dict[str, Any]]) -> dict[str, float]:
    """Session phases, summed by name, in the order they first ran."""
    totals: dict[str, float] = {}
    for entry in entries:
        if "phase" in entry:
            name = entry["phase"]
            totals[name] = round(totals.get(name, 0.0) + entry["duration_s"], 1)
    return totals


def scenarios(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in entries if "test" in entry]


def markdown(folder: Path) -> str:
    """The session's phases, then each scenario's syncs; empty when nothing was timed."""
    entries = read(folder)
    tables = []
    if totals := phases(entries):
        lines = ["| session phase | s |", "|---|---|"]
        lines += [f"| {name} | {seconds:g} |" for name, seconds in totals.items()]
        tables.append("\n".join(lines) + "\n")
    if timed := scenarios(entries):
        costs = cpu_costs(timed)
        lines = [
            "| scenario | s | CPU s (node + suite) | syncs: phase (hook start / hook end / "
            "sync end / rollout, s) |",
            "|---|---|---|---|",
        ]
        for entry in timed:
            syncs = "; ".join(
                f"{s['phase']} ({_n(s['hook_started_s'])}/{_n(s['hook_finished_s'])}/"
                f"{_n(s['sync_finished_s'])}/{_n(s['rolled_out_s'])})"
                for s in entry["syncs"]
            )
            spent = _cpu_cell(entry, costs)
            lines.append(f"| {entry['test']} | {entry['duration_s']} | {spent} | {syncs} |")
        totals = {test: node + own for test, (node, own) in costs.items()}
        notes = [cpu.summary(totals)] if totals else []
        notes += [
            f"over its CPU budget: {e['test']}, {totals[e['test']]:.0f} s of "
            f"{e['cpu_budget_s']:g} s"
            for e in timed
            if e["test"] in totals and totals[e["test"]] > e["cpu_budget_s"]
        ]
        tables.append("\n".join(lines) + "\n" + "".join(f"\n{note}\n" for note in notes))
    return "\n".join(tables)


def cpu_costs(timed: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """(node share, suite) CPU-seconds of each metered scenario (e2e/cpu.py)."""
    readings = {e["test"]: e["cpu"] for e in timed if "cpu" in e}
    node = cpu.node_shares(readings)
    return {test: (node.get(test, 0.0), r["own_s"]) for test, r in readings.items()}


def _cpu_cell(entry: dict[str, Any], costs: dict[str, tuple[float, float]]) -> str:
    if entry["test"] not in costs:
        return "-"
    node, own = costs[entry["test"]]
    return f"{node + own:.1f} ({node:.1f} + {own:.1f})"


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
