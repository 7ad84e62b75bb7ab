"""A scenario's recording, for the report's timeline picture (e2e/report.py): what its
namespace and its Application did, stamped as the watch API told it (e2e/timeline.py),
the probe's answers, and where the test's assertions looked.

Written as JSON to artifacts/timelines/ when the scenario ends, so the report is drawn
from files (also from an earlier run's, or from tests' recorded ones) and every worker
writes its own.
"""

import inspect
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.kube import Kube, condition
from e2e.timeline import Event, Timeline, image_of, is_web

FOLDER = "timelines"
STORY = re.compile(r"^\s*#\s*((?:Given|When|Then|And|But)\b.*)$")


@dataclass
class Mark:
    at: float
    line: int
    text: str
    failed: bool = False


@dataclass
class Recorder:
    """Started when a scenario's namespace is handed to it, before its first sync."""

    kube: Kube
    namespace: str
    application: str
    timeline: Timeline = field(init=False)
    marks: list[Mark] = field(default_factory=list)
    probes: list[Any] = field(default_factory=list)  # e2e.bookshop.Probe, read at the end
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.timeline = Timeline(self.kube, self.namespace, self.application)

    def start(self) -> "Recorder":
        self.timeline.__enter__()
        return self

    def stop(self) -> None:
        self.timeline.__exit__(None, None, None)

    def mark(self, line: int, text: str, *, failed: bool = False) -> None:
        with self._lock:
            self.marks.append(Mark(round(self.timeline.now(), 3), line, text[:200], failed))

    def recording(self, test: str, story: list[str], outcome: str) -> dict[str, Any]:
        wall_start = self.timeline.started_at.timestamp()
        events = compact([summary(event) for event in self.timeline.of_all()])
        probe = [
            {"at": round(at - wall_start, 3), "outcome": outcome}
            for probe in self.probes
            for at, outcome in list(probe.seen)
        ]
        return {
            "test": test,
            "namespace": self.namespace,
            "application": self.application,
            "started_at": self.timeline.started_at.isoformat(),
            "ended_s": round(self.timeline.now(), 3),
            "outcome": outcome,
            "story": story,
            "events": events,
            "probe": probe,
            "marks": [vars(mark) for mark in self.marks],
        }

    def write(self, artifacts: Path, test: str, story: list[str], outcome: str) -> Path:
        folder = artifacts / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / re.sub(r"[^\w.\[\]-]+", "_", f"{test}--{self.namespace}.json")
        path.write_text(json.dumps(self.recording(test, story, outcome), indent=1))
        return path


def story_of(function: Any) -> list[str]:
    """The Given/When/Then lines of a test (its comments), else its docstring's first line."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return []
    lines = [m.group(1) for line in source.splitlines() if (m := STORY.match(line))]
    doc = inspect.getdoc(function)
    return lines or ([doc.splitlines()[0]] if doc else [])


def read(artifacts: Path) -> list[dict[str, Any]]:
    folder = artifacts / FOLDER
    if not folder.is_dir():
        return []
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


# -- what of each object the picture needs ----------------------------------------------


def summary(event: Event) -> dict[str, Any]:
    """An event as the report draws it: kind, name, uid, and its state then."""
    base: dict[str, Any] = {
        "at": round(event.at, 3),
        "kind": event.kind,
        "name": event.name,
        "uid": event.uid,
        "type": event.type,
    }
    if event.type == "DELETED":
        return {**base, "state": "deleted"}
    obj = event.obj
    if event.kind == "Application":
        return {**base, **_operation(obj)}
    release = _release(event)
    if event.kind == "Job":
        return {**base, "state": _job_state(obj), "release": release}
    if event.kind == "Pod":
        ready = condition(obj, "Ready") is not None
        state = "terminating" if obj.metadata.deletion_timestamp else obj.status.phase
        owner = _owner(obj)  # a uid: every migration Job has the same name
        role = "web" if is_web(event) else "migration"
        return {
            **base,
            "state": state,
            "ready": ready,
            "release": release,
            "role": role,
            "owner": owner,
        }
    if event.kind == "ReplicaSet":
        ready = obj.status.ready_replicas or 0
        return {**base, "state": f"{ready}/{obj.spec.replicas or 0}", "release": release}
    return {**base, "state": "present", "release": release}


def _operation(app: dict[str, Any]) -> dict[str, Any]:
    state = (app.get("status") or {}).get("operationState") or {}
    hook = next(
        (
            r.get("hookPhase")
            for r in (state.get("syncResult") or {}).get("resources") or []
            if r.get("kind") == "Job" and r.get("hookType")
        ),
        None,
    )
    return {
        "state": state.get("phase") or "none",
        "operation": state.get("startedAt"),
        "message": (state.get("message") or "")[:200],
        "hook": hook,
        "revision": ((state.get("syncResult") or {}).get("revision") or "")[:8],
    }


def _job_state(job: Any) -> str:
    if condition(job, "Failed"):
        return "failed"
    if condition(job, "Complete"):
        return "succeeded"
    return "running" if job.status.active else "pending"


def _release(event: Event) -> str:
    try:
        return image_of(event).rpartition(":")[2]
    except (AttributeError, IndexError, TypeError):
        return ""


def _owner(obj: Any) -> str:
    owners = obj.metadata.owner_references or []
    return owners[0].uid if owners else ""


def compact(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the events that change what is drawn: the same state of the same object again
    (a status update the picture does not show) is left out."""
    last: dict[str, tuple[Any, ...]] = {}
    kept = []
    for event in events:
        key = tuple(v for k, v in event.items() if k not in ("at", "type"))
        if last.get(event["uid"]) != key:
            last[event["uid"]] = key
            kept.append(event)
    return kept
