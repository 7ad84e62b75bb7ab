"""What happened in a namespace, and when: Jobs, ReplicaSets and Pods as the watch API
reports them, stamped on arrival with millisecond precision.

Object timestamps have one-second resolution, too coarse to tell "the migration
finished, then the new ReplicaSet appeared" from the reverse; watch arrivals are not.
The watches start from a list's resourceVersion, time out and restart (a 410 re-lists),
as the kubernetes client's own docs advise.
"""

import datetime
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from e2e.argocd import GROUP, VERSION
from e2e.argocd import NAMESPACE as ARGOCD_NAMESPACE
from e2e.kube import Kube, condition, job_ended

INF = float("inf")  # a time never seen


@dataclass(frozen=True)
class Event:
    at: float  # seconds since the timeline started
    kind: str
    name: str
    type: str  # ADDED / MODIFIED / DELETED
    obj: Any

    @property
    def uid(self) -> str:
        return _metadata(self.obj)["uid"]


def _metadata(obj: Any) -> dict[str, Any]:
    """name, uid, resourceVersion of a typed object or of a custom one (a dict)."""
    if isinstance(obj, dict):
        meta = obj["metadata"]
        return {
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "version": meta.get("resourceVersion"),
        }
    meta = obj.metadata
    return {"name": meta.name, "uid": meta.uid, "version": meta.resource_version}


def _list_version(listed: Any) -> str:
    if isinstance(listed, dict):
        return listed["metadata"]["resourceVersion"]
    return listed.metadata.resource_version


def _items(listed: Any) -> list[Any]:
    return listed["items"] if isinstance(listed, dict) else listed.items


@dataclass(frozen=True)
class Lister:
    call: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


class Timeline:
    """Also the Argo CD Application `application`, if named: its operation's phases as
    they change (the report's sync lane)."""

    def __init__(self, kube: Kube, namespace: str, application: str | None = None) -> None:
        self.kube, self.namespace = kube, namespace
        self.start = time.monotonic()
        self.started_at = datetime.datetime.now(datetime.UTC)
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # The list calls themselves, not partials: the watch reads the model to return
        # from the call's docstring.
        listers: list[tuple[str, Lister]] = [
            ("Job", Lister(kube.batch.list_namespaced_job, (namespace,))),
            ("Deployment", Lister(kube.apps.list_namespaced_deployment, (namespace,))),
            ("ReplicaSet", Lister(kube.apps.list_namespaced_replica_set, (namespace,))),
            ("Pod", Lister(kube.core.list_namespaced_pod, (namespace,))),
        ]
        if application:
            applications = Lister(
                kube.custom.list_namespaced_custom_object,
                (GROUP, VERSION, ARGOCD_NAMESPACE, "applications"),
                {"field_selector": f"metadata.name={application}"},
            )
            listers.append(("Application", applications))
        self._threads = [
            threading.Thread(target=self._watch, args=(kind, lister), daemon=True)
            for kind, lister in listers
        ]

    def __enter__(self) -> "Timeline":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def now(self) -> float:
        return time.monotonic() - self.start

    def _watch(self, kind: str, lister: "Lister") -> None:
        version = ""
        while not self._stop.is_set():
            try:
                if not version:
                    listed = lister.call(*lister.args, **lister.kwargs)
                    version = _list_version(listed)
                    for obj in _items(listed):
                        self._record(kind, "ADDED", obj)
                stream = watch.Watch().stream(
                    lister.call,
                    *lister.args,
                    **lister.kwargs,
                    resource_version=version,
                    timeout_seconds=5,
                    _request_timeout=15,
                )
                for change in stream:
                    obj = change["object"]
                    version = _metadata(obj)["version"]
                    self._record(kind, change["type"], obj)
                    if self._stop.is_set():
                        break
            except ApiException as err:
                if err.status == 410:  # too old: list again from now
                    version = ""
                elif not self._stop.wait(1):
                    continue

    def _record(self, kind: str, type_: str, obj: Any) -> None:
        with self._lock:
            self.events.append(Event(self.now(), kind, _metadata(obj)["name"], type_, obj))

    def of(self, kind: str, since: float = 0.0) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.kind == kind and e.at >= since]

    def of_all(self) -> list[Event]:
        with self._lock:
            return list(self.events)

    def first(
        self, kind: str, predicate: Callable[[Event], bool], since: float = 0.0
    ) -> Event | None:
        return next((e for e in self.of(kind, since) if predicate(e)), None)

    def appeared(self, kind: str, besides: str = "") -> list[Event]:
        """The first event of each object of `kind` (but `besides`, a uid), in order."""
        seen: dict[str, Event] = {}
        for event in self.of(kind):
            if event.uid != besides:
                seen.setdefault(event.uid, event)
        return list(seen.values())

    def of_object(
        self, kind: str, uid: str, matching: Callable[[Event], bool] = lambda e: True
    ) -> Event | None:
        """The object's first event (that matches)."""
        return self.first(kind, lambda e: e.uid == uid and matching(e))


def job_finished(event: Event) -> bool:
    return job_ended(event.obj) is not None


def job_failed(event: Event) -> bool:
    return condition(event.obj, "Failed") is not None


def job_started(event: Event) -> bool:
    return event.obj.status.start_time is not None


def image_of(event: Event) -> str:
    return (
        event.obj.spec.template.spec.containers[0].image
        if event.kind != "Pod"
        else (event.obj.spec.containers[0].image)
    )


def is_web(event: Event) -> bool:
    """The app's own pods and ReplicaSets, not the migration Job's pod (also app=django)."""
    return (event.obj.metadata.labels or {}).get("component") == "web"


def web_pod(tag: str, *, ready: bool = False) -> Callable[[Event], bool]:
    """A web pod of release `tag` (that is Ready, if asked)."""

    def matches(event: Event) -> bool:
        return (
            event.kind == "Pod"
            and is_web(event)
            and image_of(event).endswith(f":{tag}")
            and (not ready or condition(event.obj, "Ready") is not None)
        )

    return matches


def migration_then_deployment(timeline: Timeline) -> tuple[float, float]:
    """When the first migration Job finished and when the Deployment was created (inf when
    not seen): a pre-install or PreSync hook must finish first."""
    job_done = timeline.first("Job", job_finished)
    created = timeline.first("Deployment", lambda e: e.type == "ADDED")
    return (job_done.at if job_done else INF), (created.at if created else INF)
