"""How long each step of each sync took: sync start -> hook start -> hook end -> rollout
done or failure detected. Written as JSON (for tools) and Markdown (for people)."""

import datetime
import json
from pathlib import Path
from typing import Any

from e2e.bookshop import Bookshop


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


def record(shops: list[Bookshop], test: str, duration: float, folder: Path) -> None:
    rows = [{"test": test, **of_sync(shop, i)} for shop in shops for i in range(len(shop.syncs))]
    entry = {"test": test, "duration_s": round(duration, 1), "syncs": rows}
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "timings.jsonl").open("a") as out:
        out.write(json.dumps(entry) + "\n")


def markdown(folder: Path) -> str:
    path = folder / "timings.jsonl"
    if not path.exists():
        return ""
    entries = [json.loads(line) for line in path.read_text().splitlines() if line]
    lines = [
        "| scenario | s | syncs: phase (hook start / hook end / sync end / rollout, s) |",
        "|---|---|---|",
    ]
    for entry in entries:
        syncs = "; ".join(
            f"{s['phase']} ({_n(s['hook_started_s'])}/{_n(s['hook_finished_s'])}/"
            f"{_n(s['sync_finished_s'])}/{_n(s['rolled_out_s'])})"
            for s in entry["syncs"]
        )
        lines.append(f"| {entry['test']} | {entry['duration_s']} | {syncs} |")
    return "\n".join(lines) + "\n"


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
